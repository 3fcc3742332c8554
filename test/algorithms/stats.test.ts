import t from 'tap';
import type { Measurement, Quality } from '../../algorithms/common/measurement.js';
import { WindowedStats, parseWindow, windowStart, compileFieldPath } from '../../algorithms/stats/index.js';
import type { StatsMessage } from '../../algorithms/stats/index.js';
import { prng } from '../../algorithms/common/prng.js'; // mulberry32, seeded: failures reproduce
import { computePower } from '../../algorithms/power/index.js';
import { qualityOf } from '../../algorithms/common/field-quality.js';

const S = 1_000_000; // µs per second
const T0 = 1764000000000000; // a multiple of 10 s, 1 min and 10 min (µs)


const meas = (device: string, ts: number, extra: Partial<Measurement> = {}, quality: Quality = 'good'): Measurement =>
  ({ device, ts, quality, ...extra }) as Measurement;

const rel = (got: number | undefined, want: number): number =>
  got === undefined ? Infinity : Math.abs(got - want) / Math.max(1, Math.abs(want));

t.test('parseWindow: durations in µs, clear errors', async (t) => {
  t.equal(parseWindow('10s'), 10 * S);
  t.equal(parseWindow('1m'), 60 * S);
  t.equal(parseWindow('10min'), 600 * S);
  t.equal(parseWindow('1h'), 3600 * S);
  t.equal(parseWindow('500ms'), 500_000);
  for (const bad of ['10x', '', '0s', '-1s', 'ten seconds'])
    t.throws(() => parseWindow(bad), new RegExp(`window ${JSON.stringify(bad)}: must be a duration`), `rejects ${JSON.stringify(bad)}`);
  t.throws(() => parseWindow('0.0001ms'), /whole number of microseconds/);
});

t.test('windowStart aligns to the epoch, [start, start + len)', async (t) => {
  t.equal(windowStart(T0, 10 * S), T0);
  t.equal(windowStart(T0 + 10 * S - 1, 10 * S), T0, 'last µs still in the window');
  t.equal(windowStart(T0 + 10 * S, 10 * S), T0 + 10 * S, 'end belongs to the next window');
  t.equal(windowStart(T0 + 59 * S, 60 * S), T0);
  t.equal(windowStart(T0 + 601 * S, 600 * S), T0 + 600 * S);
  t.equal(windowStart(-1, 10 * S), -10 * S, 'before the epoch too');
});

t.test('compileFieldPath reads finite numbers and booleans (as 1/0) only', async (t) => {
  const m = { p: { total: 5 }, v: { a: { mag: 230 } }, freq: 50, bad: { x: 'NaN' }, inf: Infinity };
  t.equal(compileFieldPath('p.total')(m), 5);
  t.equal(compileFieldPath('v.a.mag')(m), 230);
  t.equal(compileFieldPath('freq')(m), 50);
  t.ok(Number.isNaN(compileFieldPath('bad.x')(m)), 'string is not a number');
  t.ok(Number.isNaN(compileFieldPath('inf')(m)), 'Infinity skipped');
  t.ok(Number.isNaN(compileFieldPath('v.b.mag')(m)), 'missing path');
  t.ok(Number.isNaN(compileFieldPath('a.b.c.d.e')(m)), 'long missing path');
  t.equal(compileFieldPath('a.b.c.d')({ a: { b: { c: { d: 7 } } } }), 7);
  t.throws(() => compileFieldPath('p..total'), /field "p\.\.total": has a bad segment ""/);
  // Booleans count as 1 (true) and 0 (false); strings, arrays and objects are not samples.
  const vals = { breaker: { q1: true, q2: false }, mode: 'auto', curve: [1, 2], nested: { x: 1 } };
  t.equal(compileFieldPath('breaker.q1')(vals), 1);
  t.equal(compileFieldPath('breaker.q2')(vals), 0);
  t.ok(Number.isNaN(compileFieldPath('mode')(vals)), 'string skipped');
  t.ok(Number.isNaN(compileFieldPath('curve')(vals)), 'array skipped');
  t.ok(Number.isNaN(compileFieldPath('curve.0')(vals)), 'no stepping into arrays');
  t.ok(Number.isNaN(compileFieldPath('nested')(vals)), 'object skipped');
  // Only own properties: "toString.length" would otherwise read Object.prototype.toString.length (0).
  t.ok(Number.isNaN(compileFieldPath('toString.length')({})), 'inherited function not read');
  t.ok(Number.isNaN(compileFieldPath('soc')(Object.create({ soc: 5 }) as object)), 'inherited value not read');
  const odd = JSON.parse('{"__proto__":{"x":3}}') as object;
  t.equal(compileFieldPath('__proto__.x')(odd), 3, 'a field named __proto__ is read as data');
});

