/**
 * Helpers of the slow packaging suite: the .deb files made by prepare.sh, a fresh clean Debian root
 * per test (clean-root.sh unpacks the cached debootstrap tarball into a temp dir, /proc mounted),
 * and commands run in it with chroot. Everything runs as root; `skipUnlessRoot` says why not.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, tempDir } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/wait.js';

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command; resolves with its exit code and output (never rejects on a non-zero exit). */
export function sh(cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(cmd, [...args], { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 127) : 0, stdout: String(stdout), stderr: String(stderr) + (e && typeof e.code !== 'number' ? e.message : '') });
    });
  });
}

/** Why the suite cannot run here (null: it can). */
export function skipReason(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (chroot, dpkg -i into a clean root)';
  return null;
}

export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/** The .deb prepare.sh built for `arch` (throws naming the missing file). */
export function debFile(arch: 'amd64' | 'arm64'): string {
  const dir = join(repoRoot(), 'dist', 'deb-test');
  const found = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(`_${arch}.deb`)) : [];
  if (found.length !== 1) throw new Error(`no ${arch} package in ${dir}: run test/packaging/prepare.sh (npm run test:packaging does)`);
  return join(dir, found[0]!);
}

export interface CleanRoot {
  dir: string;
  /** Run a command inside the root (chroot), with a plain PATH and no GRIDEDGE_* variables. */
  run(args: readonly string[], opts?: { env?: Record<string, string>; user?: string; timeoutMs?: number }): Promise<Ran>;
  path(p: string): string;
  destroy(): Promise<void>;
}

/** A fresh Debian 13 root for `arch` (nodejs 20, systemd installed; nothing of gridedge). */
export async function cleanRoot(arch: 'amd64' | 'arm64'): Promise<CleanRoot> {
  const dir = join(tempDir('gridedge-root-'), 'root');
  const made = await sh('bash', [join(repoRoot(), 'test', 'packaging', 'clean-root.sh'), arch, dir], { timeoutMs: 600_000 });
  if (made.code !== 0) throw new Error(`clean-root.sh ${arch} failed: ${made.stderr}`);
  const mounted = await sh('mount', ['-t', 'proc', 'proc', join(dir, 'proc')]);
  if (mounted.code !== 0) throw new Error(`mount proc in ${dir}: ${mounted.stderr}`);
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive' };
  return {
    dir,
    path: (p) => join(dir, p),
    run: (args, opts = {}) =>
      sh('chroot', [...(opts.user ? [`--userspec=${opts.user}`] : []), dir, ...args], { env: { ...env, ...(opts.env ?? {}) }, timeoutMs: opts.timeoutMs }),
    async destroy() {
      await sh('umount', ['-l', join(dir, 'proc')]);
      rmSync(join(dir, '..'), { recursive: true, force: true });
    },
  };
}

/** Every path in the root, except what dpkg, apt and logs change on their own, and /run (a tmpfs on a running system). */
export async function fileList(root: CleanRoot): Promise<Set<string>> {
  const r = await root.run(['find', '/', '-xdev', '(', '-path', '/proc', '-o', '-path', '/var/lib/dpkg', '-o', '-path', '/var/log', '-o', '-path', '/var/cache', '-o', '-path', '/tmp', '-o', '-path', '/run', ')', '-prune', '-o', '-print']);
  if (r.code !== 0) throw new Error(`find in the root failed: ${r.stderr}`);
  return new Set(r.stdout.split('\n').filter(Boolean));
}

export interface RootAgent {
  logs: { msg?: string; code?: number; http?: { port: number } }[];
  /** Resolves with the HTTP base URL once "gridedge ready" was logged; rejects if it exits first or after `timeoutMs`. */
  ready(timeoutMs: number): Promise<string>;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
  output(): string;
}

/**
 * `gridedge run --config /etc/gridedge/gridedge.yaml` inside the root as the gridedge user, MQTT and
 * HTTP on port 0 (the root shares the host's network), its JSON log lines collected.
 */
export function runAgentInRoot(root: CleanRoot, env: Record<string, string> = {}): RootAgent {
  const child = spawn('/usr/sbin/chroot', ['--userspec=gridedge:gridedge', root.dir, 'gridedge', 'run', '--config', '/etc/gridedge/gridedge.yaml'], {
    env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8', GRIDEDGE_MQTT_PORT: '0', GRIDEDGE_HTTP_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: RootAgent['logs'] = [];
  let out = '';
  let buf = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        logs.push(JSON.parse(line) as RootAgent['logs'][number]);
      } catch {
        // not a log line
      }
      child.emit('logline');
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let code: number | null | undefined;
  void exited.then((c) => (code = c));
  return {
    logs,
    output: () => out.slice(-3000),
    ready: (timeoutMs) =>
      waitFor('"gridedge ready" from the agent in the root', () => {
        if (code !== undefined) throw new Error(`the agent exited (${code}) before it was ready: ${out.slice(-3000)}`);
        const r = logs.find((l) => l.msg === 'gridedge ready');
        return r && `http://127.0.0.1:${r.http!.port}`;
      }, { on: [[child, 'logline'], [child, 'exit']], timeoutMs }),
    async stop() {
      if (code === undefined) child.kill('SIGTERM');
      return exited;
    },
  };
}
