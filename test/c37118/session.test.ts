/**
 * The protocol session without sockets (injected clock): requests and their timeouts (CFG-3 → CFG-2
 * fallback, re-sends, reconnect after repeated silence), CFG-3 sent in fragments, fragments out of
 * sequence, a command frame from the device, frames for another IDCODE, UDP datagrams.
 */
import t from 'tap';
import { C37Session, type SessionOptions } from '../../drivers/c37118/session.js';
import type { Measurement } from '../../algorithms/common/measurement.js';
import { Bytes, frame } from './bytes.js';
import { PmuServer, threePhase } from './pmu-server.js';

function make(o: Partial<SessionOptions> = {}) {
  let now = 1_000;
  const sent: string[] = [];
  const rejected: string[] = [];
  const ms: Measurement[] = [];
  const configs: string[] = [];
  const s = new C37Session(
    { id: 'd', idcode: 7, config: 'auto', phasors: {}, maxTimeErrorUs: 1000, configTimeoutMs: 100, maxConfigTries: 2, dataTimeoutMs: 1000, sendDataOn: true, ...o },
    { send: (_f, what) => sent.push(what), data: (m) => ms.push(...m), reject: (r) => rejected.push(r), config: (c, changed) => configs.push(`${c.kind}${changed ? ' changed' : ''}`) },
    () => now,
  );
  return { s, sent, rejected, ms, configs, advance: (d: number) => (now += d) };
}

t.test('requests: CFG-3, fallback to CFG-2, re-send, reconnect', async (t) => {
  const x = make();
  x.s.connected();
  t.same(x.sent, ['sendCfg3']);
  x.advance(101);
  t.equal(x.s.tick(), 'ok');
  t.same(x.sent, ['sendCfg3', 'sendCfg2'], 'CFG-3 unanswered: CFG-2');
  x.advance(101);
  t.equal(x.s.tick(), 'ok');
  t.same(x.sent.slice(2), ['sendCfg2'], 'unanswered: sent again');
  x.advance(101);
  t.equal(x.s.tick(), 'reconnect', 'after maxConfigTries unanswered requests');
  const y = make({ config: 'cfg2' });
  y.s.connected();
  y.advance(1001);
  t.equal(y.s.tick(), 'reconnect', 'nothing at all for dataTimeoutMs');
});

t.test('auto: a device that has answered CFG-3 is only slow when it does not answer one; each connection asks CFG-3 first', async (t) => {
  const srv = new PmuServer({ idcode: 7, dataRate: 50, blocks: [threePhase(1, 15, { components: true })] });
  const x = make({ maxConfigTries: 3 });
  x.s.connected();
  x.s.push(srv.config('cfg3'));
  t.same(x.sent, ['sendCfg3', 'dataOn']);
  // The link goes quiet; the driver reconnects and asks again.
  x.s.disconnected();
  x.s.connected();
  x.advance(101);
  t.equal(x.s.tick(), 'ok');
  x.advance(101);
  t.equal(x.s.tick(), 'ok');
  t.same(x.sent.slice(2), ['sendCfg3', 'sendCfg3', 'sendCfg3'], 'CFG-3 asked for again, no fallback to CFG-2');
  x.advance(101);
  t.equal(x.s.tick(), 'reconnect', 'after maxConfigTries unanswered requests');
  // Still no answer on the next connection (the PMU was replaced by one without CFG-3): CFG-2 again.
  x.s.disconnected();
  x.s.connected();
  x.advance(101);
  x.s.tick();
  t.same(x.sent.slice(-2), ['sendCfg3', 'sendCfg2'], 'after a connection of unanswered CFG-3 requests, the next one falls back to CFG-2');

  // A device that never answered CFG-3 falls back on one connection, and is asked CFG-3 first on the next.
  const y = make();
  y.s.connected();
  y.advance(101);
  y.s.tick();
  t.same(y.sent, ['sendCfg3', 'sendCfg2']);
  y.s.disconnected();
  y.s.connected();
  t.same(y.sent.slice(2), ['sendCfg3'], 'the next connection asks for CFG-3 first');
});

