/**
 * The c37118 driver against the test PMU server over real sockets: start-up (CFG-3, or CFG-2 when
 * CFG-3 is not answered, then data on), device naming, phasor mapping, analogs and digitals as values,
 * STAT to quality, integer/float and polar/rectangular streams, multi-PMU alignment, configuration
 * changes mid-stream, dropped frames, garbage, a connection closed mid-frame, data before the
 * configuration, slow answers, an unsynchronised clock, and UDP. Every measurement it emits must
 * pass the pipeline validation.
 */
import t, { type Test } from 'tap';
import { Counters } from '../../agent/core/counters.js';
import type { Measurement } from '../../algorithms/common/measurement.js';
import { checkMeasurement } from '../../agent/pipeline/validate.js';
import { c37118Driver, type C37118Config, C37118Driver } from '../../drivers/c37118/index.js';
import { withDefaults } from '../helpers/plugin-config.js';
import { waitFor } from '../helpers/wait.js';
import { refusedPort } from '../helpers/ports.js';
import { ctxFor } from '../conformance/suites.js';
import { PmuServer, threePhase, type PmuServerOptions } from './pmu-server.js';

const TIMEOUT = { timeoutMs: 10_000 };

interface Run {
  server: PmuServer;
  driver: C37118Driver;
  ms: Measurement[];
  counters: Counters;
  count(name: string, labels?: Record<string, string>): number;
  /** Validation failures of emitted measurements. */
  bad: string[];
}

async function run(t: Tap, server: PmuServerOptions, cfg: Partial<C37118Config> = {}): Promise<Run> {
  const srv = await new PmuServer(server).start();
  const config = withDefaults(c37118Driver, { type: 'c37118', id: 'pmu9', host: '127.0.0.1', port: srv.port, idcode: server.idcode, configTimeoutMs: 300, reconnectMinMs: 50, ...cfg });
  t.same(c37118Driver.validate!(config), [], 'config is valid');
  const driver = c37118Driver.create(config) as C37118Driver;
  const { ctx, counters } = ctxFor(config.id);
  const ms: Measurement[] = [];
  const limits = { maxPayloadBytes: 1 << 20, nowUs: Date.now() * 1000, futureToleranceUs: 3.6e9, pastToleranceUs: 3.6e9 };
  const bad: string[] = [];
  await driver.start(ctx, (m) => {
    const r = checkMeasurement(structuredClone(m), null, limits);
    if (!r.ok) bad.push(`${r.reason}: ${r.detail}`);
    ms.push(m);
  });
  t.teardown(async () => {
    await driver.stop(AbortSignal.abort());
    await srv.close();
  });
  const count = (name: string, labels?: Record<string, string>): number => (labels ? counters.get(name, { driver: config.id, ...labels }) : counters.total(name));
  return { server: srv, driver, ms, counters, count, bad };
}
type Tap = Test;

const near = (a: number | undefined, b: number, tol: number): boolean => a !== undefined && Math.abs(a - b) <= tol;

t.test('CFG-3, float polar: start-up, mapping by phasor type, values', async (t) => {
  const r = await run(t, { idcode: 7734, dataRate: 50, blocks: [threePhase(7734, 15, { components: true, names: ['U1', 'U2', 'U3', 'J1', 'J2', 'J3'] })] });
  await waitFor('3 measurements', () => (r.ms.length >= 3 ? true : undefined), TIMEOUT);
  t.same(r.server.commands.slice(0, 2), [6, 2], 'asked for CFG-3, then data on');
  const m = r.ms[0]!;
  t.equal(m.device, 'pmu9', 'one PMU block publishes as the driver id');
  t.equal(m.quality, 'good');
  t.equal(m.ts % 20_000, 0, 'time stamps on the 50 frames/s grid, in µs');
  t.ok(near(m.v?.a?.mag, 230, 1e-3) && near(m.v?.a?.ang, 0, 1e-3), 'U1 (phase A voltage by CFG-3 type) is v.a');
  t.ok(near(m.v?.c?.mag, 232, 1e-3) && near(m.v?.c?.ang, 120, 1e-3), 'v.c');
  t.ok(near(m.i?.b?.mag, 104, 1e-3) && near(m.i?.b?.ang, -150, 1e-3), 'J2 is i.b');
  t.ok(near(m.freq, 50.012, 1e-4) && near(m.rocof, 0.05, 1e-6), 'freq and rocof');
  t.same(m.analog, { TEMP_C: 21.5 }, 'analog named after its channel');
  t.same(m.digital, { BRK_Q1: true, ALARM: false }, 'digital bits named after their channels');
  t.equal(m.stat, 0, 'the STAT word is kept');
  const h = r.driver.health();
  t.equal(h.state, 'running');
  t.same(h.devices, ['pmu9']);
  t.equal(h.info?.config, 'cfg3');
  t.same(r.bad.slice(0, 5), [], 'every measurement passed the pipeline validation');
});

