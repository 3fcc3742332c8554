/**
 * The scheduler's real clock (agent/services/scheduler/clock.ts) with delays beyond what one Node
 * timer takes. A near-real-time job whose job_start is more than 2^31 - 1 ms (about 24.8 days) ahead
 * sets a timer that long; Node fires such a timer after 1 ms (with a TimeoutOverflowWarning), so the
 * loop published setpoints at once, weeks before job_start, and then every repeat_seconds.
 * Each check compares with a short reference timer: only the order of firing is asserted.
 */
import t from 'tap';
import { systemClock } from '../../agent/services/scheduler/clock.js';

const DAY_MS = 86_400_000;

t.test('a timer 30 days ahead does not fire at once', async (t) => {
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.name);
  process.on('warning', onWarning);
  t.teardown(() => void process.off('warning', onWarning));
  const order: string[] = [];
  const far = systemClock.setTimeout(() => order.push('30 days'), 30 * DAY_MS);
  await new Promise<void>((resolve) => setTimeout(() => resolve(void order.push('reference')), 20));
  systemClock.clearTimeout(far);
  t.same(order, ['reference'], 'the 30-day timer has not fired when a 20 ms one does');
  t.same(warnings, [], 'no TimeoutOverflowWarning');
});

t.test('short delays fire in order, and a cleared timer never fires', async (t) => {
  const order: string[] = [];
  systemClock.setTimeout(() => order.push('5 ms'), 5);
  const cleared = systemClock.setTimeout(() => order.push('cleared'), 1);
  systemClock.clearTimeout(cleared);
  systemClock.setTimeout(() => order.push('negative: at once'), -10);
  await new Promise<void>((resolve) => setTimeout(() => resolve(void order.push('reference')), 30));
  t.same(order, ['negative: at once', '5 ms', 'reference']);
});
