/**
 * Log priorities for journald: the real agent process with its stdout (and stderr) connected to a
 * Unix stream socket the test listens on, as systemd connects a service to journald's socket, and
 * JOURNAL_STREAM set to that socket's device:inode. Every line then starts with the `<N>` syslog
 * priority of its level (journald strips it and stores PRIORITY=N); without JOURNAL_STREAM, or with
 * one naming another file, stdout stays plain JSON lines.
 */
import { spawn } from 'node:child_process';
import { fstatSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { cliPath, startAgent, tempDir } from '../helpers/agent-process.js';
import { withTimeout } from '../helpers/wait.js';
import { cleanEnv } from '../cli/run-cli.js';

/** A journald-like stream socket: the child writes to `client` (its fd duplicated into the child); the test reads every line. */
async function journalSocket(t: Test): Promise<{
  client: Socket;
  /** `<device>:<inode>` of the client end, as systemd sets JOURNAL_STREAM. */
  journalStream: string;
  lines: string[];
  waitForLine(pred: (l: string) => boolean, what: string): Promise<string>;
  /** Resolves once every writer closed the stream (the child exited and the test's copy is closed). */
  ended: Promise<void>;
}> {
  const path = join(tempDir('gridedge-journal-'), 'stdout.sock');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(path, resolve));
  t.teardown(() => server.close());
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const client = connect(path);
  await new Promise<void>((resolve, reject) => client.once('connect', resolve).once('error', reject));
  const peer = await withTimeout(accepted, 'the journal socket to accept the connection');
  const lines: string[] = [];
  const waiters: { pred: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  let buf = '';
  peer.setEncoding('utf8');
  peer.on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      lines.push(line);
      for (let k = waiters.length - 1; k >= 0; k--)
        if (waiters[k]!.pred(line)) {
          waiters[k]!.resolve(line);
          waiters.splice(k, 1);
        }
    }
  });
  const ended = new Promise<void>((resolve) => peer.once('end', resolve));
  const fd = (client as unknown as { _handle: { fd: number } })._handle.fd;
  const st = fstatSync(fd, { bigint: true });
  return {
    client,
    journalStream: `${st.dev}:${st.ino}`,
    lines,
    waitForLine: (pred, what) => {
      const found = lines.find(pred);
      if (found !== undefined) return Promise.resolve(found);
      return withTimeout(new Promise<string>((resolve) => waiters.push({ pred, resolve })), `a journal line: ${what}`);
    },
    ended,
  };
}

const PRIORITY: Record<string, number> = { fatal: 2, error: 3, warn: 4, info: 6, debug: 7, trace: 7 };

/** `<N>{json}` → N and the parsed line; throws naming the line when it has no prefix. */
function parsePrefixed(line: string): { priority: number; log: { level: string; msg: string } } {
  const m = /^<(\d)>(\{.*\})$/.exec(line);
  if (!m) throw new Error(`not a <N>-prefixed JSON line: ${line}`);
  return { priority: Number(m[1]), log: JSON.parse(m[2]!) as { level: string; msg: string } };
}

function configFile(dir: string, over: Record<string, unknown> = {}): string {
  const file = join(dir, 'gridedge.json');
  const cfg = {
    gateway: { id: 'gw-test' },
    log: { level: 'debug' },
    mqtt: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    storage: { dir: join(dir, 'data') },
    drivers: [],
    forwarders: [],
    ...over,
  };
  writeFileSync(file, JSON.stringify(cfg, null, 2));
  return file;
}

/** `gridedge run --config FILE` with stdout (and, with `stderr`, stderr) on the socket. */
function runOnJournal(j: Awaited<ReturnType<typeof journalSocket>>, file: string, env: NodeJS.ProcessEnv, stderr = false) {
  const child = spawn(process.execPath, [cliPath(), 'run', '--config', file], {
    env: { ...cleanEnv(), ...env },
    stdio: ['ignore', j.client, stderr ? j.client : 'pipe'],
  });
  // The child holds its own copy of the socket: once it exits, the test's reader sees the end.
  j.client.destroy();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited };
}

