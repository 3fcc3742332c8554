/**
 * A real systemd-style notify socket for tests: an AF_UNIX SOCK_DGRAM socket bound in a temp dir
 * (the `unix-dgram` addon; Node's dgram has none), collecting every datagram the agent sends, as
 * systemd's manager would receive it. Each datagram is kept with its arrival time and parsed into
 * KEY=VALUE pairs.
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { tempDir } from '../helpers/agent-process.js';

interface DgramServer {
  on(event: 'message', listener: (msg: Buffer) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  bind(path: string): void;
  close(): void;
}

export interface Datagram {
  at: number;
  text: string;
  fields: Record<string, string>;
}

export class NotifySocket extends EventEmitter {
  readonly path: string;
  readonly received: Datagram[] = [];
  private readonly sock: DgramServer;

  /** Bound at `path` (default: notify.sock in a new temp dir). */
  constructor(path?: string) {
    super();
    this.path = path ?? join(tempDir('gridedge-notify-'), 'notify.sock');
    const mod = createRequire(import.meta.url)('unix-dgram') as { createSocket(type: 'unix_dgram'): DgramServer };
    this.sock = mod.createSocket('unix_dgram');
    this.sock.on('error', (err) => this.emit('error', err));
    this.sock.on('message', (msg) => {
      const text = msg.toString('utf8');
      const fields: Record<string, string> = {};
      for (const line of text.split('\n')) {
        const eq = line.indexOf('=');
        if (eq > 0) fields[line.slice(0, eq)] = line.slice(eq + 1);
      }
      const d = { at: Date.now(), text, fields };
      this.received.push(d);
      this.emit('datagram', d);
    });
    this.sock.bind(this.path);
  }

  /** Datagrams carrying KEY (e.g. WATCHDOG), optionally with this value. */
  with(key: string, value?: string): Datagram[] {
    return this.received.filter((d) => key in d.fields && (value === undefined || d.fields[key] === value));
  }

  close(): void {
    this.sock.close();
  }
}