t.test('CFG-3 not answered: CFG-2, two integer rectangular PMUs, names, alignment', async (t) => {
  const blocks = [threePhase(101, 0), threePhase(102, 0, { names: ['Va', 'vb', 'VC', 'ia', 'IB', 'ic'] })];
  const r = await run(t, { idcode: 900, dataRate: 50, cfg3: false, blocks }, { alignMs: 200 });
  await waitFor('10 measurements', () => (r.ms.length >= 10 ? true : undefined), TIMEOUT);
  t.same(r.server.commands.slice(0, 3), [6, 5, 2], 'CFG-3 unanswered, then CFG-2, then data on');
  const devices = [...new Set(r.ms.map((m) => m.device))].sort();
  t.same(devices, ['pmu9-101', 'pmu9-102'], 'several blocks publish as <id>-<block IDCODE>');
  const m = r.ms.find((x) => x.device === 'pmu9-102')!;
  t.ok(near(m.v?.b?.mag, 231, 0.01) && near(m.i?.c?.ang, 90, 0.01), 'names matched case-insensitively, integers scaled by PHUNIT');
  // Aligned: both blocks of a time stamp come out together.
  const byTs = new Map<number, number>();
  for (const x of r.ms) byTs.set(x.ts, (byTs.get(x.ts) ?? 0) + 1);
  t.ok([...byTs.values()].slice(0, -1).every((n) => n === 2), 'each time stamp group holds both PMUs');
  t.equal(r.count('c37118_absent'), 0, 'no PMU absent');
  t.same(r.bad.slice(0, 5), [], 'every measurement passed the pipeline validation');
});

t.test('explicit phasor map, STAT quality, unsynchronised clock', async (t) => {
  const b = threePhase(5, 3, { names: ['UL1', 'UL2', 'UL3', 'IL1', 'IL2', 'IL3'], stat: 0x2000 });
  const r = await run(t, { idcode: 5, dataRate: 25, blocks: [b], cfg3: false }, { config: 'cfg2', phasors: { UL1: 'v.a', IL3: 'i.c' } });
  await waitFor('a measurement', () => r.ms[0], TIMEOUT);
  const m = r.ms[0]!;
  t.ok(near(m.v?.a?.mag, 230, 1e-3), 'UL1 mapped to v.a by the explicit map');
  t.ok(m.i?.c, 'IL3 mapped to i.c');
  t.ok((m.phasor as Record<string, unknown>)?.UL2, 'unmapped channels are values under phasor.<channel>');
  t.equal(m.quality, 'questionable', 'sync lost is questionable');
  t.ok(m.reasons?.includes('clock_unsync') && m.reasons.includes('stat:sync_lost'), `reasons ${m.reasons}`);
  b.stat = 0xc000;
  const n = r.ms.length;
  await waitFor('a data-error measurement', () => r.ms.slice(n).find((x) => x.quality === 'invalid'), TIMEOUT);
  t.pass('data error is invalid');
  b.stat = 0;
  r.server.o.timeQuality = 0x0b;
  const n2 = r.ms.length;
  const u = await waitFor('a measurement with the clock unlocked', () => r.ms.slice(n2).find((x) => x.reasons?.includes('time:unlocked')), TIMEOUT);
  t.equal(u.quality, 'questionable', 'time quality code 0xB (10 s) is beyond 1 ms: questionable');
  t.same(r.bad.slice(0, 5), [], 'every measurement passed the pipeline validation');
});

