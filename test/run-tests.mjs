#!/usr/bin/env node
// Runs the compiled tap suite (dist/test/**/*.test.js) and ends with one plain line: "N passed, N failed".
// Usage: node test/run-tests.mjs [--with-packaging | --fast] [--list] [files or globs under dist/test ...]
//
// --list: print the files that would run, one a line, and run none.
// --fast (what `npm run test:fast` runs): every file except those in the `*-slow` folders
// (dist/test/c37118-slow: the 10^6-frame fuzz run; dist/test/scheduler-slow: the wide optimisation
// cross-checks), which together take about a fifth of the suite's CPU; `npm test` runs them.
//
// --with-packaging (what `npm test` runs): after the other files, a second phase builds the .deb files
// and the clean roots (test/packaging/prepare.sh; its failure counts as one failed test) and runs the
// slow packaging suite (dist/test/packaging/*.slow.js), two at a time; the last line counts both
// phases together.
//
// Each test file runs as its own process, `node --enable-source-maps FILE` (tap's "run a test file
// with node" mode), GRIDEDGE_TEST_JOBS at a time (default 3). It does not go through tap's runner on
// purpose: the runner starts every test with its TypeScript (ts-node), mock and processinfo import
// hooks, puts the processinfo hook into NODE_OPTIONS for every process the test starts (agents, CLI
// runs), and every worker thread inherits them; under those hooks the buffer's writer thread took
// about 1.4 s to start instead of about 75 ms. The compiled tests need none of them
// (test/helpers/harness.test.ts checks that a worker thread starts without any).
//
// Each file's TAP output is parsed with tap's own parser (tap-parser) and printed as one subtest
// ("# Subtest: FILE", its lines indented, "ok N - FILE # time=...ms") when the file ends; its
// stderr follows on stderr under a "--- FILE (stderr)" line. A file fails when any of its test
// points fails, its plan is not met, it prints no TAP at all, it exits non-zero or by a signal, or
// it outlives the time limit (package.json "tap".timeout seconds, default 120, 300 at least for the
// packaging suite's files: tap inside the file
// fails the test at that time; the runner sends SIGTERM 10 s later and SIGKILL 5 s after that).
// "N passed, N failed" counts assertions at every depth (not the lines that close subtests); a file
// that failed without a failing assertion (crashed, no TAP, timed out) counts as one failure.
//
// Temp files: each file runs with TMPDIR set to its own new directory under one directory for the
// run ($TMPDIR/gridedge-suite-XXXXXX/N), so everything it and the processes it starts (agents,
// mosquitto, Chromium, the packaging roots) put in os.tmpdir() lands there. The runner removes a
// file's directory when the file passes, and keeps it when it fails (the path is printed under the
// file's stderr), so a run leaves nothing behind but what explains a failure. A directory with a
// mount point still in it (a packaging root whose /proc was not unmounted) is never removed, only
// reported. The fixed test ports are claimed in one folder for the whole run ($GRIDEDGE_TEST_PORT_CLAIMS,
// test/helpers/ports.ts).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve as resolvePath } from 'node:path';
import { Parser } from 'tap-parser';

const root = new URL('..', import.meta.url).pathname;
const distTest = join(root, 'dist', 'test');

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.js')) out.push(relative(root, p));
  }
  return out.sort();
}

