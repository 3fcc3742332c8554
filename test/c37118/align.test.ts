/**
 * Time alignment: the Aligner with an injected clock (complete groups published at once, incomplete
 * ones when the window ends with the missing PMUs absent, late blocks counted and still published),
 * PmuStats (missing, out-of-order, latency buckets), and the driver aligning two live streams (a small
 * PDC) from two test PMU servers, one of which skips frames and sends one late.
 */
import t, { type Test } from 'tap';
import type { Measurement } from '../../algorithms/common/measurement.js';
import { Aligner, PmuStats } from '../../drivers/c37118/align.js';
import { c37118Driver, C37118Driver } from '../../drivers/c37118/index.js';
import { withDefaults } from '../helpers/plugin-config.js';
import { waitFor } from '../helpers/wait.js';
import { ctxFor } from '../conformance/suites.js';
import { PmuServer, threePhase } from './pmu-server.js';

const m = (device: string, ts: number): Measurement => ({ device, ts, quality: 'good', freq: 50 });

t.test('Aligner: complete, incomplete, late, duplicate', async (t) => {
  const out: string[] = [];
  const absent: string[] = [];
  const late: string[] = [];
  const waits: number[] = [];
  const a = new Aligner(100, {
    publish: (x) => out.push(`${x.device}@${x.ts}`),
    absent: (d, ts) => absent.push(`${d}@${ts}`),
    late: (d, ts) => late.push(`${d}@${ts}`),
    published: (_ts, _n, w) => waits.push(w),
  });
  a.expected = new Set(['p1', 'p2']);
  a.add(m('p1', 1000), 0);
  t.same(out, [], 'a group waits for its other PMU');
  a.add(m('p2', 1000), 30);
  t.same(out, ['p1@1000', 'p2@1000'], 'a complete group is published at once');
  t.same(waits, [30], 'alignment wait recorded');
  a.add(m('p1', 2000), 40);
  a.tick(139);
  t.same(out.length, 2, 'not before the window ends');
  a.tick(140);
  t.same(out.slice(2), ['p1@2000'], 'published when the window ends');
  t.same(absent, ['p2@2000'], 'the missing PMU is counted absent');
  a.add(m('p2', 2000), 150);
  t.same(late, ['p2@2000'], 'a block for a published group is late');
  t.same(out.slice(3), ['p2@2000'], 'and still published');
  a.add(m('p2', 500), 160);
  t.same(late.length, 2, 'older than the newest published group: late');
  a.add(m('p1', 3000), 170);
  a.add(m('p1', 3000), 171);
  t.same(out.slice(-1), ['p1@3000'], 'a repeated block is published as it is');
  a.flush(172);
  t.same(out.slice(-1), ['p1@3000'], 'flush publishes what is open');
  t.equal(a.open, 0);
  const direct = new Aligner(0, { publish: (x) => out.push(x.device), absent: () => t.fail('no absent without alignment'), late: () => t.fail('no late') });
  direct.add(m('solo', 1), 0);
  t.equal(out.at(-1), 'solo', 'window 0 publishes at once');
});

t.test('PmuStats: missing, out of order, duplicates, latency', async (t) => {
  const s = new PmuStats();
  const period = 20_000;
  const base = 1_764_000_000_000_000;
  s.record(base, base / 1000 + 3, period);
  s.record(base + period, base / 1000 + 23 + 15, period);
  s.record(base + 4 * period, base / 1000 + 83, period);
  t.equal(s.missing, 2, 'two frames skipped');
  s.record(base + 2 * period, base / 1000 + 100, period);
  t.equal(s.outOfOrder, 1, 'an older frame is out of order');
  s.record(base + 4 * period, base / 1000 + 101, period);
  t.equal(s.duplicates, 1);
  t.equal(s.frames, 5);
  t.equal(s.quantileMs(0.2), 5, 'the fastest frame is in the ≤5 ms bucket');
  t.ok(s.quantileMs(0.99) >= 50, `p99 ${s.quantileMs(0.99)} ms`);
  s.record(base + 5 * period + 3_600_000_000_000, 0, period);
  t.equal(s.missing, 2, 'a jump of over an hour is not counted as missing frames');
});

