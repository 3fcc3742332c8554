/**
 * Modbus RTU over a socat pty pair, with modbus-serial's ServerSerial answering on the other end:
 * two devices (units 1 and 2) configured on the same serial path share one line and never have two
 * requests on it at once, even while one unit answers slowly; a unit that does not answer times out
 * without stopping the other; a port that vanishes and a unit that stops answering publish nothing
 * meanwhile (the unit goes stale in the agent's driver health) and recover; the probe reads over RTU too.
 */
import t from 'tap';
import { join } from 'node:path';
import { tempDir } from '../helpers/agent-process.js';
import { Counters } from '../../agent/core/counters.js';
import { DriverHealthTracker } from '../../agent/core/driver-health.js';
import type { Measurement } from '../../algorithms/common/measurement.js';
import { modbusDriver, ModbusDriver, type ModbusConfig } from '../../drivers/modbus/index.js';
import { ctxFor, abortedDeadline } from '../conformance/suites.js';
import { withDefaults } from '../helpers/plugin-config.js';
import { waitFor } from '../helpers/wait.js';
import { runCli } from '../cli/run-cli.js';
import { ptyPair, Registers, startSerialServer } from './server.js';

function config(entry: Record<string, unknown>): ModbusConfig {
  const cfg = withDefaults(modbusDriver, { type: 'modbus', ...entry });
  const problems = modbusDriver.validate!(cfg);
  if (problems.length) throw new Error(problems.join('\n'));
  return cfg;
}

t.test('two units on one serial line', async (t) => {
  const pty = await ptyPair();
  t.teardown(() => pty.close());
  const regs = new Registers();
  regs.set(1, 'input', 0, 230.5, 'f32');
  regs.set(2, 'input', 0, 229.25, 'f32');
  regs.set(3, 'input', 0, 1, 'f32');
  regs.fault(1, 'input', 0, { kind: 'delay', ms: 40 }); // unit 1 answers slowly
  regs.fault(3, 'input', 0, { kind: 'hang' }); // unit 3 never answers
  const server = await startSerialServer(pty.b, regs, 19200);
  t.teardown(() => server.close());

  const counters = new Counters();
  counters.define(modbusDriver.metrics!);
  const got: Measurement[] = [];
  const drivers = [1, 2, 3].map(
    (unit) =>
      new ModbusDriver(
        config({
          id: `rtu-${unit}`,
          rtu: { path: pty.a, baud: 19200 },
          unit,
          interval: 50,
          // Units 1 and 2 get a generous timeout (a loaded test machine must not fail them); unit 3, which
          // never answers, a short one.
          timeout: unit === 3 ? 150 : 2000,
          retries: 0,
          registers: [{ field: 'v.a.mag', function: 'input', address: 0, type: 'f32' }],
        }),
      ),
  );
  const aborts: AbortController[] = [];
  for (const d of drivers) {
    const { ctx, abort } = ctxFor('rtu', counters);
    aborts.push(abort);
    await d.start(ctx, (m) => got.push(structuredClone(m)));
  }
  t.teardown(async () => {
    for (const a of aborts) a.abort();
    for (const d of drivers) await d.stop(abortedDeadline());
  });

  await waitFor(
    'five measurements from each of units 1 and 2',
    () => (got.filter((m) => m.device === 'rtu-1').length >= 5 && got.filter((m) => m.device === 'rtu-2').length >= 5 ? true : undefined),
    { timeoutMs: 15_000 },
  );
  t.equal(got.find((m) => m.device === 'rtu-1')?.v?.a?.mag, 230.5);
  t.equal(got.find((m) => m.device === 'rtu-2')?.v?.a?.mag, 229.25);
  const bad12 = got.filter((m) => m.device !== 'rtu-3' && m.quality !== 'good');
  t.same(bad12, [], 'units 1 and 2 stay good while unit 3 times out');
  await waitFor('unit 3 timeouts counted', () => (counters.get('modbus_errors', { device: 'rtu-3', reason: 'timeout' }) >= 2 ? true : undefined));
  t.equal(got.filter((m) => m.device === 'rtu-3').length, 0, 'unit 3 never answered, so it has no value to publish');
  t.equal(regs.maxConcurrentUnits, 1, 'never two requests on the line at once (server side)');
  t.equal(drivers[0]!.health().info?.['connected'], true);
  t.equal(drivers[0]!.health().lastError, undefined, "unit 3's timeouts are not unit 1's errors");
  t.match(drivers[2]!.health().lastError ?? '', /no response in time/);
});

t.test('gridedge modbus read over RTU', async (t) => {
  const pty = await ptyPair();
  t.teardown(() => pty.close());
  const regs = new Registers();
  regs.set(5, 'holding', 0x28, -123, 'i32', 'CDAB');
  const server = await startSerialServer(pty.b, regs, 9600);
  t.teardown(() => server.close());
  const r = await runCli(['modbus', 'read', '--rtu', pty.a, '--baud', '9600', '--unit', '5', '--address', '0x28', '--type', 'i32', '--order', 'CDAB', '--json']);
  t.equal(r.code, 0, r.stderr);
  t.same((JSON.parse(r.stdout) as { values: unknown }).values, [{ address: 0x28, value: -123 }]);
  const none = await runCli(['modbus', 'read', '--rtu', pty.a, '--unit', '9', '--address', '0', '--timeout', '200']);
  t.equal(none.code, 2, 'an absent unit cannot be reached');
  t.match(none.stderr, /no answer from unit 9 on .* within 200 ms — check the unit id, the baud rate/);
  const gone = await runCli(['modbus', 'read', '--rtu', '/dev/ttyGRIDEDGE-NONE', '--address', '0']);
  t.equal(gone.code, 2);
  t.match(gone.stderr, /serial port \/dev\/ttyGRIDEDGE-NONE does not exist — is the USB adapter plugged in\?/);
});

