#!/usr/bin/env node
// Runs the compiled tap suite (dist/test/**/*.test.js) and ends with one plain line: "N passed, N failed".
// Usage: node test/run-tests.mjs [files or globs under dist/test ...]
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

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

const files = process.argv.length > 2 ? process.argv.slice(2) : findTests(distTest);
if (files.length === 0) {
  console.error('no test files found under dist/test: run `npm run build` first');
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const jobs = String(Math.max(2, Math.min(4, Number(process.env.GRIDEDGE_TEST_JOBS) || 3)));
const child = spawn(
  process.execPath,
  [join(root, 'node_modules', 'tap', 'dist', 'esm', 'run.mjs'), '--reporter=tap', '--disable-coverage', '-j', jobs, ...files],
  { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
);
// tap ends its raw TAP stream with a summary comment: "# { total: 15, pass: 14, fail: 1, skip: 0 }".
let tail = '';
child.stdout.on('data', (d) => {
  process.stdout.write(d);
  tail = (tail + d.toString('utf8')).slice(-65536);
});
child.on('close', (code) => {
  const m = [...tail.matchAll(/^# \{ ([^}]*) \}$/gm)].pop();
  const summary = {};
  if (m) for (const kv of m[1].split(',')) { const [k, v] = kv.split(':').map((x) => x.trim()); summary[k] = Number(v); }
  const passed = summary.pass ?? 0;
  let failed = summary.fail ?? 0;
  if (code !== 0 && failed === 0) failed = 1; // a runner error still counts as a failure
  const skipped = (summary.skip ?? 0) + (summary.todo ?? 0);
  console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ''));
  process.exit(failed === 0 && code === 0 ? 0 : 1);
});
