/**
 * Debian's `mosquitto` as a real upstream broker for tests: a config file in a temp dir, optional
 * TLS (CA, server certificate, client certificates required), users made with `mosquitto_passwd -b`,
 * an ACL file, persistence. `stop()` (SIGTERM, then SIGKILL after 5 s) belongs in the test's teardown.
 *
 * Ports: mosquitto cannot bind port 0 and say which port it got, so its listeners get ports claimed
 * with `claimPort` (test/helpers/ports.ts: outside the kernel's ephemeral range, one test process
 * per port). If mosquitto still cannot bind one ("Address already in use": a process outside the
 * suite took it), it is started again on newly claimed ports, up to 5 times. A caller that passes
 * `port` (a restart of the same upstream) gets that port or an error.
 * `startMosquitto` resolves once mosquitto logged that it is running (every listener bound) and
 * its main listener accepts a TCP connection.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accepts, claimPort } from './ports.js';
import { waitFor } from './wait.js';

export interface MosquittoTls {
  cafile: string;
  certfile: string;
  keyfile: string;
  /** Require a client certificate signed by `cafile`. */
  requireCertificate?: boolean;
}

export interface MosquittoOptions {
  /** Reuse a port (restart the "same" upstream, or one from `claimPort`); default: a claimed one. */
  port?: number;
  tls?: MosquittoTls;
  /** A second, plain listener (for test subscribers when the main one is TLS). */
  plainPort?: number | true;
  /** An MQTT-over-WebSocket listener (path "/"; wss with the `tls` certificates when `tls` is set). */
  websocketPort?: number | true;
  /** How long to wait for mosquitto to run (default 15 s). */
  startTimeoutMs?: number;
  /** Where listener ports come from (default `claimPort`); the helper's own test hands out a taken one. */
  pickPort?: () => Promise<number>;
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
  /** `max_inflight_messages`: QoS 1 messages sent to a client before its PUBACKs (default 0, no limit; mosquitto's own default is 20). */
  maxInflight?: number;
  /** Log every packet (`log_type debug`: "Received PUBACK from CLIENT (Mid: N, RC:0)", ...). */
  debugLog?: boolean;
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
  /**
   * Resolves once the broker's log matches `pattern` (also text logged earlier); rejects after
   * `timeoutMs` (default 30 s) naming `what`. Subscriptions are logged as "CLIENT-ID QOS FILTER".
   */
  waitForLog(pattern: RegExp, what: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

const ATTEMPTS = 5;
const IN_USE = /Address already in use/;

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<Mosquitto> {
  for (let attempt = 1; ; attempt++) {
    const pick = opts.pickPort ?? claimPort;
    const port = opts.port ?? (await pick());
    const plainPort = opts.plainPort === true ? await pick() : opts.plainPort;
    const wsPort = opts.websocketPort === true ? await pick() : opts.websocketPort;
    try {
      return await startOnce(opts, port, plainPort, wsPort);
    } catch (err) {
      const chosenHere = opts.port === undefined || opts.plainPort === true || opts.websocketPort === true;
      if (!(err instanceof PortInUse) || !chosenHere || attempt >= ATTEMPTS) throw err;
    }
  }
}

class PortInUse extends Error {}

async function startOnce(opts: MosquittoOptions, port: number, plainPort: number | undefined, wsPort: number | undefined): Promise<Mosquitto> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'gridedge-mosquitto-'));
  const lines = [
    'user root', // we run as root in CI: do not drop to the mosquitto user (it cannot read our temp dir)
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    'log_type subscribe',
    'connection_messages true',
    'per_listener_settings false',
    'max_queued_messages 0',
    `max_inflight_messages ${opts.maxInflight ?? 0}`,
  ];
  if (opts.debugLog) lines.push('log_type debug');
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
  // 'close': the process ended and its stderr is read to the end (the bind error is in `log`).
  const exitP = new Promise<void>((resolve) =>
    child.once('close', () => {
      exited = true;
      running.delete(child);
      resolve();
    }),
  );
  const ports = [port, plainPort, wsPort].filter((p) => p).join(', ');
  try {
    await waitFor(
      `mosquitto to run on port ${ports}`,
      () => {
        if (exited) throw new (IN_USE.test(log) ? PortInUse : Error)(`mosquitto exited at start (ports ${ports}):\n${log}`);
        return /mosquitto version \S+ running/.test(log);
      },
      { on: [[child, 'close'], [child.stderr!, 'data']], timeoutMs: opts.startTimeoutMs ?? 15_000, detail: () => `log so far:\n${log}` },
    );
    if (!(await accepts(port))) throw new Error(`mosquitto runs but port ${port} refuses connections:\n${log}`);
  } catch (err) {
    child.kill('SIGKILL');
    await exitP;
    if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const scheme = opts.tls ? 'mqtts' : 'mqtt';
  return {
    port,
    websocketPort: wsPort ?? 0,
    plainPort: plainPort ?? port,
    url: `${scheme}://127.0.0.1:${port}`,
    dir,
    log: () => log,
    async waitForLog(pattern, what, timeoutMs) {
      await waitFor(`mosquitto to log ${what}`, () => pattern.test(log), {
        on: [[child.stderr!, 'data']],
        timeoutMs,
        detail: () => `log tail:\n${log.slice(-2000)}`,
      });
    },
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