t.test('auto: a late CFG-2 for the same stream does not replace the CFG-3 in force; a changed one does', async (t) => {
  const srv = new PmuServer({ idcode: 7, dataRate: 50, blocks: [threePhase(1, 15, { components: true })] });
  const x = make();
  x.s.connected();
  x.advance(101);
  x.s.tick();
  t.same(x.sent, ['sendCfg3', 'sendCfg2'], 'CFG-3 slow: CFG-2 asked for');
  x.s.push(srv.config('cfg3'));
  x.s.push(srv.config('cfg2'));
  t.same(x.configs, ['cfg3'], 'the late CFG-3 is in force and the CFG-2 after it changes nothing');
  x.s.push(srv.dataFrame(0));
  t.ok(x.ms[0]?.v?.a, 'phasors still mapped by the CFG-3 phasor types (v.a)');
  srv.o.blocks[0]!.cfgcnt = 2;
  x.s.push(srv.config('cfg2'));
  t.same(x.configs, ['cfg3', 'cfg2 changed'], 'a CFG-2 with another CFGCNT is a new configuration and replaces it');
});

t.test('CFG-3 in fragments through the stream, then data', async (t) => {
  const srv = new PmuServer({ idcode: 7, dataRate: 50, blocks: [threePhase(1, 15, { components: true })] });
  const whole = srv.config('cfg3');
  const body = whole.subarray(16, whole.length - 2);
  const half = body.length >> 1;
  const f1 = frame('cfg3', 7, 1, 0, new Bytes().u16(1).raw(body.subarray(0, half)));
  const f2 = frame('cfg3', 7, 1, 0, new Bytes().u16(0xffff).raw(body.subarray(half)));
  const x = make();
  x.s.connected();
  x.s.push(Buffer.concat([f2]));
  t.same(x.rejected, ['fragmented_config'], 'a last fragment without a first is refused');
  x.s.push(Buffer.concat([f1, f2]));
  t.same(x.configs, ['cfg3'], 'the joined configuration is in force');
  t.same(x.sent, ['sendCfg3', 'dataOn']);
  x.s.push(srv.dataFrame(0));
  t.equal(x.ms.length, 1);
  t.equal(x.ms[0]!.device, 'd');
  t.ok(x.ms[0]!.v?.a, 'mapped by the CFG-3 phasor type');
});

t.test('blockNames idcode: a one-block stream publishes as <id>-<block IDCODE>', async (t) => {
  const srv = new PmuServer({ idcode: 7, dataRate: 50, blocks: [threePhase(31, 0)] });
  const x = make({ config: 'cfg2', blockNames: 'idcode' });
  x.s.connected();
  x.s.push(srv.config('cfg2'));
  x.s.push(srv.dataFrame(0));
  t.equal(x.ms[0]?.device, 'd-31');
});

t.test('other frames: a command from the device, another IDCODE, datagrams', async (t) => {
  const srv = new PmuServer({ idcode: 7, dataRate: 50, blocks: [threePhase(1, 0)] });
  const x = make({ config: 'cfg2' });
  x.s.connected();
  x.s.push(frame('command', 7, 1, 0, new Bytes().u16(2)));
  x.s.push(frame('header', 8, 1, 0, [65]));
  t.same(x.rejected, ['unexpected_frame', 'idcode_mismatch']);
  x.s.datagram(srv.config('cfg2'));
  x.s.datagram(srv.dataFrame(0));
  t.equal(x.ms.length, 1, 'one datagram, one frame');
  x.s.datagram(Buffer.concat([srv.dataFrame(1), srv.dataFrame(2)]));
  t.equal(x.rejected.at(-1), 'bad_length', 'two frames in one datagram are refused');
  x.s.datagram(srv.dataFrame(3).subarray(0, 20));
  t.equal(x.rejected.at(-1), 'truncated', 'a cut datagram');
});