t.test('two streams aligned by the driver (a small PDC)', async (t) => {
  const startUs = Math.ceil((Date.now() * 1000) / 20_000) * 20_000;
  const a = await new PmuServer({ idcode: 1, dataRate: 50, blocks: [threePhase(11, 15)], auto: false, startUs }).start();
  const b = await new PmuServer({ idcode: 2, dataRate: 50, blocks: [threePhase(21, 15), threePhase(22, 0)], auto: false, startUs }).start();
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  const cfg = withDefaults(c37118Driver, {
    type: 'c37118',
    id: 'sub',
    host: '127.0.0.1',
    port: a.port,
    idcode: 1,
    config: 'cfg2',
    alignMs: 150,
    streams: [{ host: '127.0.0.1', port: b.port, idcode: 2, name: 'bay2' }],
  });
  t.same(c37118Driver.validate!(cfg), []);
  const driver = c37118Driver.create(cfg) as C37118Driver;
  const { ctx, counters } = ctxFor('sub');
  const out: Measurement[] = [];
  await driver.start(ctx, (x) => out.push(x));
  t.teardown(() => driver.stop(AbortSignal.abort()));
  await waitFor('both streams on', () => (a.dataOn && b.dataOn ? true : undefined), { timeoutMs: 10_000 });
  t.same(driver.health().devices, ['sub', 'bay2-21', 'bay2-22'], 'devices: the first stream as its id, the second as <name>-<block IDCODE>');

  // Frame 0 from both: one complete group of three blocks.
  a.sendData(1);
  b.sendData(1);
  await waitFor('the first group', () => (out.length >= 3 ? true : undefined), { timeoutMs: 10_000 });
  t.same(new Set(out.map((x) => x.ts)).size, 1, 'one time stamp');
  // Frame 1 from stream a only: published with bay2's blocks absent when the window ends.
  a.sendData(1);
  await waitFor('the incomplete group', () => (out.length >= 4 ? true : undefined), { timeoutMs: 10_000 });
  t.equal(counters.get('c37118_absent', { driver: 'sub', device: 'bay2-21' }), 1, 'bay2-21 absent from the group');
  t.equal(counters.get('c37118_absent', { driver: 'sub', device: 'bay2-22' }), 1, 'bay2-22 absent from the group');
  // Stream b's frame 1 arrives now: late, still published.
  b.sendData(1);
  await waitFor('the late blocks', () => (out.length >= 6 ? true : undefined), { timeoutMs: 10_000 });
  t.equal(counters.get('c37118_late', { driver: 'sub', device: 'bay2-21' }), 1, 'late counted per PMU');
  t.equal(out[4]!.ts, out[3]!.ts, 'late blocks keep their time stamp');
  const h = driver.health();
  t.equal(h.info?.['bay2-22.late'], 1, 'health shows late frames per PMU');
  t.ok(typeof h.info?.['sub.latencyP50Ms'] === 'number', 'health shows latency per PMU');
  t.match(String(h.info?.['sub.latencyBuckets']), /^≤1ms:\d+ ≤2ms:\d+ .* >5000ms:\d+$/, 'and its distribution');
  t.ok(typeof h.info?.alignWaitMeanMs === 'number', 'health shows the alignment wait');
});

/**
 * Two test PMUs sending only when told (IDCODE 1 on the driver's own host/port, IDCODE 2 as stream
 * "bay2"), and the driver's config for them with a 150 ms alignment window plus `extra`.
 */
async function twoPmus(t: Test, extra: Record<string, unknown>) {
  const a = await new PmuServer({ idcode: 1, dataRate: 50, blocks: [threePhase(11, 15)], auto: false }).start();
  const b = await new PmuServer({ idcode: 2, dataRate: 50, blocks: [threePhase(21, 0)], auto: false }).start();
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  const cfg = withDefaults(c37118Driver, {
    type: 'c37118',
    id: 'sub',
    host: '127.0.0.1',
    port: a.port,
    idcode: 1,
    config: 'cfg2',
    alignMs: 150,
    ...extra,
    streams: [{ host: '127.0.0.1', port: b.port, idcode: 2, name: 'bay2' }],
  });
  return { a, b, cfg };
}

