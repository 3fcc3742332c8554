/**
 * The modbus driver in process against modbus-serial's own TCP server: decoded values at their field
 * paths, what it emits passes the pipeline's validation, polling groups at their own intervals, a
 * Modbus exception or a timeout turning only the affected fields invalid with their reason while the
 * other group keeps flowing, retries; a server that goes away: nothing published (the device goes
 * stale in the agent's driver health) until it is back; health and counters. A fast group refused on
 * every poll while a slow group reads: the device does not flap stale/fresh, and the failing group is
 * named in the driver's health.
 */
import t from 'tap';
import { createServer, type AddressInfo } from 'node:net';
import { Counters } from '../../agent/core/counters.js';
import { DriverHealthTracker } from '../../agent/core/driver-health.js';
import type { Measurement } from '../../algorithms/common/measurement.js';
import { checkMeasurement } from '../../agent/pipeline/validate.js';
import { modbusDriver, ModbusDriver, type ModbusConfig } from '../../drivers/modbus/index.js';
import { ctxFor, abortedDeadline } from '../conformance/suites.js';
import { withDefaults } from '../helpers/plugin-config.js';
import { waitFor } from '../helpers/wait.js';
import { Registers, startTcpServer } from './server.js';

const limits = () => ({ maxPayloadBytes: 1 << 20, nowUs: Date.now() * 1000, futureToleranceUs: 3.6e9, pastToleranceUs: 3.6e9 });

function config(entry: Record<string, unknown>): ModbusConfig {
  const cfg = withDefaults(modbusDriver, { type: 'modbus', ...entry });
  const problems = modbusDriver.validate!(cfg);
  if (problems.length) throw new Error(problems.join('\n'));
  return cfg;
}

function run(cfg: ModbusConfig) {
  const counters = new Counters();
  counters.define(modbusDriver.metrics!);
  const { ctx, abort } = ctxFor(cfg.id, counters);
  const driver = new ModbusDriver(cfg);
  const got: Measurement[] = [];
  const started = driver.start(ctx, (m) => got.push(structuredClone(m)));
  return {
    driver,
    got,
    counters,
    started,
    next: (what: string, pred: (m: Measurement) => boolean, from = 0) =>
      waitFor(what, () => got.slice(from).find(pred), { timeoutMs: 10_000 }),
    stop: async () => {
      abort.abort();
      await driver.stop(abortedDeadline());
    },
  };
}

