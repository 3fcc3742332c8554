/** setLongTimeout: delays beyond one setTimeout's reach are waited in steps, and fire once. */
import t from 'tap';
import { setLongTimeout, MAX_TIMER_MS } from '../../agent/core/long-timer.js';

// The timers under test are unref'd: this one keeps the test process alive while they run.
const keepAlive = setInterval(() => {}, 1000);
t.teardown(() => clearInterval(keepAlive));

/** Resolves after `ms` on a plain timer: the reference point the long timers are compared with. */
const after = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('fires once after the whole delay, in steps no longer than the step limit', async (t) => {
  const start = performance.now();
  let calls = 0;
  const fired = await new Promise<number>((resolve) =>
    setLongTimeout(() => {
      calls++;
      resolve(performance.now());
    }, 60, 10),
  );
  await after(30);
  t.ok(fired - start >= 59, `not before the delay (${Math.round(fired - start)} ms)`);
  t.equal(calls, 1, 'once');
});

t.test('clear() between steps stops it', async (t) => {
  let fired = false;
  // A delay well above the reference: a test process stalled for a while under a loaded machine
  // must not see the whole delay pass before the reference timer runs.
  const timer = setLongTimeout(() => (fired = true), 400, 10);
  await after(15); // past the first step, before the delay
  t.equal(fired, false, 'not fired before the delay');
  timer.clear();
  await after(450);
  t.equal(fired, false, 'not fired after it either, once cleared');
});

t.test('a delay above 2^31-1 ms neither fires at once nor warns', async (t) => {
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.name);
  process.on('warning', onWarning);
  let fired = false;
  const timer = setLongTimeout(() => (fired = true), 3_000_000 * 800);
  await after(20); // a plain setTimeout with that delay fires after 1 ms
  timer.clear();
  process.off('warning', onWarning);
  t.equal(fired, false, 'not fired');
  t.same(warnings, [], 'no TimeoutOverflowWarning');
  t.equal(MAX_TIMER_MS, 2147483647);
});