t.test('one stream failing does not stop the other, nor delay its groups', async (t) => {
  const { a, b, cfg } = await twoPmus(t, { reconnectMinMs: 5000 });
  const driver = c37118Driver.create(cfg) as C37118Driver;
  const { ctx, counters } = ctxFor('sub');
  const out: Measurement[] = [];
  await driver.start(ctx, (x) => out.push(x));
  t.teardown(() => driver.stop(AbortSignal.abort()));
  await waitFor('both streams on', () => (a.dataOn && b.dataOn ? true : undefined), { timeoutMs: 10_000 });
  b.sendRaw(Buffer.alloc(40, 0xaa));
  b.closeMidFrame();
  await waitFor('stream b lost', () => (counters.total('c37118_reconnects') >= 1 ? true : undefined), { timeoutMs: 10_000 });
  a.sendData(3);
  await waitFor('stream a still published', () => (out.filter((m) => m.device === 'sub').length >= 3 ? true : undefined), { timeoutMs: 10_000 });
  t.equal(driver.health().state, 'degraded', 'degraded while one stream is down');
  t.equal(counters.total('c37118_absent'), 0, 'a stream that is down is not waited for (no group marked it absent)');
  t.ok(counters.get('c37118_rejected', { driver: 'sub', reason: 'truncated' }) >= 1, 'the half frame is counted');
});

t.test('alignment waits on the monotonic clock: wall-clock steps neither lengthen a group\'s wait nor drop a connection', async (t) => {
  const { a, b, cfg } = await twoPmus(t, { dataTimeoutMs: 10_000 });
  // Both clocks are the test's: the wall clock is stepped, the monotonic one only moves when told.
  let wall = Date.now();
  let mono = 1_000;
  const driver = new C37118Driver(cfg, { wall: () => wall, monotonic: () => mono });
  const { ctx, counters } = ctxFor('sub');
  const out: Measurement[] = [];
  await driver.start(ctx, (x) => out.push(x));
  t.teardown(() => driver.stop(AbortSignal.abort()));
  await waitFor('both streams on', () => (a.dataOn && b.dataOn ? true : undefined), { timeoutMs: 10_000 });

  // A frame of stream a only: its group waits 150 ms (monotonic) for bay2.
  a.sendData(1);
  await waitFor('the group open', () => (driver.health().info?.['openGroups'] === 1 ? true : undefined), { timeoutMs: 10_000 });
  t.equal(driver.health().info?.['sub.frames'], 1, 'stream a\'s frame arrived');
  // The wall clock steps back an hour (an NTP correction) and 150 ms pass on the monotonic clock.
  // (Not before: the Aligner test above.) Had the wait been measured on the wall clock, the group
  // would now wait an hour more (until the open-group limit pushed it out).
  wall -= 3_600_000;
  mono += 150;
  await waitFor('the group published once its 150 ms passed on the monotonic clock', () => (out.length === 1 ? true : undefined), { timeoutMs: 10_000 });
  t.equal(out[0]!.device, 'sub', 'stream a\'s block');
  t.equal(counters.get('c37118_absent', { driver: 'sub', device: 'bay2' }), 1, 'bay2 counted absent');
  t.equal(driver.health().info?.['alignWaitMaxMs'], 150, 'the wait is measured on the monotonic clock');

  // Now forward two hours (far past dataTimeoutMs), and another group: the tick that publishes it
  // also checks the streams' data timeouts, and drops no connection for the step.
  wall += 7_200_000;
  a.sendData(1);
  await waitFor('the second group open', () => (driver.health().info?.['openGroups'] === 1 ? true : undefined), { timeoutMs: 10_000 });
  mono += 150;
  await waitFor('the second group published', () => (out.length === 2 ? true : undefined), { timeoutMs: 10_000 });
  t.equal(counters.total('c37118_reconnects'), 0, 'no reconnect for a wall-clock step');
  t.equal(driver.health().info?.['connected'], 2, 'both streams still connected');
});