t.test('constructor names every bad option', async (t) => {
  let msg = '';
  try {
    new WindowedStats({ windows: ['10s', '10x', '10s'], fields: ['p.total', 'a b'], rmsFields: ['.x'], graceMs: -1 });
  } catch (e) {
    msg = (e as Error).message;
  }
  t.match(msg, /windows\[1\]: window "10x": must be a duration/);
  t.match(msg, /windows\[2\]: "10s" is listed twice/);
  t.match(msg, /fields\[1\]: has a bad segment "a b"/);
  t.match(msg, /rmsFields\[0\]: has a bad segment ""/);
  t.match(msg, /graceMs: must be a number ≥ 0, got -1/);
  t.throws(() => new WindowedStats({ windows: [], fields: [], graceMs: 0 }), /windows: must be a non-empty list/);
});

t.test('all statistics against an independent two-pass computation (seeded random data)', async (t) => {
  const rnd = prng(42);
  const ws = new WindowedStats({ windows: ['10s'], fields: ['p.total', 'v.a.mag'], rmsFields: ['v.a.mag'], graceMs: 0 });
  // Large offset with small spread: a naive Σx² − n·mean² variance would lose every digit here.
  const n = 5000;
  const samples: { ts: number; p: number; v: number }[] = [];
  for (let k = 0; k < n; k++) samples.push({ ts: T0 + k * 2000 + 1, p: 1e6 + rnd() * 10 - 5, v: 230 + (rnd() - 0.5) * 4 });
  // Feed them in a shuffled order (Fisher–Yates with the same PRNG).
  const order = samples.slice();
  for (let k = order.length - 1; k > 0; k--) {
    const j = Math.floor(rnd() * (k + 1));
    [order[k], order[j]] = [order[j]!, order[k]!];
  }
  const results = new Set(order.map((s) => ws.add(meas('d', s.ts, { p: { total: s.p }, v: { a: { mag: s.v } } })).result));
  t.same([...results], ['ok'], 'every sample accepted');
  const [w, ...rest] = ws.push(T0 + 10 * S);
  t.equal(rest.length, 0, 'one window');

  const twoPass = (xs: number[]) => {
    let sum = 0;
    for (const x of xs) sum += x;
    const mean = sum / xs.length;
    let ss = 0, sq = 0;
    for (const x of xs) { ss += (x - mean) ** 2; sq += x * x; }
    return { count: xs.length, sum, mean, stdev: Math.sqrt(ss / (xs.length - 1)), min: Math.min(...xs), max: Math.max(...xs), rms: Math.sqrt(sq / xs.length) };
  };
  const byTs = samples.slice().sort((a, b) => a.ts - b.ts);
  for (const [name, pick] of [['p.total', (s: (typeof samples)[0]) => s.p], ['v.a.mag', (s: (typeof samples)[0]) => s.v]] as const) {
    const ref = twoPass(samples.map(pick));
    const got = w!.fields[name]!;
    t.equal(got.count, ref.count, `${name} count`);
    t.equal(got.min, ref.min, `${name} min`);
    t.equal(got.max, ref.max, `${name} max`);
    t.ok(rel(got.mean, ref.mean) < 1e-13, `${name} mean ${got.mean} vs ${ref.mean}`);
    t.ok(rel(got.sum, ref.sum) < 1e-13, `${name} sum ${got.sum} vs ${ref.sum}`);
    t.ok(Math.abs(got.stdev! - ref.stdev) / ref.stdev < 1e-9, `${name} stdev ${got.stdev} vs ${ref.stdev}`);
    t.equal(got.first, pick(byTs[0]!), `${name} first by timestamp`);
    t.equal(got.last, pick(byTs[byTs.length - 1]!), `${name} last by timestamp`);
    if (name === 'v.a.mag') t.ok(rel(got.rms, ref.rms) < 1e-13, `rms ${got.rms} vs ${ref.rms}`);
    else t.equal(got.rms, undefined, 'no rms for a field not in rmsFields');
  }
  t.equal(w!.count, n);
  t.equal(w!.quality, 'good');
  t.same(JSON.parse(JSON.stringify(w)), w, 'plain JSON data');
});

