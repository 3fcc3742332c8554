/**
 * test/run-tests.mjs cannot report green for a red suite: failing assertions are counted, a file
 * that exits non-zero without any TAP counts as a failure, the exit code follows, and the last line
 * is always "N passed, N failed". The files it runs are in runner-fixtures/ (not *.test.js, so the
 * suite itself never runs them).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './agent-process.js';
import { withTimeout } from './wait.js';

const fixtures = join(repoRoot(), 'dist', 'test', 'helpers', 'runner-fixtures');

async function runTests(names: string[]): Promise<{ code: number | null; lines: string[]; stderr: string }> {
  const child = spawn(process.execPath, [join(repoRoot(), 'test', 'run-tests.mjs'), ...names.map((n) => join(fixtures, n))], {
    cwd: repoRoot(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const code = await withTimeout(
    new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c))),
    `run-tests.mjs on ${names.join(', ')} to finish`,
  );
  return { code, lines: out.trimEnd().split('\n'), stderr: err };
}

t.test('all green: the count and exit 0', async (t) => {
  const r = await runTests(['passes.js']);
  t.equal(r.lines.at(-1), '2 passed, 0 failed');
  t.equal(r.code, 0);
});

t.test('a failing assertion and a file without TAP: both counted, exit 1', async (t) => {
  const r = await runTests(['passes.js', 'fails.js', 'no-tap.js']);
  t.equal(r.lines.at(-1), '3 passed, 2 failed', 'one failed assertion, plus one for the file that printed no TAP');
  t.equal(r.code, 1);
  t.ok(r.lines.some((l) => /^not ok \d+ - .*fails\.js/.test(l)), 'fails.js reported not ok');
  t.ok(r.lines.some((l) => /^not ok \d+ - .*no-tap\.js/.test(l)), 'no-tap.js reported not ok');
  t.ok(r.lines.some((l) => /why: "exit code 1; no TAP output"/.test(l)), 'and why');
  t.match(r.stderr, /no-tap fixture: exiting 1 without TAP/, "the file's stderr is passed on");
});

t.test('a file that exits 0 without any TAP is a failure, not an empty success', async (t) => {
  const r = await runTests(['silent.js']);
  t.equal(r.lines.at(-1), '0 passed, 1 failed');
  t.ok(r.lines.some((l) => /why: "no TAP output"/.test(l)), 'and why');
  t.equal(r.code, 1);
});

t.test('--fast leaves out the *-slow folders and nothing else; --list runs nothing', async (t) => {
  const list = (args: string[]): Promise<string[]> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [join(repoRoot(), 'test', 'run-tests.mjs'), ...args, '--list'], { cwd: repoRoot() });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(out.trim().split('\n')) : reject(new Error(`run-tests.mjs --list exited ${code}`))));
    });
  const all = await withTimeout(list([]), 'run-tests.mjs --list');
  const fast = await withTimeout(list(['--fast']), 'run-tests.mjs --fast --list');
  const slow = all.filter((f) => /\/[^/]+-slow\//.test(f));
  t.ok(slow.includes('dist/test/c37118-slow/fuzz-part1.test.js'), 'the full list has the slow fuzz files');
  t.ok(all.includes('dist/test/helpers/runner.test.js'), 'and this file');
  t.same(fast, all.filter((f) => !slow.includes(f)), '--fast is the full list without the slow folders');
});
