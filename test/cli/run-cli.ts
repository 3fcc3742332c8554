/** Runs the real compiled CLI (`node agent/cli/gridedge.js ...`) as a child process. */
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { INSTALLED_CONFIG_TEST_VAR } from '../../agent/cli/endpoints.js';
import { cliPath, repoRoot } from '../helpers/agent-process.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A path that never exists: the CLI's installed config in tests (INSTALLED_CONFIG_TEST_VAR). */
export const NO_INSTALLED_CONFIG = '/nonexistent/gridedge-test/gridedge.yaml';

/**
 * The environment without any GRIDEDGE_* or colour variable of the machine running the tests, and
 * with the CLI's installed config (/etc/gridedge/gridedge.yaml) pointed at a path that does not
 * exist, so that a gridedge installed on that machine changes no test.
 */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GRIDEDGE_') && k !== 'FORCE_COLOR' && k !== 'NO_COLOR') env[k] = v;
  env[INSTALLED_CONFIG_TEST_VAR] = NO_INSTALLED_CONFIG;
  return env;
}

export interface CliProcess {
  result: Promise<CliResult>;
  /** How the process ended: its exit code, or the signal that ended it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything written to stdout so far. */
  stdout(): string;
  kill(signal?: NodeJS.Signals): void;
}

export interface CliOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to the command's standard input, which is then closed (none: no standard input). */
  input?: string;
}

export function startCli(args: readonly string[], opts: CliOptions = {}): CliProcess {
  const child = spawn(process.execPath, [cliPath(), ...args], {
    cwd: opts.cwd ?? repoRoot(),
    env: { ...cleanEnv(), ...(opts.env ?? {}) },
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (opts.input !== undefined) child.stdin!.end(opts.input);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  // A safety net only: no test relies on it.
  const guard = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal });
    }),
  );
  const result = exited.then(({ code }) => ({ code, stdout, stderr }));
  return { result, exited, stdout: () => stdout, kill: (s = 'SIGTERM') => void child.kill(s) };
}

export function runCli(args: readonly string[], opts: CliOptions = {}): Promise<CliResult> {
  return startCli(args, opts).result;
}

/** A small real HTTP server answering every request with `handler`. */
export async function httpServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; port: number; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');

/**
 * A peer that accepts TCP connections and never answers (an agent or device that hangs): `connected`
 * resolves at the first connection, so a test knows the command is waiting on it.
 */
export async function silentServer(): Promise<{ port: number; connected: Promise<void>; received: () => string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let received = '';
  let onConnect!: () => void;
  const connected = new Promise<void>((resolve) => (onConnect = resolve));
  const server = createTcpServer((sock) => {
    sockets.add(sock);
    sock.on('data', (d) => (received += d.toString('latin1')));
    sock.on('error', () => undefined);
    sock.on('close', () => sockets.delete(sock));
    onConnect();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connected,
    received: () => received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