t.test('RMS aggregation per IEC 61000-4-30', async (t) => {
  // IEC 61000-4-30:2015, 4.5 (aggregation over time intervals): the aggregated value is the square root
  // of the arithmetic mean of the squared input values. Three 10/12-cycle values 229, 230, 231 V:
  // √((229² + 230² + 231²)/3) = √(158702/3) = 230.001449..., while the arithmetic mean is 230.
  const ws = new WindowedStats({ windows: ['3s'], fields: [], rmsFields: ['v.a.mag'], graceMs: 0 });
  [229, 230, 231].forEach((v, k) => ws.add(meas('pq', T0 + k * 200_000, { v: { a: { mag: v } } })));
  const [w] = ws.push(T0 + 3 * S);
  const f = w!.fields['v.a.mag']!;
  t.ok(Math.abs(f.rms! - Math.sqrt(158702 / 3)) < 1e-12, `rms ${f.rms}`);
  t.ok(Math.abs(f.rms! - 230.001449) < 1e-6);
  t.equal(f.mean, 230);
  t.equal(f.stdev, 1, 'sample stdev of 229, 230, 231 is 1 (n − 1)');
});

t.test('Telegraf basicstats example: 1 and 3 give mean 2, stdev √2; one sample has no stdev', async (t) => {
  // The basicstats README's example output: load1 values 1 and 3 → mean=2, s2=2, stdev=1.414...
  const ws = new WindowedStats({ windows: ['30s'], fields: ['load1'], graceMs: 0 });
  ws.add(meas('h', T0 + 10 * S, { load1: 1 }));
  ws.add(meas('h', T0 + 20 * S, { load1: 3 }));
  ws.add(meas('h', T0 + 40 * S, { load1: 5 }));
  const [a, b] = ws.push(T0 + 60 * S);
  t.same(a!.fields.load1, { count: 2, min: 1, max: 3, mean: 2, stdev: Math.SQRT2, sum: 4, first: 1, last: 3 });
  t.same(b!.fields.load1, { count: 1, min: 5, max: 5, mean: 5, sum: 5, first: 5, last: 5 }, 'stdev omitted for one sample');
  t.notOk('stdev' in b!.fields.load1!);
});

t.test('window alignment by measurement timestamp', async (t) => {
  const ws = new WindowedStats({ windows: ['10s', '1m'], fields: ['freq'], graceMs: 0 });
  ws.add(meas('d', T0 + 10 * S - 1, { freq: 50 }));
  ws.add(meas('d', T0 + 10 * S, { freq: 51 }));
  ws.add(meas('d', T0, { freq: 49 }));
  const out = ws.push(T0 + 60 * S);
  const tens = out.filter((w) => w.window === '10s');
  t.same(tens.map((w) => [w.start, w.end, w.count]), [[T0, T0 + 10 * S, 2], [T0 + 10 * S, T0 + 20 * S, 1]]);
  t.same(tens[0]!.fields.freq, { count: 2, min: 49, max: 50, mean: 49.5, stdev: Math.SQRT1_2, sum: 99, first: 49, last: 50 });
  const minute = out.filter((w) => w.window === '1m');
  t.same(minute.map((w) => [w.start, w.end, w.count]), [[T0, T0 + 60 * S, 3]]);
});