const args = process.argv.slice(2);
const withPackaging = args.includes('--with-packaging');
const fast = args.includes('--fast');
if (withPackaging && fast) {
  console.error('--fast and --with-packaging exclude each other: --fast leaves out the slow files');
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const listOnly = args.includes('--list');
const fileArgs = args.filter((a) => a !== '--with-packaging' && a !== '--fast' && a !== '--list');
const SLOW_FOLDER = /(^|\/)[^/]+-slow\//;
let files;
try {
  files = fileArgs.length > 0 ? fileArgs : findTests(distTest).filter((f) => !(fast && SLOW_FOLDER.test(relative('dist/test', f))));
} catch (err) {
  files = [];
  console.error(`cannot list ${distTest}: ${err.message}`);
}
if (files.length === 0) {
  console.error('no test files found under dist/test: run `npm run build` first');
  console.log('0 passed, 1 failed');
  process.exit(1);
}
if (listOnly) {
  process.stdout.write(files.map((f) => `${f}\n`).join(''));
  process.exit(0);
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const timeoutS = Number(pkg.tap?.timeout) > 0 ? Number(pkg.tap.timeout) : 120;
const jobs = Math.max(1, Math.min(8, Number(process.env.GRIDEDGE_TEST_JOBS) || 3));

// Loader flags a parent's NODE_OPTIONS could carry into the tests; everything else is kept.
const LOADER_FLAG = /^["']?(--import|--loader|--experimental-loader|--require|-r)(=|$)/;
function cleanNodeOptions(value) {
  if (!value) return undefined;
  const parts = value.split(/\s+/).filter(Boolean);
  const kept = [];
  for (let k = 0; k < parts.length; k++) {
    const p = parts[k];
    if (LOADER_FLAG.test(p)) {
      if (!p.includes('=')) k++; // the flag's value is the next word
      continue;
    }
    kept.push(p);
  }
  return kept.length ? kept.join(' ') : undefined;
}
// The packaging suite installs and starts the .deb in clean roots, arm64 under qemu-user-static,
// whose speed varies with the machine's load (74 s in one CI run, past 120 s in the next): those
// files get PACKAGING_TIMEOUT_S instead.
const PACKAGING_TIMEOUT_S = Math.max(timeoutS, 300);
const limitFor = (file) => (/(^|\/)packaging\/[^/]*\.slow\.js$/.test(file) ? PACKAGING_TIMEOUT_S : timeoutS);
const childEnv = { ...process.env, TAP_TIMEOUT: String(timeoutS) };
for (const k of Object.keys(childEnv)) if (k.startsWith('_TAPJS_') || k === 'TAP_CHILD_ID') delete childEnv[k];
const nodeOptions = cleanNodeOptions(process.env.NODE_OPTIONS);
if (nodeOptions) childEnv.NODE_OPTIONS = nodeOptions;
else delete childEnv.NODE_OPTIONS;

const suiteTmp = mkdtempSync(join(tmpdir(), 'gridedge-suite-'));
// The fixed-port claims (test/helpers/ports.ts) are shared by every file of the run: each file's
// own TMPDIR would give each its own claims, and two files could hand out the same port.
const portClaims = join(suiteTmp, 'ports');
let tmpSeq = 0;

/** Mount points at or under `dir` (from /proc/self/mounts; none when it cannot be read). */
function mountsUnder(dir) {
  try {
    return readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => (l.split(' ')[1] ?? '').replace(/\\040/g, ' '))
      .filter((m) => m === dir || m.startsWith(dir + '/'));
  } catch {
    return [];
  }
}

/** Removes a passed file's temp directory; returns why it could not, or null. */
function removeTmp(dir) {
  const mounts = mountsUnder(dir);
  if (mounts.length > 0) return `kept ${dir}: still mounted there: ${mounts.join(', ')}`;
  try {
    rmSync(dir, { recursive: true, force: true });
    return null;
  } catch (err) {
    return `cannot remove ${dir}: ${err.message}`;
  }
}

const running = new Set();
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    interrupted = true;
    for (const c of running) c.kill('SIGTERM');
  });
}