t.test('values, groups, exceptions, timeouts, retries', async (t) => {
  const regs = new Registers();
  regs.set(1, 'input', 0, 230.5, 'f32', 'ABCD'); // v.a.mag
  regs.set(1, 'input', 2, 231.25, 'f32', 'CDAB'); // v.b.mag
  regs.set(1, 'input', 6, 12.5, 'f32', 'BADC'); // i.a.mag
  regs.set(1, 'holding', 100, -12345, 'i32', 'DCBA'); // p.total, scale 0.1
  regs.set(1, 'holding', 102, 4500, 'u16'); // energy_wh, scale 1000 offset 7
  regs.setBit(1, 'coil', 5, true); // breaker.q1
  regs.set(1, 'input', 20, 50.01, 'f64', 'ABCD'); // freq, group fast
  regs.set(1, 'input', 40, 7); // tap, group slow (exception)
  regs.set(1, 'input', 60, 8); // soc, group slow (hangs)
  const server = await startTcpServer(regs);
  t.teardown(() => server.close());

  const cfg = config({
    id: 'meter1',
    tcp: `127.0.0.1:${server.port}`,
    unit: 1,
    interval: 100,
    timeout: 150,
    retries: 1,
    registers: [
      { field: 'v.a.mag', function: 'input', address: 0, type: 'f32', order: 'ABCD' },
      { field: 'v.b.mag', function: 'input', address: 2, type: 'f32', order: 'CDAB' },
      { field: 'i.a.mag', function: 'input', address: 6, type: 'f32', order: 'BADC' },
      { field: 'p.total', function: 'holding', address: 100, type: 'i32', order: 'DCBA', scale: 0.1 },
      { field: 'energy_wh', function: 'holding', address: 102, type: 'u16', scale: 1000, offset: 7 },
      { field: 'breaker.q1', function: 'coil', address: 5 },
    ],
    groups: [
      { name: 'fast', interval: 50, registers: [{ field: 'freq', function: 'input', address: 20, type: 'f64' }] },
      {
        name: 'slow',
        interval: 200,
        registers: [
          { field: 'tap', function: 'input', address: 40 },
          { field: 'soc', function: 'input', address: 60 },
        ],
      },
    ],
  });
  const d = run(cfg);
  t.teardown(d.stop);
  await d.started;

  const main = await d.next('a measurement of the default group', (m) => m.v !== undefined);
  t.equal(main.device, 'meter1');
  t.equal(main.quality, 'good');
  t.same(main.v, { a: { mag: 230.5 }, b: { mag: 231.25 } });
  t.same(main.i, { a: { mag: 12.5 } });
  t.equal(main.p?.total, -1234.5, 'i32 DCBA -12345 x 0.1');
  t.equal(main['energy_wh'], 4_500_007, 'u16 4500 x 1000 + 7');
  t.same(main['breaker'], { q1: true });
  t.ok(Number.isInteger(main.ts) && Math.abs(main.ts - Date.now() * 1000) < 5e6, 'ts is integer µs near now');
  t.equal(d.counters.get('modbus_replans', { device: 'meter1' }), 1, 'the read across unmapped input 4..5 was refused once and split');
  const ok = checkMeasurement(structuredClone(main), null, limits());
  t.ok(ok.ok, `passes the pipeline's validation${ok.ok ? '' : `: ${ok.detail}`}`);
  const fast = await d.next('a measurement of the fast group', (m) => m.freq !== undefined);
  t.equal(fast.freq, 50.01);
  t.equal(fast.v, undefined, 'each group publishes its own fields');
  const slow = await d.next('a measurement of the slow group', (m) => m['tap'] !== undefined && m['soc'] !== undefined);
  t.equal(slow['tap'], 7);
  t.equal(slow.quality, 'good');

  // The fast group polls more often than the slow one, and the slow one no more often than its
  // interval allows. (On a loaded machine a fast poll can take longer than its 50 ms, so the ratio
  // of the counts is not asserted: only the order, and the slow group's bound.)
  const since = performance.now();
  const slowAt = d.counters.get('modbus_polls', { device: 'meter1', group: 'slow' });
  await waitFor('10 fast polls', () => (d.counters.get('modbus_polls', { device: 'meter1', group: 'fast' }) >= 10 ? true : undefined));
  const fastPolls = d.counters.get('modbus_polls', { device: 'meter1', group: 'fast' });
  const slowPolls = d.counters.get('modbus_polls', { device: 'meter1', group: 'slow' });
  t.ok(fastPolls > slowPolls, `the fast group polled more often (${fastPolls} against ${slowPolls})`);
  const bound = slowAt + Math.floor((performance.now() - since) / 200) + 1;
  t.ok(slowPolls <= bound, `the slow group polled at most once per 200 ms (${slowPolls} polls, at most ${bound})`);

  // Exception 2 on tap: tap invalid with its reason, soc (a separate request: the gap is 20) stays good.
  regs.fault(1, 'input', 40, { kind: 'exception', code: 2 });
  const mark = d.got.length;
  const exc = await d.next('tap marked invalid by exception 2', (m) => m.field_quality?.['tap'] === 'invalid', mark);
  t.equal(exc['tap'], 7, 'the invalid field keeps the last value read');
  t.equal(exc.field_quality?.['soc'], undefined, 'soc (another request) is still good');
  t.same(exc.reasons, ['modbus:exception:2']);
  t.equal(exc.quality, 'invalid');
  const excOk = checkMeasurement(structuredClone(exc), null, limits());
  t.ok(excOk.ok, `a measurement with invalid fields passes validation${excOk.ok ? '' : `: ${excOk.detail}`}`);
  // Meanwhile the other groups keep flowing, good.
  const fastAfter = await d.next('the fast group still good', (m) => m.freq !== undefined && m.quality === 'good', d.got.length);
  t.equal(fastAfter.freq, 50.01);

  // tap recovers: the first slow-group measurement polled after the fault is cleared has it good.
  // (Waited for before soc's fault, so that a poll already in flight with tap's exception cannot
  // be the one that also sees soc's timeout.)
  regs.fault(1, 'input', 40, null);
  const recovered = await d.next('tap good again', (m) => m['tap'] !== undefined && m.field_quality?.['tap'] === undefined, d.got.length);
  t.equal(recovered['tap'], 7, 'tap read again after the exception');
  // soc stops answering: invalid with modbus:timeout after one retry; tap stays good.
  regs.fault(1, 'input', 60, { kind: 'hang' });
  const mark2 = d.got.length;
  const to = await d.next('soc marked invalid by a timeout', (m) => m.field_quality?.['soc'] === 'invalid', mark2);
  t.same(to.reasons, ['modbus:timeout']);
  t.equal(to.field_quality?.['tap'], undefined, 'tap is still good');
  t.ok(d.counters.get('modbus_retries', { device: 'meter1' }) >= 1, 'the timeout was retried');
  t.ok(d.counters.get('modbus_errors', { device: 'meter1', reason: 'timeout' }) >= 1, 'timeouts counted by reason');
  t.ok(d.counters.get('modbus_errors', { device: 'meter1', reason: 'exception:2' }) >= 1, 'exceptions counted by reason');
  const h = d.driver.health();
  t.equal(h.info?.['connected'], true);
  t.ok((h.info?.['polls'] as number) > 0 && (h.info?.['errors'] as number) > 0, 'health counts polls and errors');
  t.same(h.devices, ['meter1']);
  regs.fault(1, 'input', 60, null);
});