t.test('stdout is the journal stream: each line starts with its syslog priority (info 6, warn 4, error 3, debug 7)', async (t) => {
  const j = await journalSocket(t);
  const dir = tempDir();
  const file = configFile(dir);
  // An abstract NOTIFY_SOCKET is refused with a warning: a warn line at every start.
  const { child, exited } = runOnJournal(j, file, { JOURNAL_STREAM: j.journalStream, NOTIFY_SOCKET: '@gridedge-journal-test' });
  t.teardown(() => void child.kill('SIGKILL'));

  const ready = parsePrefixed(await j.waitForLine((l) => l.includes('"msg":"gridedge ready"'), 'gridedge ready'));
  t.equal(ready.priority, 6, 'info → <6>');
  const warn = parsePrefixed(await j.waitForLine((l) => l.includes('abstract NOTIFY_SOCKET'), 'the NOTIFY_SOCKET warning'));
  t.equal(warn.log.level, 'warn');
  t.equal(warn.priority, 4, 'warn → <4>');

  // An invalid config on SIGHUP: refused with an error line.
  writeFileSync(file, JSON.stringify({ mqtt: { port: 'not a port' } }));
  child.kill('SIGHUP');
  const refused = parsePrefixed(await j.waitForLine((l) => l.includes('config reload refused'), 'the reload refusal'));
  t.equal(refused.log.level, 'error');
  t.equal(refused.priority, 3, 'error → <3>');

  child.kill('SIGTERM');
  t.equal(await withTimeout(exited, 'the agent to exit after SIGTERM'), 0);
  await withTimeout(j.ended, 'the end of the journal stream');
  const all = j.lines.map(parsePrefixed);
  t.ok(all.some((l) => l.log.level === 'debug' && l.priority === 7), 'debug → <7> (the stop steps)');
  t.ok(all.some((l) => l.log.msg === 'gridedge stopped' && l.priority === 6));
  t.same(
    all.filter((l) => l.priority !== PRIORITY[l.log.level]).map((l) => `<${l.priority}> ${l.log.level} ${l.log.msg}`),
    [],
    'every line carries the priority of its level',
  );
});

t.test('a failed start is logged at <2> (fatal); an invalid config on stderr at <3>', async (t) => {
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  t.teardown(() => busy.close());
  const j = await journalSocket(t);
  const dir = tempDir();
  const file = configFile(dir, { http: { host: '127.0.0.1', port: (busy.address() as AddressInfo).port } });
  const { exited } = runOnJournal(j, file, { JOURNAL_STREAM: j.journalStream });
  t.equal(await withTimeout(exited, 'the agent to exit on a port in use'), 2);
  await withTimeout(j.ended, 'the end of the journal stream');
  const fatal = j.lines.map(parsePrefixed).find((l) => l.log.msg === 'gridedge failed to start');
  t.equal(fatal?.log.level, 'fatal');
  t.equal(fatal?.priority, 2, 'fatal → <2>');

  // stderr on the journal too (systemd's default): the config problems are errors.
  const j2 = await journalSocket(t);
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ mqtt: { port: 'not a port' } }));
  const second = runOnJournal(j2, bad, { JOURNAL_STREAM: j2.journalStream }, true);
  t.equal(await withTimeout(second.exited, 'the agent to refuse the invalid config'), 1);
  await withTimeout(j2.ended, 'the end of the journal stream');
  t.match(j2.lines[0], /^<3>gridedge run: the config .*bad\.json is invalid; the agent does not start:$/);
  t.ok(j2.lines.length >= 2, 'the problems follow');
  t.same(j2.lines.filter((l) => !l.startsWith('<3>')), [], 'every stderr line at <3>');
  t.match(j2.lines.join('\n'), /mqtt\.port/);
});

t.test('stdout not the journal: plain JSON lines, also with a JOURNAL_STREAM naming another file', async (t) => {
  const other = join(tempDir(), 'elsewhere.log');
  writeFileSync(other, '');
  const st = statSync(other, { bigint: true });
  for (const env of [{}, { JOURNAL_STREAM: `${st.dev}:${st.ino}` }, { JOURNAL_STREAM: 'garbage' }]) {
    const agent = await startAgent({ env });
    const exit = await agent.stop('SIGTERM');
    t.equal(exit.code, 0);
    // 'exit' may come before the last output: wait for the end of stdout.
    if (!agent.child.stdout!.closed) await withTimeout(once(agent.child.stdout!, 'close'), 'the end of the agent\'s stdout');
    t.ok(agent.logs.some((l) => l.msg === 'gridedge stopped'), 'the whole run was read');
    t.same(
      agent.logs.filter((l) => l.level === 'raw').map((l) => l.msg),
      [],
      `every line is plain JSON (JOURNAL_STREAM ${JSON.stringify((env as { JOURNAL_STREAM?: string }).JOURNAL_STREAM ?? null)})`,
    );
  }
});
