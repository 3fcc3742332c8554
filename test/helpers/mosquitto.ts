/**
 * Debian's `mosquitto` as a real upstream broker for tests: a config file in a temp dir, a free
 * port, optional TLS (CA, server certificate, client certificates required), users made with
 * `mosquitto_passwd -b`, an ACL file, persistence. `startMosquitto` resolves once the broker accepts
 * TCP connections; `stop()` (SIGTERM, then SIGKILL) belongs in the test's teardown.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './agent-process.js';

export { freePort };

export interface MosquittoTls {
  cafile: string;
  certfile: string;
  keyfile: string;
  /** Require a client certificate signed by `cafile`. */
  requireCertificate?: boolean;
}

export interface MosquittoOptions {
  /** Reuse a port (restart the "same" upstream); default: a free one. */
  port?: number;
  tls?: MosquittoTls;
  /** A second, plain listener (for test subscribers when the main one is TLS). */
  plainPort?: number | true;
  /** An MQTT-over-WebSocket listener (path "/"; wss with the `tls` certificates when `tls` is set). */
  websocketPort?: number | true;
  /** username → password, written with `mosquitto_passwd -b`; anonymous clients are then refused. */
  users?: Record<string, string>;
  /** ACL file text (mosquitto's `acl_file` format). */
  acl?: string;
  /** Keep sessions and queued messages across restarts (in `dir`). */
  persistence?: boolean;
  /** Reuse a directory (with persistence: the saved state of an earlier run). */
  dir?: string;
  /** mosquitto's `set_tcp_nodelay` (default false: small writes such as PUBACKs wait for Nagle). */
  tcpNoDelay?: boolean;
}

export interface Mosquitto {
  port: number;
  /** The WebSocket listener's port (0 when none). */
  websocketPort: number;
  /** The plain listener's port (when asked for), else `port`. */
  plainPort: number;
  url: string;
  dir: string;
  /** What the broker logged so far. */
  log(): string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});


function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<Mosquitto> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'gridedge-mosquitto-'));
  const port = opts.port ?? (await freePort());
  const plainPort = opts.plainPort === true ? await freePort() : opts.plainPort;
  const wsPort = opts.websocketPort === true ? await freePort() : opts.websocketPort;
  const lines = [
    'user root', // we run as root in CI: do not drop to the mosquitto user (it cannot read our temp dir)
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    'connection_messages true',
    'per_listener_settings false',
    'max_queued_messages 0',
    'max_inflight_messages 0',
  ];
  if (opts.tcpNoDelay) lines.push('set_tcp_nodelay true');
  if (opts.persistence) lines.push('persistence true', `persistence_location ${dir}/`, 'autosave_interval 0');
  if (opts.users) {
    const file = join(dir, 'passwd');
    writeFileSync(file, '');
    for (const [u, p] of Object.entries(opts.users)) execFileSync('mosquitto_passwd', ['-b', file, u, p]);
    lines.push(`password_file ${file}`, 'allow_anonymous false');
  } else lines.push('allow_anonymous true');
  if (opts.acl !== undefined) {
    writeFileSync(join(dir, 'acl'), opts.acl);
    lines.push(`acl_file ${join(dir, 'acl')}`);
  }
  lines.push(`listener ${port} 127.0.0.1`);
  if (opts.tls) {
    lines.push(`cafile ${opts.tls.cafile}`, `certfile ${opts.tls.certfile}`, `keyfile ${opts.tls.keyfile}`);
    if (opts.tls.requireCertificate) lines.push('require_certificate true');
  }
  if (plainPort) lines.push(`listener ${plainPort} 127.0.0.1`);
  if (wsPort) {
    lines.push(`listener ${wsPort} 127.0.0.1`, 'protocol websockets');
    // With `tls`, the WebSocket listener uses the same certificates (wss://).
    if (opts.tls) lines.push(`cafile ${opts.tls.cafile}`, `certfile ${opts.tls.certfile}`, `keyfile ${opts.tls.keyfile}`);
  }
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, lines.join('\n') + '\n');

  const child = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let log = '';
  child.stderr!.on('data', (d: Buffer) => {
    log = (log + d.toString()).slice(-200_000);
  });
  let exited = false;
  const exitP = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      running.delete(child);
      resolve();
    }),
  );
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (exited) throw new Error(`mosquitto exited at start (port ${port}):\n${log}`);
    if ((await canConnect(port)) && (!plainPort || (await canConnect(plainPort))) && (!wsPort || (await canConnect(wsPort)))) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`mosquitto did not accept connections on ${port} within 15 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const scheme = opts.tls ? 'mqtts' : 'mqtt';
  return {
    port,
    websocketPort: wsPort ?? 0,
    plainPort: plainPort ?? port,
    url: `${scheme}://127.0.0.1:${port}`,
    dir,
    log: () => log,
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exitP;
        clearTimeout(t);
      }
      if (!opts.dir && !opts.persistence) rmSync(dir, { recursive: true, force: true });
    },
  };
}