t.test('a server that goes away: nothing published meanwhile, the device goes stale, and recovers when it is back', async (t) => {
  const regs = new Registers();
  regs.set(3, 'holding', 0, 42);
  let server = await startTcpServer(regs);
  const port = server.port;
  t.teardown(() => server.close());
  const cfg = config({ id: 'm2', tcp: `127.0.0.1:${port}`, unit: 3, interval: 50, timeout: 200, reconnectMinMs: 50, reconnectMaxMs: 200, registers: [{ field: 'tap', address: 0 }] });
  // The agent's own driver health, fed as the agent feeds it: every emitted measurement is a value,
  // and a sweep reads the driver's health. staleAfterMs 1 s (rather than 3 × 50 ms) keeps a loaded
  // machine's slow poll from counting as a transition.
  const counters = new Counters();
  counters.define(modbusDriver.metrics!);
  const tracker = new DriverHealthTracker(counters, () => performance.now());
  tracker.register('m2', 1000);
  const { ctx, abort } = ctxFor('m2', counters);
  const driver = new ModbusDriver(cfg);
  const got: Measurement[] = [];
  await driver.start(ctx, (m) => {
    got.push(structuredClone(m));
    tracker.value('m2', m.device);
  });
  t.teardown(async () => {
    abort.abort();
    await driver.stop(abortedDeadline());
  });
  const device = () => tracker.sweep('m2', driver.health())?.devices.find((x) => x.device === 'm2');
  await waitFor('a first good value', () => got.find((m) => m['tap'] === 42 && m.quality === 'good'));
  await waitFor('m2 fresh in the driver health', () => device()?.stale === false);

  await server.close();
  const mark = got.length;
  const stale = await waitFor('m2 to become stale while the server is gone', () => (device()?.stale ? device() : undefined), {
    timeoutMs: 10_000,
    detail: () => `${got.length - mark} published since the close, the last: ${JSON.stringify(got.at(-1))}`,
  });
  t.equal(stale.reason, 'stale');
  t.equal(counters.get('device_stale_total', { driver: 'm2' }), 1, 'the transition is counted');
  await waitFor('two polls failed as disconnected', () => counters.get('modbus_errors', { device: 'm2', reason: 'disconnected' }) >= 2);
  // A poll answered just before the close may still arrive (good, read then); nothing else may.
  t.same(
    got.slice(mark).filter((m) => m.quality !== 'good'),
    [],
    'no measurement repeating the last value under a new time stamp while the server is gone',
  );
  await waitFor('health reports disconnected', () => (driver.health().info?.['connected'] === false ? true : undefined));
  t.equal(driver.health().state, 'degraded');
  t.match(driver.health().lastError ?? '', /refused|closed|lost|connect/);

  regs.set(3, 'holding', 0, 43);
  server = await startTcpServer(regs, port);
  await waitFor('good values again after the server is back', () => got.slice(mark).find((m) => m['tap'] === 43 && m.quality === 'good'));
  t.equal(device()?.stale, false, 'the device is fresh again');
  t.equal(counters.get('devices_stale'), 0);
  t.ok(counters.get('modbus_reconnects', { device: 'm2' }) >= 1, 'reconnect counted');
  await waitFor('driver running again', () => driver.health().state === 'running');
});