t.test('grace period: late-but-within-grace counted, later ones late', async (t) => {
  const ws = new WindowedStats({ windows: ['10s', '1m'], fields: ['freq'], graceMs: 2000 });
  t.equal(ws.add(meas('d', T0 + 1 * S, { freq: 50 })).result, 'ok');
  t.same(ws.push(T0 + 11 * S), [], 'not complete before end + grace');
  t.equal(ws.add(meas('d', T0 + 9 * S, { freq: 52 })).result, 'ok', 'arrives after the end, within grace');
  const out = ws.push(T0 + 12 * S);
  t.equal(out.length, 1, 'complete exactly at end + grace');
  t.equal(out[0]!.count, 2);
  t.equal(out[0]!.fields.freq!.last, 52);
  t.equal(ws.add(meas('d', T0 + 9.5 * S, { freq: 99 })).result, 'late', 'its 10 s window is gone');
  t.equal(ws.lateCount, 1);
  t.same(ws.counts().lateByWindow, { '10s': 1, '1m': 0 });
  t.same(ws.push(T0 + 13 * S), [], 'the pushed window does not come back');
  const rest = ws.flushAll();
  t.equal(rest.length, 1, 'only the minute window is left');
  t.equal(rest[0]!.window, '1m');
  t.equal(rest[0]!.count, 3, 'the late sample still counts in the minute window that was open');
  t.equal(rest[0]!.fields.freq!.max, 99);
  // A sample for a window that was never opened but is already past end + grace is late too.
  t.equal(ws.add(meas('d', T0 - 30 * S, { freq: 1 })).result, 'late');
  t.equal(ws.counts().late, 2);
});

t.test('multiple devices and windows', async (t) => {
  const ws = new WindowedStats({ windows: ['10s', '1m'], fields: ['p.total'], graceMs: 500 });
  for (let s = 0; s < 120; s++)
    for (const [dev, scale] of [['pmu1', 1], ['pmu2', 100]] as const)
      ws.add(meas(dev, T0 + s * S + 250_000, { p: { total: scale * s } }));
  t.equal(ws.counts().open, 2 * (12 + 2), 'one open accumulator per device, window length and interval');
  const out = ws.push(T0 + 120 * S + 500_000);
  t.equal(out.length, 2 * (12 + 2));
  for (const dev of ['pmu1', 'pmu2']) {
    const scale = dev === 'pmu1' ? 1 : 100;
    const tens = out.filter((w) => w.device === dev && w.window === '10s');
    t.same(tens.map((w) => w.start), Array.from({ length: 12 }, (_, k) => T0 + k * 10 * S), `${dev} 10 s windows in order`);
    t.ok(tens.every((w) => w.count === 10));
    const mins = out.filter((w) => w.device === dev && w.window === '1m');
    t.same(mins.map((w) => w.count), [60, 60]);
    // Mean of 0..59 is 29.5, of 60..119 is 89.5; equal counts make it the mean of the 10 s means.
    t.same(mins.map((w) => w.fields['p.total']!.mean), [29.5 * scale, 89.5 * scale]);
    const meanOfMeans = tens.slice(0, 6).reduce((a, w) => a + w.fields['p.total']!.mean, 0) / 6;
    t.ok(Math.abs(meanOfMeans - mins[0]!.fields['p.total']!.mean) < 1e-9);
    t.same(mins.map((w) => [w.fields['p.total']!.first, w.fields['p.total']!.last]), [[0, 59 * scale], [60 * scale, 119 * scale]]);
  }
  t.equal(ws.counts().open, 0, 'everything pushed is forgotten');
  t.equal(ws.counts().accepted, 240);
});

t.test('out-of-order samples: first/last by timestamp, not arrival', async (t) => {
  const ws = new WindowedStats({ windows: ['10s'], fields: ['freq'], graceMs: 0 });
  for (const [ts, f] of [[5, 50.5], [9, 50.9], [1, 50.1], [7, 50.7], [3, 50.3]] as const) ws.add(meas('d', T0 + ts * S, { freq: f }));
  const f = ws.push(T0 + 10 * S)[0]!.fields.freq!;
  t.equal(f.first, 50.1);
  t.equal(f.last, 50.9);
  t.equal(f.min, 50.1);
  t.equal(f.max, 50.9);
});

t.test('missing and non-finite fields are skipped per field', async (t) => {
  const ws = new WindowedStats({ windows: ['10s'], fields: ['p.total', 'q.total', 'freq', 'rocof'], graceMs: 0 });
  ws.add(meas('d', T0 + 1 * S, { p: { total: 10 }, freq: 50 }));
  ws.add(meas('d', T0 + 2 * S, { p: { total: 20 }, q: { total: 5 }, freq: Number.NaN }));
  ws.add(meas('d', T0 + 3 * S, { q: { total: Infinity }, freq: 'x' as unknown as number }));
  const [w] = ws.push(T0 + 10 * S);
  t.equal(w!.count, 3, 'window counts every sample');
  t.equal(w!.fields['p.total']!.count, 2);
  t.equal(w!.fields['p.total']!.last, 20, 'last of the field, not of the window');
  t.same(w!.fields['q.total'], { count: 1, min: 5, max: 5, mean: 5, sum: 5, first: 5, last: 5 });
  t.equal(w!.fields.freq!.count, 1);
  t.notOk('rocof' in w!.fields, 'a field never seen is left out');
});

