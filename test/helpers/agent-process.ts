/**
 * Runs the real agent as a child process (the compiled CLI, `gridedge run --config FILE`) with a
 * temporary config on free ports and a temporary storage dir, and gives tests its addresses, its
 * log lines and its exit code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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

/** A port that was free a moment ago (bind 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export function tempDir(prefix = 'gridedge-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export type LogLine = Record<string, unknown> & { msg?: string; level?: string };

export interface AgentProcess {
  child: ChildProcess;
  dir: string;
  configFile: string;
  mqttPort: number;
  httpPort: number;
  mqttUrl: string;
  httpUrl: string;
  logs: LogLine[];
  stderr: () => string;
  /** Resolves with the first log line matching. */
  waitForLog(pred: (l: LogLine) => boolean, what: string): Promise<LogLine>;
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartOptions {
  /** Config overrides merged over the test defaults (no drivers, no forwarders). */
  config?: Record<string, unknown>;
  dir?: string;
  env?: NodeJS.ProcessEnv;
  /** Do not wait for "gridedge ready". */
  noWait?: boolean;
}

/** Start `gridedge run --config <tmp>/gridedge.json`; resolves once it logged "gridedge ready". */
export async function startAgent(opts: StartOptions = {}): Promise<AgentProcess> {
  const dir = opts.dir ?? tempDir();
  const mqttPort = await freePort();
  const httpPort = await freePort();
  const base: Record<string, unknown> = {
    gateway: { id: 'gw-test' },
    log: { level: 'info' },
    mqtt: { host: '127.0.0.1', port: mqttPort },
    http: { host: '127.0.0.1', port: httpPort },
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
  return spawnAgent(['run', '--config', configFile], { dir, configFile, mqttPort, httpPort, env: opts.env, noWait: opts.noWait });
}

export async function spawnAgent(
  args: string[],
  o: { dir: string; configFile: string; mqttPort: number; httpPort: number; env?: NodeJS.ProcessEnv; noWait?: boolean },
): Promise<AgentProcess> {
  const child = spawn(process.execPath, [cliPath(), ...args], {
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
  const waitForLog = (pred: (l: LogLine) => boolean, what: string): Promise<LogLine> => {
    const found = logs.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      waiters.push({ pred, resolve });
      void exited.then(({ code, signal }) =>
        reject(new Error(`agent exited (code ${code}, signal ${signal}) before logging ${what}; stderr: ${err.slice(-2000)}`)),
      );
    });
  };
  const p: AgentProcess = {
    child,
    dir: o.dir,
    configFile: o.configFile,
    mqttPort: o.mqttPort,
    httpPort: o.httpPort,
    mqttUrl: `mqtt://127.0.0.1:${o.mqttPort}`,
    httpUrl: `http://127.0.0.1:${o.httpPort}`,
    logs,
    stderr: () => err,
    waitForLog,
    exited,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  if (!o.noWait) await waitForLog((l) => l.msg === 'gridedge ready', '"gridedge ready"');
  return p;
}

/** GET a JSON document from the agent's HTTP server. */
export async function getJson<T = Record<string, unknown>>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}
