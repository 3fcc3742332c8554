/**
 * Runs the real agent as a child process (the compiled CLI, `gridedge run --config FILE`) with a
 * temporary config and a temporary storage dir, and gives tests its addresses, its log lines and its
 * exit code. The agent binds port 0 for MQTT and HTTP (the kernel picks free ports, no race with
 * other tests); the bound ports are read from its "gridedge ready" log line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withTimeout } from './wait.js';

export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

export const cliPath = (): string => join(repoRoot(), 'agent', 'cli', 'gridedge.js');

export function tempDir(prefix = 'gridedge-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export type LogLine = Record<string, unknown> & { msg?: string; level?: string };

export interface AgentProcess {
  child: ChildProcess;
  dir: string;
  configFile: string;
  /** The bound ports and their URLs (read from "gridedge ready"; reading them before it throws). */
  readonly mqttPort: number;
  readonly httpPort: number;
  readonly mqttUrl: string;
  readonly httpUrl: string;
  logs: LogLine[];
  stderr: () => string;
  /**
   * Resolves with the first log line matching (also one logged earlier); rejects when the agent
   * exits first, or after `timeoutMs` (default 30 s), naming `what`.
   */
  waitForLog(pred: (l: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine>;
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartOptions {
  /** Config overrides merged over the test defaults (no drivers, no forwarders). */
  config?: Record<string, unknown>;
  dir?: string;
  env?: NodeJS.ProcessEnv;
  /** Do not wait for "gridedge ready" (the ports are then unknown until it is logged). */
  noWait?: boolean;
  /** How long to wait for "gridedge ready" (default 30 s). */
  readyTimeoutMs?: number;
}

/**
 * Start `gridedge run --config <tmp>/gridedge.json` with MQTT and HTTP on 127.0.0.1 port 0 (unless
 * `config` sets them); resolves once it logged "gridedge ready".
 */
export async function startAgent(opts: StartOptions = {}): Promise<AgentProcess> {
  const dir = opts.dir ?? tempDir();
  const base: Record<string, unknown> = {
    gateway: { id: 'gw-test' },
    log: { level: 'info' },
    mqtt: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    storage: { dir: join(dir, 'data') },
    drivers: [],
    forwarders: [],
  };
  const cfg = { ...base, ...(opts.config ?? {}) };
  for (const k of ['mqtt', 'http', 'storage'] as const) {
    if (opts.config?.[k]) cfg[k] = { ...(base[k] as object), ...(opts.config[k] as object) };
  }
  const configFile = join(dir, 'gridedge.json');
  writeFileSync(configFile, JSON.stringify(cfg, null, 2));
  return spawnAgent(['run', '--config', configFile], { dir, configFile, env: opts.env, noWait: opts.noWait, readyTimeoutMs: opts.readyTimeoutMs });
}

/** The bound address of "gridedge ready"'s `mqtt` or `http` field. */
function boundPort(ready: LogLine, key: 'mqtt' | 'http'): number {
  const addr = ready[key] as { port?: unknown } | undefined;
  if (typeof addr?.port !== 'number' || addr.port <= 0) throw new Error(`"gridedge ready" has no bound ${key} port: ${JSON.stringify(ready)}`);
  return addr.port;
}

/**
 * Spawn the CLI with `args` in `dir`. Unless `noWait`, resolves once the agent logged "gridedge
 * ready" (rejects if it exits first or after `readyTimeoutMs`, default 30 s). For `gridedge run`
 * without a config file, pass GRIDEDGE_MQTT_PORT=0 and GRIDEDGE_HTTP_PORT=0 in `env`.
 */
export async function spawnAgent(
  args: string[],
  o: { dir: string; configFile: string; env?: NodeJS.ProcessEnv; noWait?: boolean; readyTimeoutMs?: number },
): Promise<AgentProcess> {
  // GRIDEDGE_AGENT_NODE_ARGS: extra Node options for the agent (e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`
  // to profile it under a bench; Node refuses --cpu-prof in NODE_OPTIONS).
  const nodeArgs = (process.env['GRIDEDGE_AGENT_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, cliPath(), ...args], {
    cwd: o.dir,
    env: { ...process.env, GRIDEDGE_CONFIG: '', ...(o.env ?? {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  const waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  let buf = '';
  let err = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        parsed = { msg: line, level: 'raw' };
      }
      logs.push(parsed);
      for (let k = waiters.length - 1; k >= 0; k--) {
        if (waiters[k]!.pred(parsed)) {
          waiters[k]!.resolve(parsed);
          waiters.splice(k, 1);
        }
      }
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const waitForLog = (pred: (l: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine> => {
    const found = logs.find(pred);
    if (found) return Promise.resolve(found);
    const seen = new Promise<LogLine>((resolve, reject) => {
      waiters.push({ pred, resolve });
      void exited.then(({ code, signal }) =>
        reject(new Error(`agent exited (code ${code}, signal ${signal}) before logging ${what}; stderr: ${err.slice(-2000)}`)),
      );
    });
    return withTimeout(seen, `the agent to log ${what}`, timeoutMs);
  };
  let ports: { mqtt: number; http: number } | null = null;
  const bound = (): { mqtt: number; http: number } => {
    if (ports) return ports;
    const ready = logs.find((l) => l.msg === 'gridedge ready');
    if (!ready) throw new Error('the agent has not logged "gridedge ready" yet: its ports are not known');
    ports = { mqtt: boundPort(ready, 'mqtt'), http: boundPort(ready, 'http') };
    return ports;
  };
  const p: AgentProcess = {
    child,
    dir: o.dir,
    configFile: o.configFile,
    get mqttPort() {
      return bound().mqtt;
    },
    get httpPort() {
      return bound().http;
    },
    get mqttUrl() {
      return `mqtt://127.0.0.1:${bound().mqtt}`;
    },
    get httpUrl() {
      return `http://127.0.0.1:${bound().http}`;
    },
    logs,
    stderr: () => err,
    waitForLog,
    exited,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  if (!o.noWait) {
    try {
      await waitForLog((l) => l.msg === 'gridedge ready', '"gridedge ready"', o.readyTimeoutMs);
      bound();
    } catch (e) {
      child.kill('SIGKILL');
      throw e;
    }
  }
  return p;
}

/** GET a JSON document from the agent's HTTP server. */
export async function getJson<T = Record<string, unknown>>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

/**
 * SIGHUP the agent and wait for that reload's outcome: its "config reloaded" or "config reload
 * refused; ..." line, which is returned. `label` names the reload in a timeout's message.
 */
export async function reloadAgent(agent: AgentProcess, label: string): Promise<LogLine> {
  const done = (l: { msg?: unknown }): boolean => l.msg === 'config reloaded' || l.msg === 'config reload refused; the running config is kept';
  const have = agent.logs.filter(done).length;
  agent.child.kill('SIGHUP');
  await agent.waitForLog(() => agent.logs.filter(done).length > have, `${label} done`);
  return agent.logs.filter(done).at(-1)!;
}
