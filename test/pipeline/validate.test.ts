import t from 'tap';
import { parseMeasurement, checkMeasurement } from '../../agent/pipeline/validate.js';

const NOW = 1_764_000_000_000_000; // µs
const limits = { maxPayloadBytes: 2048, nowUs: NOW, futureToleranceUs: 300e6, pastToleranceUs: 7 * 86400e6 };
const good = {
  device: 'pmu1',
  ts: NOW - 20_000,
  quality: 'good',
  freq: 50.01,
  v: { a: { mag: 230, ang: 0 }, b: { mag: 230, ang: -120 }, c: { mag: 230, ang: 120 } },
  i: { a: { mag: 10, ang: -30 } },
};
const parse = (x: unknown, dev = 'pmu1') => parseMeasurement(typeof x === 'string' ? x : JSON.stringify(x), dev, limits);

t.test('a CONTRACT measurement is accepted as is, extra fields kept', async (t) => {
  const r = parse({ ...good, vendor: { fw: '1.2' } });
  t.ok(r.ok);
  if (r.ok) {
    t.equal(r.m.device, 'pmu1');
    t.equal(r.m.quality, 'good');
    t.same(r.m.vendor, { fw: '1.2' });
    t.equal(r.m.reasons, undefined);
  }
});

t.test('device comes from the topic when the payload has none, and must agree when it has one', async (t) => {
  const { device: _d, ...rest } = good;
  const r = parse(rest, 'meter7');
  t.ok(r.ok && r.m.device === 'meter7');
  const bad = parse(good, 'other');
  t.same(bad.ok ? null : bad.reason, 'device_mismatch');
});

t.test('each kind of bad input is rejected with its reason and a detail naming the field', async (t) => {
  const cases: [string, unknown, string, RegExp][] = [
    ['malformed JSON', '{"device": "pmu1", ', 'bad_json', /not JSON/],
    ['array', '[1,2]', 'not_object', /object/],
    ['string mag', { ...good, v: { a: { mag: '230' } } }, 'bad_type', /v\.a\.mag/],
    ['NaN as string', { ...good, freq: 'NaN' }, 'bad_type', /freq/],
    ['Infinity', '{"device":"pmu1","ts":1,"freq":1e999}', 'non_finite', /freq/],
    ['unknown phase', { ...good, v: { d: { mag: 1 } } }, 'unknown_phase', /v\.d/],
    ['unknown power phase', { ...good, p: { x: 1 } }, 'unknown_phase', /p\.x/],
    ['missing mag', { ...good, i: { a: { ang: 3 } } }, 'missing_field', /i\.a\.mag/],
    ['negative magnitude', { ...good, i: { a: { mag: -1, ang: 0 } } }, 'bad_value', /negative/],
    ['bad quality', { ...good, quality: 'great' }, 'bad_value', /quality/],
    ['fractional ts', { ...good, ts: 1.5 }, 'bad_value', /ts/],
    ['no quantity', { device: 'pmu1', ts: NOW }, 'missing_field', /no measured quantity/],
    ['reasons not strings', { ...good, reasons: [1] }, 'bad_type', /reasons/],
    ['zero frequency', { ...good, freq: 0 }, 'bad_value', /freq/],
  ];
  for (const [name, input, reason, detail] of cases) {
    const r = parse(input);
    t.equal(r.ok, false, name);
    if (!r.ok) {
      t.equal(r.reason, reason, `${name}: reason`);
      t.match(r.detail, detail, `${name}: detail`);
    }
  }
});

t.test('oversize payloads are rejected before parsing', async (t) => {
  const r = parse({ ...good, pad: 'x'.repeat(3000) });
  t.equal(r.ok ? null : r.reason, 'oversize');
});

t.test('timestamps far in the future or past are kept and flagged questionable with a reason', async (t) => {
  const fut = parse({ ...good, ts: NOW + 3600e6 });
  t.ok(fut.ok);
  if (fut.ok) {
    t.equal(fut.m.quality, 'questionable');
    t.same(fut.m.reasons, ['ts_future']);
  }
  const past = parse({ ...good, ts: NOW - 30 * 86400e6 });
  t.ok(past.ok && past.m.quality === 'questionable' && past.m.reasons?.includes('ts_past'));
  const { ts: _ts, ...noTs } = good;
  const missing = parse(noTs);
  t.ok(missing.ok);
  if (missing.ok) {
    t.equal(missing.m.ts, NOW, 'arrival time used');
    t.same(missing.m.reasons, ['ts_missing']);
  }
  // Invalid stays invalid: flagging never improves quality.
  const inv = parse({ ...good, quality: 'invalid', ts: NOW + 3600e6 });
  t.ok(inv.ok && inv.m.quality === 'invalid');
});

t.test('checkMeasurement validates driver objects the same way', async (t) => {
  const r = checkMeasurement({ device: 'x', ts: NOW, quality: 'good', v: { a: { mag: Number.NaN } } }, null, limits);
  t.equal(r.ok ? null : r.reason, 'non_finite');
  const ok = checkMeasurement({ device: 'x', ts: NOW, quality: 'good', v: { a: { mag: 1 } } }, null, limits);
  t.ok(ok.ok);
});