/** Run one file; resolves with what to print and what to count. */
function runFile(file) {
  return new Promise((resolve) => {
    const started = performance.now();
    const counts = { pass: 0, fail: 0, skip: 0, todo: 0 };
    const parser = new Parser();
    const watch = (p) => {
      p.on('assert', (a) => {
        if (a.closingTestPoint) return; // a subtest's own line: its assertions are counted
        if (a.todo) counts.todo++;
        else if (a.skip) counts.skip++;
        else if (a.ok) counts.pass++;
        else counts.fail++;
      });
      p.on('child', watch);
    };
    watch(parser);
    let final = null;
    parser.on('complete', (r) => (final = r));
    let out = '';
    let err = '';
    const limitS = limitFor(file);
    const tmp = join(suiteTmp, String(++tmpSeq));
    mkdirSync(tmp);
    const child = spawn(process.execPath, ['--enable-source-maps', resolvePath(root, file)], {
      cwd: root,
      env: { ...childEnv, TAP_TIMEOUT: String(limitS), TMPDIR: tmp, GRIDEDGE_TEST_PORT_CLAIMS: portClaims },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      out += d;
      parser.write(d);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => (err += d));
    let killedForTime = false;
    const term = setTimeout(() => {
      killedForTime = true;
      child.kill('SIGTERM');
    }, (limitS + 10) * 1000);
    const kill = setTimeout(() => child.kill('SIGKILL'), (limitS + 15) * 1000);
    child.on('error', (e) => (err += `\ncannot start ${file}: ${e.message}\n`));
    child.on('close', (code, signal) => {
      clearTimeout(term);
      clearTimeout(kill);
      running.delete(child);
      parser.end();
      const ms = performance.now() - started;
      const why = [];
      if (killedForTime) why.push(`still running ${limitS + 10} s after it started: killed`);
      else if (signal) why.push(`ended by ${signal}`);
      else if (code !== 0) why.push(`exit code ${code}`);
      // An empty stream parses as "skip all, no tests found": a file that printed nothing failed.
      if (out.trim() === '') why.push('no TAP output');
      else if (!final || !final.ok) why.push(final ? 'TAP results not ok' : 'no TAP results');
      const ok = why.length === 0;
      if (ok) {
        const kept = removeTmp(tmp);
        if (kept) err += `${err === '' || err.endsWith('\n') ? '' : '\n'}${kept}\n`;
      } else err += `${err === '' || err.endsWith('\n') ? '' : '\n'}its temp files are kept in ${tmp}\n`;
      resolve({ file, ok, why, ms, out, err, counts });
    });
  });
}

const t0 = performance.now();
const total = { pass: 0, fail: 0, skip: 0, todo: 0 };
let n = 0;
let filesFailed = 0;
const indent = (text) =>
  text
    .split('\n')
    .filter((l, k, all) => l !== '' || k < all.length - 1)
    .map((l) => (l ? '    ' + l : l))
    .join('\n');

function report(r) {
  n++;
  durations[r.file] = Math.round(r.ms);
  const lines = [`# Subtest: ${r.file}`];
  if (r.out) lines.push(indent(r.out));
  if (r.ok) lines.push(`ok ${n} - ${r.file} # time=${r.ms.toFixed(0)}ms`);
  else lines.push(`not ok ${n} - ${r.file} # time=${r.ms.toFixed(0)}ms`, '  ---', `  why: ${JSON.stringify(r.why.join('; '))}`, '  ...');
  process.stdout.write(lines.join('\n') + '\n');
  if (r.err) process.stderr.write(`--- ${r.file} (stderr)\n${r.err}${r.err.endsWith('\n') ? '' : '\n'}`);
  for (const k of Object.keys(total)) total[k] += r.counts[k];
  if (!r.ok) {
    filesFailed++;
    if (r.counts.fail === 0) total.fail++; // failed without a failing assertion
  }
}

// Longest first: each file's duration from the last run (dist/test/.durations.json, rewritten after
// every run) orders the queue, so a slow file does not start last and run alone at the end.
// Files without a recorded duration go first.
const durationsFile = join(distTest, '.durations.json');
let durations = {};
try {
  durations = JSON.parse(readFileSync(durationsFile, 'utf8'));
} catch {
  // first run, or dist/ rebuilt from scratch: the given order
}
const known = (f) => (typeof durations[f] === 'number' ? durations[f] : Infinity);
const queue = [...files].sort((a, b) => (known(a) === known(b) ? 0 : known(a) > known(b) ? -1 : 1));

process.stdout.write('TAP version 14\n');
async function worker() {
  while (queue.length && !interrupted) report(await runFile(queue.shift()));
}
await Promise.all(Array.from({ length: Math.min(jobs, files.length) }, worker));

if (withPackaging && !interrupted) {
  // Phase 2: the slow packaging suite, on its prepared inputs.
  const t1 = performance.now();
  const prep = spawnSync('bash', [join(root, 'test', 'packaging', 'prepare.sh')], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (prep.status !== 0) {
    report({
      file: 'test/packaging/prepare.sh',
      ok: false,
      out: '',
      err: `${prep.stdout ?? ''}${prep.stderr ?? ''}${prep.error ? String(prep.error) : ''}`,
      ms: performance.now() - t1,
      counts: { pass: 0, fail: 1, skip: 0, todo: 0 },
      why: [`prepare.sh exited ${prep.status ?? prep.signal}`],
    });
  } else {
    if (prep.stderr) process.stderr.write(prep.stderr);
    const dir = join(distTest, 'packaging');
    let slow = [];
    try {
      slow = readdirSync(dir).filter((f) => f.endsWith('.slow.js')).sort().map((f) => relative(root, join(dir, f)));
    } catch {
      // no packaging suite built
    }
    queue.push(...slow);
    await Promise.all(Array.from({ length: Math.min(2, slow.length) }, worker));
  }
}
const notRun = queue.length;
rmSync(portClaims, { recursive: true, force: true }); // every file has ended: no claim is held
try {
  rmdirSync(suiteTmp); // only when empty: every file passed and its files were removed
} catch {
  // a failed file's temp files are kept (named on stderr)
}
try {
  writeFileSync(durationsFile, JSON.stringify(durations, null, 1) + '\n');
} catch {
  // dist/test missing or read-only: the next run keeps the given order
}
process.stdout.write(`1..${n}\n`);
process.stdout.write(`# ${n} files (${filesFailed} failed${notRun ? `, ${notRun} not run: interrupted` : ''}), ${jobs} at a time\n`);
process.stdout.write(`# time=${(performance.now() - t0).toFixed(0)}ms\n`);
if (notRun) total.fail++;
const skipped = total.skip + total.todo;
console.log(`${total.pass} passed, ${total.fail} failed` + (skipped ? `, ${skipped} skipped` : ''));
process.exit(total.fail === 0 && filesFailed === 0 ? 0 : 1);