t.test('invalid quality excluded; questionable included and marks the window', async (t) => {
  const ws = new WindowedStats({ windows: ['10s'], fields: ['freq'], graceMs: 0 });
  t.equal(ws.add(meas('d', T0 + 1 * S, { freq: 50 })).result, 'ok');
  t.equal(ws.add(meas('d', T0 + 2 * S, { freq: 10 }, 'invalid')).result, 'excluded');
  t.equal(ws.add(meas('d', T0 + 3 * S, { freq: 52 }, 'questionable')).result, 'ok');
  t.equal(ws.add(meas('d', T0 + 12 * S, { freq: 51 })).result, 'ok');
  t.equal(ws.add(meas('d', T0 + 21 * S, { freq: 0 }, 'invalid')).result, 'excluded');
  const [a, b, c] = ws.push(T0 + 30 * S);
  t.same([a!.count, a!.excluded, a!.quality], [2, 1, 'questionable']);
  t.same([a!.fields.freq!.min, a!.fields.freq!.max, a!.fields.freq!.mean], [50, 52, 51], 'the invalid 10 left out');
  t.same([b!.count, b!.excluded, b!.quality], [1, 0, 'good']);
  t.same([c!.count, c!.excluded, c!.quality, c!.fields], [0, 1, 'invalid', {}], 'an all-invalid window shows the gap');
  t.equal(ws.counts().excluded, 2);
});

t.test('bad samples are ignored, wild timestamps cannot grow memory without bound', async (t) => {
  const ws = new WindowedStats({ windows: ['10s'], fields: ['freq'], graceMs: 0, maxOpenWindows: 3 });
  t.equal(ws.add(meas('', T0, { freq: 1 })).result, 'ignored', 'no device');
  t.equal(ws.add(meas('d', Number.NaN, { freq: 1 })).result, 'ignored', 'no timestamp');
  for (let k = 0; k < 3; k++) t.equal(ws.add(meas('d', T0 + k * 10 * S, { freq: 1 })).result, 'ok');
  t.equal(ws.add(meas('d', T0 + 1e6 * S, { freq: 1 })).result, 'ignored', 'a fourth open window is refused');
  t.equal(ws.add(meas('d', T0 + 5 * S, { freq: 1 })).result, 'ok', 'open windows still take samples');
  t.equal(ws.counts().ignored, 3);
  t.equal(ws.counts().open, 3);
});

t.test('a sample left out of one window length for the open-window limit is counted, not lost silently', async (t) => {
  const ws = new WindowedStats({ windows: ['10s', '1m'], fields: ['freq'], graceMs: 0, maxOpenWindows: 1 });
  t.same(ws.add(meas('d', T0, { freq: 1 })), { result: 'ok', excludedFields: 0, overLimit: false });
  // T0 + 15 s: the 1m window is the open one, the 10 s length would need a second window.
  t.same(ws.add(meas('d', T0 + 15 * S, { freq: 2 })), { result: 'ok', excludedFields: 0, overLimit: true }, 'counted in 1m, left out of 10s');
  const c = ws.counts();
  t.equal(c.overLimit, 1);
  t.same(c.overLimitByWindow, { '10s': 1, '1m': 0 });
  t.equal(c.ignored, 0, 'not ignored as a whole: the 1m window has it');
  const out = ws.flushAll();
  t.same(out.map((w) => `${w.window}:${w.count}`).sort(), ['10s:1', '1m:2']);
});

t.test('flushAll returns every open window and forgets it', async (t) => {
  const ws = new WindowedStats({ windows: ['10s', '10min'], fields: ['freq'], graceMs: 1000 });
  ws.add(meas('a', T0 + 1 * S, { freq: 50 }));
  ws.add(meas('b', T0 + 15 * S, { freq: 50 }));
  const all: StatsMessage[] = ws.flushAll();
  t.same(all.map((w) => `${w.device}/${w.window}/${(w.start - T0) / S}`).sort(), ['a/10min/0', 'a/10s/0', 'b/10min/0', 'b/10s/10']);
  t.same(ws.flushAll(), []);
  t.equal(ws.counts().open, 0);
});