t.test('configuration change mid-stream, dropped frames, garbage, close mid-frame', async (t) => {
  const blk = threePhase(7, 0);
  const r = await run(t, { idcode: 7, dataRate: 50, blocks: [blk], auto: false }, { config: 'cfg2' });
  await waitFor('data on', () => (r.server.dataOn ? true : undefined), TIMEOUT);
  r.server.sendData(3);
  await waitFor('3 measurements', () => (r.ms.length >= 3 ? true : undefined), TIMEOUT);

  // STAT bit 10: the driver asks for the configuration again.
  const cmds = r.server.commands.length;
  r.server.configChangePending = true;
  r.server.sendData(1);
  await waitFor('a new CFG-2 request', () => (r.server.commands.slice(cmds).includes(5) ? true : undefined), TIMEOUT);
  r.server.configChangePending = false;

  // The layout changes: frames contradict the old configuration until the new one arrives.
  blk.phasors = blk.phasors.slice(0, 3);
  blk.cfgcnt = 2;
  const before = r.ms.length;
  r.server.sendData(1);
  await waitFor('size_mismatch counted', () => (r.count('c37118_rejected', { reason: 'size_mismatch' }) >= 1 ? true : undefined), TIMEOUT);
  await waitFor('the new configuration', () => (r.count('c37118_config_changes') >= 1 ? true : undefined), TIMEOUT);
  r.server.sendData(2);
  await waitFor('measurements in the new layout', () => (r.ms.slice(before).filter((m) => !m.i).length >= 2 ? true : undefined), TIMEOUT);
  t.pass('the new configuration decodes the new frames (no currents any more)');

  // Three frames skipped in the time stamp sequence.
  // (The frame refused for its size already counts as one missing frame.)
  const missing0 = r.count('c37118_missing', { device: 'pmu9' });
  t.equal(missing0, 1, 'the frame refused for its size is missing from the sequence');
  r.server.skip = 3;
  r.server.sendData(1);
  await waitFor('3 more missing frames', () => (r.count('c37118_missing', { device: 'pmu9' }) >= missing0 + 3 ? true : undefined), TIMEOUT);
  t.equal(r.count('c37118_missing', { device: 'pmu9' }) - missing0, 3, 'exactly the skipped frames are missing');

  // Garbage between frames.
  r.server.sendRaw(Buffer.from('not a frame at all'));
  const n = r.ms.length;
  r.server.sendData(1);
  await waitFor('data after garbage', () => (r.ms.length > n ? true : undefined), TIMEOUT);
  t.ok(r.count('c37118_rejected', { reason: 'garbage' }) >= 1, 'garbage counted');

  // Half a frame, then the connection closes: counted, reconnected, data again.
  r.server.closeMidFrame();
  await waitFor('truncated counted', () => (r.count('c37118_rejected', { reason: 'truncated' }) >= 1 ? true : undefined), TIMEOUT);
  await waitFor('reconnected and data on again', () => (r.count('c37118_reconnects') >= 1 && r.server.dataOn && r.server.clients.size === 1 ? true : undefined), TIMEOUT);
  const n2 = r.ms.length;
  r.server.sendData(1);
  await waitFor('data after the reconnect', () => (r.ms.length > n2 ? true : undefined), TIMEOUT);
  t.pass('data flows after the reconnect');
  t.same(r.bad.slice(0, 5), [], 'every measurement passed the pipeline validation');
});

t.test('data before any configuration, slow answers', async (t) => {
  const r = await run(t, { idcode: 8, dataRate: 50, blocks: [threePhase(8, 15)], answerDelayMs: 400, auto: false }, { config: 'cfg2', configTimeoutMs: 150 });
  await waitFor('a client', () => (r.server.clients.size ? true : undefined), TIMEOUT);
  r.server.sendData(1);
  await waitFor('no_config counted', () => (r.count('c37118_rejected', { reason: 'no_config' }) >= 1 ? true : undefined), TIMEOUT);
  await waitFor('data on after the slow answer', () => (r.server.dataOn ? true : undefined), TIMEOUT);
  t.ok(r.server.commands.filter((c) => c === 5).length >= 2, 'the unanswered request was sent again');
  r.server.sendData(2);
  await waitFor('measurements', () => (r.ms.length >= 2 ? true : undefined), TIMEOUT);
  t.pass('measurements after a slow configuration');
  t.same(r.bad.slice(0, 5), [], 'every measurement passed the pipeline validation');
});

t.test('UDP: data on udpPort, commands over TCP', async (t) => {
  const r = await run(t, { idcode: 44, dataRate: 50, blocks: [threePhase(44, 15)], auto: false }, { transport: 'udp', udpPort: 0, config: 'cfg2' });
  const port = r.driver.udpPorts()[0]!;
  t.ok(port > 0, `bound UDP port ${port}`);
  t.equal(r.driver.health().info?.udpPort, port, 'health shows the UDP port');
  r.server.o.udpPort = port;
  await waitFor('data on', () => (r.server.dataOn ? true : undefined), TIMEOUT);
  // Datagrams may be lost on a busy machine: send until some arrive.
  await waitFor('measurements over UDP', () => {
    r.server.sendData(1);
    return r.ms.length >= 3 ? true : undefined;
  }, { timeoutMs: 10_000, intervalMs: 20 });
  t.ok(near(r.ms[0]!.v?.a?.mag, 230, 1e-3), 'decoded from datagrams');
  t.same(r.bad.slice(0, 5), [], 'every measurement passed the pipeline validation');
});

t.test('a PMU that cannot be reached: the driver says degraded, not starting, for as long as it lasts', async (t) => {
  const port = await refusedPort();
  const config = withDefaults(c37118Driver, { type: 'c37118', id: 'pmu-down', host: '127.0.0.1', port, idcode: 1, reconnectMinMs: 20, reconnectMaxMs: 40 });
  const driver = c37118Driver.create(config) as C37118Driver;
  const { ctx } = ctxFor(config.id);
  await driver.start(ctx, () => undefined);
  t.teardown(() => driver.stop(AbortSignal.abort()));
  const h = await waitFor('two failed connection attempts', () => {
    const x = driver.health();
    return Number(x.info?.reconnects) >= 2 && x;
  }, TIMEOUT);
  t.equal(h.state, 'degraded', `state after ${h.info?.reconnects} failed attempts: ${h.lastError}`);
  t.match(h.lastError, /ECONNREFUSED/, 'with the reason');
});