t.test('a device that answers some requests and fails others: the failed fields keep their last value, invalid', async (t) => {
  // The other side of the rule above: a poll that read something publishes, and the fields whose
  // request failed in it are carried invalid (the CONTRACT's field_quality), not dropped.
  const regs = new Registers();
  regs.set(1, 'holding', 0, 5);
  regs.set(1, 'holding', 50, 6);
  const server = await startTcpServer(regs);
  t.teardown(() => server.close());
  const d = run(config({ id: 'm5', tcp: `127.0.0.1:${server.port}`, interval: 50, timeout: 200, maxGap: 0, registers: [{ field: 'a', address: 0 }, { field: 'b', address: 50 }] }));
  t.teardown(d.stop);
  await d.started;
  await d.next('both values good', (m) => m['a'] === 5 && m['b'] === 6 && m.quality === 'good');
  regs.fault(1, 'holding', 50, { kind: 'exception', code: 4 });
  const bad = await d.next('b invalid, a good', (m) => m.field_quality?.['b'] === 'invalid', d.got.length);
  t.equal(bad['a'], 5);
  t.equal(bad['b'], 6, 'the last value read, marked invalid');
  t.same(bad.reasons, ['modbus:exception:4']);
  // Both refused: the device answers, but no value is read, so nothing is published.
  // The poll in flight may have read `a` before the fault; every poll after it starts after the fault.
  const polls = () => d.counters.get('modbus_polls', { device: 'm5', group: 'default' });
  regs.fault(1, 'holding', 0, { kind: 'exception', code: 4 });
  const p0 = polls();
  await waitFor('the poll in flight at the fault to end', () => polls() >= p0 + 1);
  const mark = d.got.length;
  await waitFor('two polls with both requests refused', () => polls() >= p0 + 3);
  t.same(d.got.slice(mark), [], 'a poll that read nothing publishes nothing');
  t.equal(d.driver.health().state, 'degraded');
  t.match(d.driver.health().lastError ?? '', /exception 4/);
});

t.test('stop is prompt even with a request in flight, and nothing is emitted after', async (t) => {
  const regs = new Registers();
  regs.set(1, 'holding', 0, 1);
  regs.fault(1, 'holding', 0, { kind: 'hang' });
  const server = await startTcpServer(regs);
  t.teardown(() => server.close());
  const d = run(config({ id: 'm3', tcp: `127.0.0.1:${server.port}`, interval: 50, timeout: 5000, registers: [{ field: 'x', address: 0 }] }));
  await d.started;
  await waitFor('a request in flight', () => ((regs.reads.get(1) ?? 0) > 0 ? true : undefined));
  const t0 = Date.now();
  await d.stop();
  t.ok(Date.now() - t0 < 1000, `stop took ${Date.now() - t0} ms with a 5 s request pending`);
  t.equal(d.driver.health().state, 'stopped');
  t.equal(d.got.length, 0, 'nothing emitted');
});

