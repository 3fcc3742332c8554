/**
 * The generic driver health (agent/core/driver-health.ts) on an injected clock: stale exactly past
 * the threshold (3 × the driver's interval, or staleAfterMs), recovery on the next value, the
 * transitions counted, the drivers' own totals turned into driver_* counters.
 */
import t from 'tap';
import { Counters } from '../../agent/core/counters.js';
import { DriverHealthTracker, STALE_FACTOR } from '../../agent/core/driver-health.js';
import type { PluginHealth } from '../../agent/core/plugin.js';

function setup() {
  let now = 1_000_000;
  const counters = new Counters();
  const tracker = new DriverHealthTracker(counters, () => now);
  return { counters, tracker, advance: (ms: number) => (now += ms) };
}

t.test('a device becomes stale after 3 × its expected interval and recovers on the next value', async (t) => {
  const { counters, tracker, advance } = setup();
  t.equal(STALE_FACTOR, 3);
  tracker.register('pmu', 0);
  const health: PluginHealth = { state: 'running', devices: ['pmu1'], expectedIntervalMs: 20 };
  tracker.value('pmu', 'pmu1');
  advance(60);
  let s = tracker.sweep('pmu', health)!;
  t.same(s.devices.map((d) => [d.device, d.stale, d.ageMs, d.staleAfterMs]), [['pmu1', false, 60, 60]], 'at exactly 3 intervals: not yet stale');
  advance(1);
  s = tracker.sweep('pmu', health)!;
  t.match(s.devices[0], { device: 'pmu1', driver: 'pmu', stale: true, reason: 'stale', ageMs: 61, expectedIntervalMs: 20, seen: true });
  t.equal(counters.get('device_stale_total', { driver: 'pmu' }), 1, 'the transition is counted');
  t.equal(counters.get('devices_stale'), 1, 'one device stale now');
  advance(1000);
  tracker.sweep('pmu', health);
  t.equal(counters.get('device_stale_total', { driver: 'pmu' }), 1, 'staying stale is not counted again');
  tracker.value('pmu', 'pmu1');
  s = tracker.sweep('pmu', health)!;
  t.match(s.devices[0], { stale: false, ageMs: 0 });
  t.notOk('reason' in s.devices[0]!, 'no reason once it recovered');
  t.equal(counters.get('devices_stale'), 0, 'recovered');
  t.equal(counters.get('driver_reads', { driver: 'pmu' }), 2, 'each value is a read');
});

t.test('staleAfterMs overrides the interval; a device never heard from ages from registration', async (t) => {
  const { counters, tracker, advance } = setup();
  tracker.register('m', 500);
  const health: PluginHealth = { state: 'running', devices: ['fixed'], expectedIntervalMs: { fixed: 10 } };
  advance(499);
  let s = tracker.sweep('m', health)!;
  t.match(s.devices[0], { device: 'fixed', stale: false, seen: false, staleAfterMs: 500, ageMs: 499 });
  advance(2);
  s = tracker.sweep('m', health)!;
  t.match(s.devices[0], { stale: true, seen: false, reason: 'stale' });
  t.equal(counters.get('devices_stale'), 1);
  tracker.remove('m');
  t.equal(counters.get('devices_stale'), 0, 'a removed driver takes its stale devices with it');
  t.equal(tracker.sweep('m', health), undefined);
});

t.test('no interval and no staleAfterMs: never stale', async (t) => {
  const { tracker, advance } = setup();
  tracker.register('src', 0);
  tracker.value('src', 'x');
  advance(86_400_000);
  const s = tracker.sweep('src', { state: 'running' })!;
  t.match(s.devices[0], { device: 'x', stale: false, ageMs: 86_400_000 });
  t.notOk('staleAfterMs' in s.devices[0]!);
});

t.test("the driver's own totals become driver_errors, driver_retries, driver_reconnects", async (t) => {
  const { counters, tracker } = setup();
  tracker.register('mb', 0);
  counters.inc('driver_errors', { driver: 'mb' }); // a start failure, counted by the agent
  tracker.sweep('mb', { state: 'running', info: { errors: 2, retries: 3, reconnects: 1, connected: true } });
  let s = tracker.sweep('mb', { state: 'degraded', info: { errors: 5, retries: 3, reconnects: 2, connected: false } })!;
  t.same([s.errors, s.retries, s.reconnects, s.connected], [6, 3, 2, false], 'increases added; connected from info');
  // The driver was recreated (config reload): its totals start again from 0.
  s = tracker.sweep('mb', { state: 'running', info: { errors: 1, retries: 0, reconnects: 0 } })!;
  t.same([s.errors, s.retries, s.reconnects, s.connected], [7, 3, 2, true], 'a total that went down counts from zero; connected from state');
  s = tracker.sweep('mb', { state: 'running', info: { connected: 2 } })!;
  t.equal(s.connected, true, 'a number of connected streams: connected when at least one');
  t.equal(counters.get('driver_retries', { driver: 'mb' }), 3);
});

t.test('devices tracked are bounded; the others still count as reads', async (t) => {
  const counters = new Counters();
  const tracker = new DriverHealthTracker(counters, () => 0, 2);
  tracker.register('src', 0);
  for (const name of ['a', 'b', 'c', 'd']) tracker.value('src', name);
  t.same(tracker.sweep('src', { state: 'running' })!.devices.map((d) => d.device), ['a', 'b'], 'the first two are tracked');
  t.equal(counters.get('driver_reads', { driver: 'src' }), 4);
  tracker.remove('src');
  tracker.register('other', 0);
  tracker.value('other', 'x');
  t.same(tracker.sweep('other', { state: 'running' })!.devices.map((d) => d.device), ['x'], 'removing a driver frees its slots');
});
