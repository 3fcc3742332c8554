/**
 * Driver health (stale devices) across a wall-clock step, in-process: Date.now is moved by an hour
 * as NTP does on a box whose clock was off. A device's age is time since its last value on the
 * monotonic clock, so the step neither marks every device stale at once (a false alarm in the
 * status, its problems and device_stale_total) nor, stepped back, leaves devices unflagged for an hour.
 */
import t from 'tap';
import { startInProcess } from '../helpers/in-process.js';
import { waitFor } from '../helpers/wait.js';

t.test('a wall-clock step forward does not make live devices stale', async (t) => {
  const realNow = Date.now;
  let offsetMs = 0;
  Date.now = () => realNow() + offsetMs;
  t.teardown(() => void (Date.now = realNow));
  // A stale threshold of 10 s (not 3 × 100 ms): a loaded machine must not make the device stale
  // for real between the checks below; the step is an hour.
  const { agent } = await startInProcess(t, { stats: { enabled: false }, drivers: [{ type: 'sim-pmu', id: 'pmu', rate: 10, staleAfterMs: 10_000 }] });
  const device = () => agent.status().drivers.find((d) => d.id === 'pmu')?.driverHealth?.devices.find((h) => h.device === 'pmu');
  await waitFor('pmu seen, with a stale threshold', () => {
    const h = device();
    return h?.seen === true && h.staleAfterMs !== undefined && h.stale === false;
  });
  const staleBefore = agent.status().counters['device_stale_total'];
  offsetMs = 3600_000; // NTP steps the wall clock an hour forward
  const h = device()!;
  t.equal(h.stale, false, `pmu is not stale right after the step (age ${h.ageMs} ms, threshold ${h.staleAfterMs} ms)`);
  t.ok(h.ageMs < 3600_000, 'its age is not the size of the step');
  const s = agent.status();
  t.notOk(s.problems.some((p) => p.includes('stale')), `no stale problem: ${s.problems.join('; ')}`);
  t.same(s.counters['device_stale_total'], staleBefore, 'device_stale_total not counted for the step');
});

t.test('uptime is not moved by a wall-clock step', async (t) => {
  const realNow = Date.now;
  let offsetMs = 0;
  Date.now = () => realNow() + offsetMs;
  t.teardown(() => void (Date.now = realNow));
  const { agent } = await startInProcess(t, { stats: { enabled: false } });
  const before = agent.status().uptimeSeconds;
  offsetMs = 24 * 3600_000; // a box that booted a day behind, corrected by NTP
  const after = agent.status().uptimeSeconds;
  t.ok(after >= before && after - before < 3600, `uptime ${before} s, then ${after} s after the step (not a day more)`);
  offsetMs = -24 * 3600_000; // and back
  t.ok(agent.status().uptimeSeconds >= after, 'never goes back');
});