t.test('a device that answers with the wrong byte count, or hangs up mid-request', async (t) => {
  // A raw Modbus TCP peer: to each request it answers with a byte count one register short, or
  // closes the connection, as `mode` says.
  let mode: 'short' | 'hangup' = 'short';
  const server = createServer((sock) => {
    sock.on('error', () => undefined);
    sock.on('data', (req) => {
      if (mode === 'hangup') return void sock.destroy();
      const tid = req.readUInt16BE(0);
      const unit = req[6]!;
      const fn = req[7]!;
      const count = req.readUInt16BE(10);
      const bytes = 2 * (count - 1);
      const res = Buffer.alloc(9 + bytes);
      res.writeUInt16BE(tid, 0);
      res.writeUInt16BE(0, 2);
      res.writeUInt16BE(3 + bytes, 4);
      res[6] = unit;
      res[7] = fn;
      res[8] = bytes;
      sock.write(res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  const regs = new Registers();
  regs.set(1, 'holding', 0, 1);
  const d = run(
    config({ id: 'm4', tcp: `127.0.0.1:${port}`, interval: 50, timeout: 300, retries: 1, reconnectMinMs: 20, reconnectMaxMs: 50, registers: [{ field: 'x', address: 0, type: 'u32' }] }),
  );
  t.teardown(d.stop);
  await d.started;
  await waitFor('a garbled answer counted', () => (d.counters.get('modbus_errors', { device: 'm4', reason: 'bad_response' }) >= 1 ? true : undefined));
  t.ok(d.counters.get('modbus_retries', { device: 'm4' }) >= 1, 'a garbled answer is retried');
  t.equal(d.got.length, 0, 'nothing published: the field was never read');
  mode = 'hangup';
  await waitFor('a hang-up mid-request counted', () => (d.counters.get('modbus_errors', { device: 'm4', reason: 'disconnected' }) >= 1 ? true : undefined));
  t.match(d.driver.health().lastError ?? '', /closed|lost|refused|connect/i);
  t.equal(d.driver.health().state, 'degraded');
});

t.test('a fast group refused every poll while a slow group reads: the device does not flap, the failing group is named', async (t) => {
  // The fast group (every 50 ms) is refused with exception 4 on every poll; the default group
  // (every 300 ms) reads. The agent's driver health runs on a clock the test moves: each slow
  // measurement arrives 300 ms after the previous one, and the device is swept just after it and
  // again 270 ms later, just before the next one is due. Before the fix the device was expected every
  // 50 ms (stale after 150 ms), so each slow interval counted a stale transition.
  const SLOW = 300;
  const regs = new Registers();
  regs.set(1, 'holding', 0, 17); // energy, the slow group
  regs.set(1, 'input', 20, 230); // v.a.mag, the fast group, refused
  regs.fault(1, 'input', 20, { kind: 'exception', code: 4 });
  let server = await startTcpServer(regs);
  const port = server.port;
  t.teardown(() => server.close());
  const cfg = config({
    id: 'm6',
    tcp: `127.0.0.1:${port}`,
    interval: SLOW,
    timeout: 500,
    reconnectMinMs: 50,
    reconnectMaxMs: 200,
    registers: [{ field: 'energy_wh', address: 0 }],
    groups: [{ name: 'fast', interval: 50, registers: [{ field: 'v.a.mag', function: 'input', address: 20 }] }],
  });
  const counters = new Counters();
  counters.define(modbusDriver.metrics!);
  let clock = 0;
  const tracker = new DriverHealthTracker(counters, () => clock);
  tracker.register('m6');
  const { ctx, abort } = ctxFor('m6', counters);
  const driver = new ModbusDriver(cfg);
  const got: Measurement[] = [];
  await driver.start(ctx, (m) => {
    got.push(structuredClone(m));
    clock += SLOW;
    tracker.value('m6', m.device);
  });
  t.teardown(async () => {
    abort.abort();
    await driver.stop(abortedDeadline());
  });
  const sweepAt = (ahead: number) => {
    clock += ahead;
    const h = tracker.sweep('m6', driver.health())?.devices.find((x) => x.device === 'm6');
    clock -= ahead;
    return h;
  };
  const polls = (group: string) => counters.get('modbus_polls', { device: 'm6', group });
  await waitFor('two polls of the fast group', () => (polls('fast') >= 2 ? true : undefined));
  const first = got.length;
  const staleSeen: number[] = [];
  for (let k = 1; k <= 5; k++) {
    await waitFor(`slow measurement ${k}`, () => (got.length >= first + k ? true : undefined));
    if (sweepAt(0)?.stale) staleSeen.push(k);
    const before = sweepAt(SLOW * 0.9);
    if (before?.stale) staleSeen.push(k);
  }
  t.same(staleSeen, [], 'never stale over five slow intervals');
  t.equal(counters.get('device_stale_total', { driver: 'm6' }), 0, 'no stale transition counted');
  t.ok(got.every((m) => m['energy_wh'] === 17 && m.v === undefined), 'only the slow group publishes');
  const device = sweepAt(0)!;
  t.equal(device.expectedIntervalMs, SLOW, 'the device is expected as often as the group that reads');
  t.equal(device.staleAfterMs, 3 * SLOW);
  const h = driver.health();
  t.equal(h.state, 'degraded', 'the driver is degraded while a group fails');
  t.match(h.lastError ?? '', /^group fast \(every 50 ms\) reads nothing: .*exception 4.*\(input 20\+1\)$/, 'lastError names the failing group and its error');
  t.equal(h.info?.['silentGroups'], 'fast');

  // The slow group refused too: no value at all, so the device is expected as often as its fastest
  // group again and goes stale after 3 × 50 ms without a value, as a meter refusing everything did.
  regs.fault(1, 'holding', 0, { kind: 'exception', code: 4 });
  const p0 = polls('default');
  await waitFor('two slow polls after the fault', () => (polls('default') >= p0 + 2 ? true : undefined));
  await waitFor('both groups named as reading nothing', () => (driver.health().info?.['silentGroups'] === 'default,fast' ? true : undefined));
  const stale = sweepAt(200)!;
  t.equal(stale.stale, true, 'stale 200 ms after the last value');
  t.equal(stale.staleAfterMs, 150);
  t.equal(counters.get('device_stale_total', { driver: 'm6' }), 1);
  t.match(driver.health().lastError ?? '', /group default \(every 300 ms\) reads nothing: .*exception 4.*; group fast \(every 50 ms\) reads nothing/);

  // Back: the slow group reads again and the device is fresh; then the server goes away altogether:
  // with the connection down the device is expected every 50 ms at once, without waiting for the
  // slow group's next poll.
  regs.fault(1, 'holding', 0, null);
  const mark = got.length;
  await waitFor('the slow group reading again', () => (got.length > mark ? true : undefined));
  t.equal(sweepAt(0)?.stale, false, 'fresh again');
  await server.close();
  await waitFor('health reports disconnected', () => (driver.health().info?.['connected'] === false ? true : undefined));
  const gone = sweepAt(200)!;
  t.equal(gone.stale, true, 'stale 200 ms after the last value with the server gone');
  t.equal(gone.staleAfterMs, 150);
  t.equal(counters.get('device_stale_total', { driver: 'm6' }), 2);
  server = await startTcpServer(regs, port);
});