// --- quality per field ----------------------------------------------------------------------------
// The rule: a field sample's quality is the message's quality when the message has no field_quality;
// with field_quality, the worst entry covering the path ("v.a" covers "v.a.mag"), good when none does.
// Invalid samples are left out and counted; the message's good and questionable samples are included.

t.test('per-field quality: only the invalid fields of a message are left out, each counted', async (t) => {
  const ws = new WindowedStats({ windows: ['10s'], fields: ['p.total', 'soc', 'v.a.mag', 'breaker.q1'], graceMs: 0 });
  // Invalid overall (its worst field), but only v.a and p.total are invalid: soc and breaker.q1 count.
  const r1 = ws.add(meas('d', T0 + 1 * S, {
    p: { total: 999 }, soc: 50, v: { a: { mag: 1 } }, breaker: { q1: true },
    field_quality: { 'v.a': 'invalid', 'p.total': 'invalid' },
  }, 'invalid'));
  t.same(r1, { result: 'ok', excludedFields: 2, overLimit: false }, 'v.a.mag (covered by "v.a") and p.total left out');
  // No field_quality and quality invalid: every field is invalid.
  const r2 = ws.add(meas('d', T0 + 2 * S, { p: { total: 5 }, soc: 10, breaker: { q1: false } }, 'invalid'));
  t.same(r2, { result: 'excluded', excludedFields: 3, overLimit: false }, 'the three present fields left out; the absent v.a.mag is not counted');
  // Good message.
  t.same(ws.add(meas('d', T0 + 3 * S, { p: { total: 100 }, soc: 52, v: { a: { mag: 230 } }, breaker: { q1: false } })),
    { result: 'ok', excludedFields: 0, overLimit: false });
  const [w] = ws.push(T0 + 10 * S);
  t.same([w!.count, w!.excluded, w!.excludedFields, w!.quality], [2, 1, 5, 'good'],
    'two messages included, one left out whole, five field samples left out; included samples all good');
  t.same(w!.fields['p.total'], { count: 1, min: 100, max: 100, mean: 100, sum: 100, first: 100, last: 100 }, 'the invalid 999 left out');
  t.same(w!.fields.soc, { count: 2, min: 50, max: 52, mean: 51, stdev: Math.SQRT2, sum: 102, first: 50, last: 52 },
    'soc of the message with an invalid v.a is included');
  t.equal(w!.fields['v.a.mag']!.count, 1);
  t.same(w!.fields['breaker.q1'], { count: 2, min: 0, max: 1, mean: 0.5, stdev: Math.SQRT1_2, sum: 1, first: 1, last: 0 },
    'booleans as 1/0: mean is the fraction of samples that were true');
  t.same([ws.counts().excluded, ws.counts().excludedFields, ws.counts().accepted], [1, 5, 2]);
});

t.test('per-field quality: the window quality is the worst included field sample', async (t) => {
  const ws = new WindowedStats({ windows: ['10s'], fields: ['p.total', 'soc'], graceMs: 0 });
  // soc questionable, p.total unnamed → good: the window is questionable because soc was included.
  ws.add(meas('d', T0 + 1 * S, { p: { total: 1 }, soc: 5, field_quality: { soc: 'questionable' } }, 'questionable'));
  // Here the questionable field is not tracked: the included p.total is good.
  ws.add(meas('d', T0 + 11 * S, { p: { total: 2 }, tap: 3, field_quality: { tap: 'questionable' } }, 'questionable'));
  // No field_quality: every field has the message quality.
  ws.add(meas('d', T0 + 21 * S, { p: { total: 3 } }, 'questionable'));
  // Every tracked field invalid through field_quality: left out whole; the window shows the gap.
  t.same(ws.add(meas('d', T0 + 31 * S, { p: { total: 4 }, soc: 1, field_quality: { p: 'invalid', soc: 'invalid' } }, 'invalid')),
    { result: 'excluded', excludedFields: 2, overLimit: false });
  const out = ws.push(T0 + 40 * S);
  t.same(out.map((w) => [w.count, w.excluded, w.excludedFields, w.quality]), [
    [1, 0, 0, 'questionable'],
    [1, 0, 0, 'good'],
    [1, 0, 0, 'questionable'],
    [0, 1, 2, 'invalid'],
  ]);
  t.same(out[3]!.fields, {});
});

