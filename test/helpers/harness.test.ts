/**
 * The harness itself: compiled tests run without module loader hooks (tap's runner adds ts-node,
 * mock and processinfo hooks, and every worker thread and child process inherits them; the buffer's
 * writer thread then takes over a second to start). `node test/run-tests.mjs` starts each file with
 * plain `node --enable-source-maps`; this file fails when run any other way that adds hooks
 * (for example `npx tap dist/test/helpers/harness.test.js`).
 */
import t from 'tap';
import { Worker } from 'node:worker_threads';
import { onceWithTimeout } from './wait.js';

/** The flags that load code before the program: module hooks, preloads. */
function loaderFlags(argv: string[]): string[] {
  return argv.filter((a) => /^["']?(--import|--loader|--experimental-loader|--require|-r)(=|$)/.test(a));
}

t.test('the test process has no loader hooks', async (t) => {
  t.same(loaderFlags(process.execArgv), [], 'no --import/--loader/--require in process.execArgv');
  t.same(loaderFlags((process.env.NODE_OPTIONS ?? '').split(/\s+/)), [], 'none in NODE_OPTIONS either (child processes inherit it)');
});

t.test('a worker thread starts without loader hooks', async (t) => {
  const started = performance.now();
  const w = new Worker(new URL('./loader-probe-worker.js', import.meta.url));
  t.teardown(() => w.terminate());
  const [report] = await onceWithTimeout<[{ execArgv: string[]; nodeOptions: string }]>(w, 'message', 'the probe worker to report its options', 20_000);
  t.comment(`worker reported after ${(performance.now() - started).toFixed(0)} ms`);
  t.same(loaderFlags(report.execArgv), [], 'the worker inherited no --import/--loader/--require');
  t.same(loaderFlags(report.nodeOptions.split(/\s+/)), [], 'and no loader in its NODE_OPTIONS');
});