t.test('a serial port that vanishes and comes back', async (t) => {
  const link = join(tempDir('gridedge-rtu-'), 'ttyMETER');
  const regs = new Registers();
  regs.set(4, 'holding', 0, 11);
  let pty = await ptyPair(link);
  let server = await startSerialServer(pty.b, regs);
  const counters = new Counters();
  counters.define(modbusDriver.metrics!);
  const { ctx, abort } = ctxFor('rtu-4', counters);
  const d = new ModbusDriver(config({ id: 'rtu-4', rtu: { path: link }, unit: 4, interval: 50, timeout: 200, reconnectMinMs: 50, reconnectMaxMs: 200, registers: [{ field: 'tap', address: 0 }] }));
  // One teardown, in this order: the driver stops polling, the server closes its end, then socat goes.
  // (Killing socat under an open server made the server's next write fail with an uncaught EIO.)
  t.teardown(async () => {
    abort.abort();
    await d.stop(abortedDeadline());
    await server.close();
    pty.close();
  });
  const got: Measurement[] = [];
  await d.start(ctx, (m) => got.push(structuredClone(m)));
  await waitFor('a first value over the line', () => got.find((m) => m['tap'] === 11));
  // Unplug: socat exits, both ptys and the link go away.
  await server.close();
  const exited = new Promise((r) => pty.proc.once('exit', r));
  pty.close();
  await exited;
  const mark = got.length;
  await waitFor('health reports the port gone', () => (d.health().info?.['connected'] === false ? true : undefined));
  const errors = () => counters.get('modbus_errors', { device: 'rtu-4', reason: 'disconnected' }) + counters.get('modbus_errors', { device: 'rtu-4', reason: 'timeout' });
  await waitFor('two polls failed while the port is gone', () => errors() >= 2);
  t.same(
    got.slice(mark).filter((m) => m.quality !== 'good'),
    [],
    'nothing published while the port is gone (no last value under a new time stamp)',
  );
  // Plug back in at the same path.
  regs.set(4, 'holding', 0, 12);
  pty = await ptyPair(link);
  server = await startSerialServer(pty.b, regs);
  await waitFor('values again after the port came back', () => got.find((m) => m['tap'] === 12 && m.quality === 'good'), { timeoutMs: 15_000 });
  t.ok(counters.get('modbus_reconnects', { device: 'rtu-4' }) >= 1, 'reconnect counted');
  t.equal(d.health().info?.['connected'], true);
});

t.test('a unit that stops answering publishes nothing, goes stale, and recovers', async (t) => {
  const pty = await ptyPair();
  const regs = new Registers();
  regs.set(6, 'input', 0, 49.98, 'f32');
  const server = await startSerialServer(pty.b, regs, 19200);
  const counters = new Counters();
  counters.define(modbusDriver.metrics!);
  // The agent's driver health, fed as the agent feeds it (staleAfterMs 1 s).
  const tracker = new DriverHealthTracker(counters, () => performance.now());
  tracker.register('rtu-6', 1000);
  const { ctx, abort } = ctxFor('rtu-6', counters);
  const d = new ModbusDriver(config({ id: 'rtu-6', rtu: { path: pty.a, baud: 19200 }, unit: 6, interval: 50, timeout: 150, retries: 1, registers: [{ field: 'freq', function: 'input', address: 0, type: 'f32' }] }));
  t.teardown(async () => {
    abort.abort();
    await d.stop(abortedDeadline());
    await server.close();
    pty.close();
  });
  const got: Measurement[] = [];
  await d.start(ctx, (m) => {
    got.push(structuredClone(m));
    tracker.value('rtu-6', m.device);
  });
  const device = () => tracker.sweep('rtu-6', d.health())?.devices.find((x) => x.device === 'rtu-6');
  await waitFor('a first value over the line', () => got.find((m) => m.freq !== undefined && Math.abs(m.freq - 49.98) < 1e-4));
  await waitFor('rtu-6 fresh', () => device()?.stale === false);

  // The unit stops answering (the port stays open): every request times out after its retry.
  regs.fault(6, 'input', 0, { kind: 'hang' });
  const polls = () => counters.get('modbus_polls', { device: 'rtu-6', group: 'default' });
  const p0 = polls();
  await waitFor('the poll in flight at the fault to end', () => polls() >= p0 + 1, { timeoutMs: 10_000 });
  const mark = got.length;
  const stale = await waitFor('rtu-6 to become stale', () => (device()?.stale ? device() : undefined), {
    timeoutMs: 10_000,
    detail: () => `${got.length - mark} published since the fault, the last: ${JSON.stringify(got.at(-1))}`,
  });
  t.equal(stale.reason, 'stale');
  t.ok(counters.get('modbus_errors', { device: 'rtu-6', reason: 'timeout' }) >= 1, 'timeouts counted');
  t.same(got.slice(mark), [], 'nothing published while the unit does not answer');
  t.equal(d.health().state, 'degraded');
  t.equal(d.health().info?.['connected'], true, 'the port itself is still open');
  t.match(d.health().lastError ?? '', /no response in time/);

  regs.set(6, 'input', 0, 50.02, 'f32');
  regs.fault(6, 'input', 0, null);
  await waitFor('values again once the unit answers', () => got.slice(mark).find((m) => m.freq !== undefined && Math.abs(m.freq - 50.02) < 1e-4 && m.quality === 'good'), { timeoutMs: 10_000 });
  t.equal(device()?.stale, false, 'fresh again');
  t.equal(counters.get('device_stale_total', { driver: 'rtu-6' }), 1, 'one stale transition');
});