t.test('per-field quality after computePower: an invalid v.a leaves out p.total, keeps p.b and soc', async (t) => {
  const ws = new WindowedStats({ windows: ['10s', '1m'], fields: ['p.total', 'p.b', 'soc', 'i_total'], graceMs: 0 });
  const raw: Measurement = {
    device: 'pmu', ts: T0 + 1 * S, quality: 'invalid', soc: 80, field_quality: { 'v.a': 'invalid' },
    v: { a: { mag: 230, ang: 0 }, b: { mag: 230, ang: -120 }, c: { mag: 230, ang: 120 } },
    i: { a: { mag: 10, ang: 0 }, b: { mag: 10, ang: -120 }, c: { mag: 10, ang: 120 } },
  };
  const res = ws.add(computePower(raw));
  t.same(res, { result: 'ok', excludedFields: 1, overLimit: false }, 'p.total sums phase a: left out; counted once, not per window');
  const [w10, w60] = ws.push(T0 + 60 * S);
  for (const w of [w10!, w60!]) {
    t.same(Object.keys(w.fields).sort(), ['i_total', 'p.b', 'soc'], `${w.window}: good fields kept`);
    t.equal(w.fields['p.b']!.mean, 2300, 'p.b = 230·10·cos 0°');
    t.equal(w.fields.i_total!.mean, 30);
    t.equal(w.excludedFields, 1);
    t.equal(w.quality, 'good');
  }
  t.equal(ws.counts().excludedFields, 1);
});

t.test('values beyond the electrical ones: numbers and booleans aggregated, strings and arrays skipped', async (t) => {
  const ws = new WindowedStats({ windows: ['10s'], fields: ['soc', 'tap', 'breaker.q1', 'mode', 'curve'], graceMs: 0 });
  const rows = [
    { soc: 53.2, tap: 5, breaker: { q1: true }, mode: 'auto', curve: [1, 2] },
    { soc: 53.0, tap: 6, breaker: { q1: true }, mode: 'manual', curve: [3] },
    { soc: 52.9, tap: 6, breaker: { q1: false }, mode: 'auto', curve: [] },
  ];
  rows.forEach((r, k) => t.equal(ws.add(meas('rtu9', T0 + (k + 1) * S, r)).result, 'ok'));
  const [w] = ws.push(T0 + 10 * S);
  t.same(Object.keys(w!.fields).sort(), ['breaker.q1', 'soc', 'tap'], 'mode (string) and curve (array) have no statistics');
  t.same([w!.fields.tap!.min, w!.fields.tap!.max, w!.fields.tap!.first, w!.fields.tap!.last], [5, 6, 5, 6]);
  t.ok(Math.abs(w!.fields.soc!.mean - (53.2 + 53.0 + 52.9) / 3) < 1e-12, 'soc mean');
  const q1 = w!.fields['breaker.q1']!;
  t.ok(Math.abs(q1.mean - 2 / 3) < 1e-15, `closed in 2 of 3 samples: mean ${q1.mean}`);
  t.same([q1.sum, q1.min, q1.max, q1.first, q1.last], [2, 0, 1, 1, 0], 'open at the end');
  t.equal(w!.count, 3);
});

