/**
 * The device limit over months (agent/pipeline/pipeline.ts): `pipeline.maxDevices` bounds the
 * devices the agent keeps, and a new device beyond it is rejected. Devices come and go over a
 * gateway's life (meters replaced, drivers renamed by a reload, a client that once published under
 * wrong names): once the limit is reached, a device silent for over an hour is forgotten to make
 * room for a new one, so the limit does not reject live devices for good. Devices that are all still
 * reporting keep the limit as it was (a flood of new names is still rejected).
 */
import t from 'tap';
import pino from 'pino';
import type { Measurement } from '../../algorithms/common/measurement.js';
import { Counters } from '../../agent/core/counters.js';
import { Pipeline } from '../../agent/pipeline/pipeline.js';

const HOUR = 3600_000;

function rig(maxDevices: number) {
  let nowMs = 1_000_000;
  const counters = new Counters();
  const p = new Pipeline({
    log: pino({ level: 'silent' }),
    counters,
    processors: [],
    aggregators: [],
    buffer: null,
    storeRaw: () => false,
    publish: () => undefined,
    limits: { maxPayloadBytes: 65536, futureToleranceS: 5, pastToleranceS: 3600, maxDevices },
    clock: () => nowMs,
  });
  const emit = (device: string) => p.emit({ device, ts: Date.now() * 1000, quality: 'good', freq: 50 } as Measurement, 'drv');
  const rejected = () => (counters.snapshot()['rejected'] as Record<string, number> | undefined)?.['reason=too_many_devices'] ?? 0;
  return { p, counters, emit, rejected, advance: (ms: number) => (nowMs += ms) };
}

t.test('at the limit, devices silent for over an hour make room for new ones', async (t) => {
  const r = rig(3);
  for (const d of ['old1', 'old2', 'live']) t.equal(await r.emit(d), 'accepted', `${d} accepted`);
  t.equal(await r.emit('new1'), 'rejected', 'a fourth device is rejected while the three report');
  r.advance(HOUR + 60_000);
  t.equal(await r.emit('live'), 'accepted', 'live keeps reporting');
  t.equal(await r.emit('new1'), 'accepted', 'after an hour of silence of old1 and old2, a new device is taken');
  t.equal(await r.emit('new2'), 'accepted', 'and another one');
  t.same([...r.p.latestByDevice().keys()].sort(), ['live', 'new1', 'new2'], 'the silent ones are forgotten, the live one kept');
  t.equal(await r.emit('new3'), 'rejected', 'all three report: the limit holds');
  t.equal(r.rejected(), 2, 'two rejections counted');
  t.same(r.counters.snapshot()['devices_forgotten'], 2, 'forgotten devices counted');
  t.same(r.counters.uncatalogued(), [], 'every counter is in the catalogue');
});