t.test('property: which samples are left out agrees with qualityOf (seeded random field_quality)', async (t) => {
  // The windowed statistics look entries up in maps built from the configured paths; qualityOf compares
  // every entry with the path. Both must give the same answer for every field of every message.
  const rnd = prng(7);
  const fields = ['v.a.mag', 'v.a.ang', 'v.b.mag', 'p.total', 'p.a', 'soc', 'breaker.q1', 'x.y.z.w'];
  const vocabulary = ['v', 'v.a', 'v.a.mag', 'v.a.ang', 'v.ab', 'v.b', 'v.b.mag', 'p', 'p.total', 'p.a', 'pf', 'pf.a',
    'soc', 'so', 'breaker', 'breaker.q1', 'breaker.q2', 'x', 'x.y', 'x.y.z', 'x.y.z.w', 'x.y.z.w.v'];
  const qualities = ['good', 'questionable', 'invalid'] as const;
  const ws = new WindowedStats({ windows: ['1s'], fields, graceMs: 0 });
  const mismatches: string[] = [];
  const n = 3000;
  for (let k = 0; k < n; k++) {
    const m = meas('d', T0 + k * S, {
      v: { a: { mag: 230, ang: 0 }, b: { mag: 231 } }, p: { total: 5, a: 1 }, soc: 50, breaker: { q1: true }, x: { y: { z: { w: 1 } } },
    }, qualities[Math.floor(rnd() * 3)]!);
    if (rnd() < 0.8) {
      const fq: Record<string, 'questionable' | 'invalid'> = {};
      const entries = Math.floor(rnd() * 4);
      for (let e = 0; e < entries; e++) fq[vocabulary[Math.floor(rnd() * vocabulary.length)]!] = rnd() < 0.5 ? 'questionable' : 'invalid';
      m.field_quality = fq;
    }
    const ref = fields.map((f) => qualityOf(m, f));
    const wantExcluded = ref.filter((q) => q === 'invalid').length;
    const wantQuality = ref.includes('invalid') && !ref.some((q) => q !== 'invalid') ? 'invalid'
      : ref.some((q) => q === 'questionable') ? 'questionable' : 'good';
    const res = ws.add(m);
    const [w] = ws.push(T0 + (k + 1) * S);
    const got = fields.map((f) => (w!.fields[f] ? 'in' : 'out'));
    const want = ref.map((q) => (q === 'invalid' ? 'out' : 'in'));
    if (res.excludedFields !== wantExcluded || got.join() !== want.join() || w!.quality !== wantQuality)
      mismatches.push(`#${k} fq=${JSON.stringify(m.field_quality)} quality=${m.quality}: got ${res.excludedFields} ${got} ${w!.quality}, want ${wantExcluded} ${want} ${wantQuality}`);
  }
  t.same(mismatches.slice(0, 5), [], `${mismatches.length} of ${n} messages disagree`);
  t.equal(ws.counts().accepted + ws.counts().excluded, n, 'every message counted');
  const c = ws.counts();
  t.ok(c.excludedFields > n && c.excluded > 100 && c.accepted > n / 2,
    `the cases are varied: ${c.excludedFields} samples left out, ${c.excluded} messages left out whole, ${c.accepted} included`);
});

t.test('a wall clock stepped back (NTP correcting a clock that ran ahead) does not stop the statistics', async (t) => {
  // The agent pushes its wall clock every second. It ran an hour ahead, then NTP stepped it back.
  const ws = new WindowedStats({ windows: ['10s', '1m'], fields: ['freq'], graceMs: 2000 });
  const H = 3600 * S;
  t.equal(ws.add(meas('d', T0 + 1 * S, { freq: 50 })).result, 'ok');
  t.same(ws.push(T0 + H).map((w) => w.window), ['10s', '1m'], 'the clock an hour ahead closes the open windows');
  // Back on time: the device's samples carry the right time, and so does the agent's clock now.
  const now = T0 + 70 * S;
  ws.push(now);
  t.equal(ws.add(meas('d', now, { freq: 51 })).result, 'ok', 'a sample of now is counted, not late for the hour the clock was ahead');
  const out = ws.push(now + 60 * S);
  t.same(out.map((w) => [w.window, w.start, w.count]), [['10s', T0 + 70 * S, 1], ['1m', T0 + 60 * S, 1]], 'and its windows close on the corrected clock');
  t.equal(ws.counts().clockStepsBack, 1, 'the step back is counted');
  // A step back shorter than the longest window plus grace is not followed: windows already
  // published are not opened again (their samples are late), and statistics stall at most that long.
  const ws2 = new WindowedStats({ windows: ['10s', '1m'], fields: ['freq'], graceMs: 2000 });
  ws2.add(meas('d', T0 + 1 * S, { freq: 50 }));
  t.equal(ws2.push(T0 + 13 * S).length, 1, 'the first 10 s window closes');
  ws2.push(T0 + 5 * S);
  t.equal(ws2.add(meas('d', T0 + 5 * S, { freq: 50 })).result, 'late', 'a small step back: the published 10 s window is not opened again');
  t.equal(ws2.counts().clockStepsBack, 0);
});
