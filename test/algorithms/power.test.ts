import t from 'tap';
import type { Measurement, Phasor } from '../../algorithms/common/measurement.js';
import { computePower, phasePower, sequenceComponents, unbalancePct } from '../../algorithms/power/index.js';
import { prng } from '../../algorithms/common/prng.js'; // mulberry32, seeded: failures reproduce

interface Tap { ok(cond: boolean, msg: string): unknown }
const close = (tt: Tap, got: number | undefined, want: number, tol: number, msg: string) =>
  tt.ok(got !== undefined && Math.abs(got - want) <= tol, `${msg}: got ${got}, want ${want} ± ${tol}`);
const closeAng = (tt: Tap, got: number | undefined, want: number, tol: number, msg: string) => {
  const d = got === undefined ? NaN : ((((got - want) % 360) + 540) % 360) - 180;
  tt.ok(Math.abs(d) <= tol, `${msg}: got ${got}°, want ${want}° ± ${tol}`);
};

const COS30 = Math.sqrt(3) / 2;

/** The measurement message's documented example: balanced 230 V, 10 A lagging 30°. */
const balanced = (): Measurement => ({
  device: 'pmu1', ts: 1764000000020000, quality: 'good', freq: 50.01, rocof: 0,
  v: { a: { mag: 230, ang: 0 }, b: { mag: 230, ang: -120 }, c: { mag: 230, ang: 120 } },
  i: { a: { mag: 10, ang: -30 }, b: { mag: 10, ang: -150 }, c: { mag: 10, ang: 90 } },
});

t.test('balanced 230 V / 10 A lagging 30° (hand-computed)', async (t) => {
  const out = computePower(balanced());
  // Per phase: P = 230·10·cos30° = 1991.858 W, Q = 230·10·sin30° = 1150 var, |S| = 2300 VA, pf = cos30°.
  for (const ph of ['a', 'b', 'c'] as const) {
    close(t, out.p?.[ph], 2300 * COS30, 1e-9, `p.${ph}`);
    close(t, out.q?.[ph], 1150, 1e-9, `q.${ph}`);
    close(t, out.s?.[ph], 2300, 1e-9, `s.${ph}`);
    close(t, out.pf?.[ph], COS30, 1e-12, `pf.${ph}`);
  }
  // Totals: P = 3·230·10·cos30° = 5975.57 W, Q = 3450 var, |S| = 6900 VA.
  close(t, out.p?.total, 3 * 230 * 10 * COS30, 1e-9, 'p.total');
  close(t, out.q?.total, 3450, 1e-9, 'q.total');
  close(t, out.s?.total, 6900, 1e-9, 's.total');
  close(t, out.pf?.total, COS30, 1e-12, 'pf.total');
  t.equal(out.v_total, 690, 'v_total = 3·230');
  t.equal(out.i_total, 30, 'i_total = 3·10');
  // A balanced positive-sequence set has only a positive-sequence component.
  close(t, out.seq?.v?.pos.mag, 230, 1e-9, 'V1');
  closeAng(t, out.seq?.v?.pos.ang, 0, 1e-9, 'V1 angle');
  close(t, out.seq?.v?.neg.mag, 0, 1e-9, 'V2');
  close(t, out.seq?.v?.zero.mag, 0, 1e-9, 'V0');
  close(t, out.seq?.i?.pos.mag, 10, 1e-12, 'I1');
  closeAng(t, out.seq?.i?.pos.ang, -30, 1e-9, 'I1 angle');
  close(t, out.seq?.v_unbalance_pct, 0, 1e-9, 'voltage unbalance');
  close(t, out.seq?.i_unbalance_pct, 0, 1e-9, 'current unbalance');
});

t.test('leading current gives negative Q and positive pf; reverse power gives negative P and pf', async (t) => {
  const lead = phasePower({ mag: 100, ang: 0 }, { mag: 2, ang: 60 });
  close(t, lead.p, 100, 1e-9, 'P = 200·cos(−60°)');
  close(t, lead.q, -200 * COS30, 1e-9, 'Q = 200·sin(−60°)');
  close(t, lead.pf, 0.5, 1e-12, 'pf');
  const rev = phasePower({ mag: 100, ang: 0 }, { mag: 2, ang: 180 });
  close(t, rev.p, -200, 1e-9, 'P reversed');
  close(t, rev.pf, -1, 1e-12, 'pf signed like P');
});

t.test('sequence components: textbook open-conductor example', async (t) => {
  // Grainger & Stevenson, "Power System Analysis" (McGraw-Hill, 1994), Example 11.1 (the same case is
  // Glover, Sarma & Overbye, "Power System Analysis and Design", ch. 8): one line open,
  // Ia = 10∠0° A, Ib = 10∠180° A, Ic = 0. Result: Ia0 = 0, Ia1 = 5.78∠−30° A, Ia2 = 5.78∠30° A.
  // By hand: I1 = (10 − 10∠120°)/3 = (15 − j8.660)/3 = 5.7735∠−30°; I2 = (10 − 10∠240°)/3 = 5.7735∠30°.
  const set = sequenceComponents({ mag: 10, ang: 0 }, { mag: 10, ang: 180 }, { mag: 0, ang: 0 });
  close(t, set.zero.mag, 0, 1e-12, 'I0');
  close(t, set.pos.mag, 10 / Math.sqrt(3), 1e-12, '|I1| = 5.7735');
  closeAng(t, set.pos.ang, -30, 1e-9, '∠I1');
  close(t, set.neg.mag, 10 / Math.sqrt(3), 1e-12, '|I2| = 5.7735');
  closeAng(t, set.neg.ang, 30, 1e-9, '∠I2');
  close(t, unbalancePct(set), 100, 1e-9, 'unbalance 100 %');
});

t.test('sequence components: lost phase-c voltage (hand-computed)', async (t) => {
  // Va = 230∠0°, Vb = 230∠−120°, Vc = 0:
  // V0 = (230 + 230∠−120°)/3 = 76.667∠−60°; V1 = (230 + 230∠0°)/3 = 153.333∠0°;
  // V2 = (230 + 230∠120°)/3 = 76.667∠60°; u2 = 76.667/153.333 = 50 %.
  const out = computePower({
    device: 'd', ts: 0, quality: 'good',
    v: { a: { mag: 230, ang: 0 }, b: { mag: 230, ang: -120 }, c: { mag: 0, ang: 0 } },
  });
  close(t, out.seq?.v?.zero.mag, 230 / 3, 1e-9, '|V0|');
  closeAng(t, out.seq?.v?.zero.ang, -60, 1e-9, '∠V0');
  close(t, out.seq?.v?.pos.mag, 460 / 3, 1e-9, '|V1|');
  closeAng(t, out.seq?.v?.pos.ang, 0, 1e-9, '∠V1');
  close(t, out.seq?.v?.neg.mag, 230 / 3, 1e-9, '|V2|');
  closeAng(t, out.seq?.v?.neg.ang, 60, 1e-9, '∠V2');
  close(t, out.seq?.v_unbalance_pct, 50, 1e-9, 'u2');
  t.equal(out.seq?.i, undefined, 'no current sequence without currents');
  t.equal(out.p, undefined, 'no power without currents');
});

t.test('negative-sequence set: unbalance 100 %/|X1| = 0 omits unbalance', async (t) => {
  // Pure negative sequence (a, c, b rotation): X1 = 0, so no unbalance ratio.
  const set = sequenceComponents({ mag: 1, ang: 0 }, { mag: 1, ang: 120 }, { mag: 1, ang: -120 });
  close(t, set.pos.mag, 0, 1e-12, 'X1 = 0');
  close(t, set.neg.mag, 1, 1e-12, 'X2 = 1');
  t.equal(unbalancePct(set), undefined);
  const out = computePower({ device: 'd', ts: 0, quality: 'good',
    v: { a: { mag: 1, ang: 0 }, b: { mag: 1, ang: 120 }, c: { mag: 1, ang: -120 } } });
  t.ok(out.seq?.v, 'sequence set present');
  // The computed |X1| is rounding residue (~1e-17), not exactly 0: still no 1e18 % unbalance.
  t.equal(out.seq?.v_unbalance_pct, undefined, 'unbalance omitted');
  t.equal(unbalancePct({ zero: { mag: 0, ang: 0 }, pos: { mag: 0, ang: 0 }, neg: { mag: 0, ang: 0 } }), undefined);
  close(t, unbalancePct({ zero: { mag: 0, ang: 0 }, pos: { mag: 1e-6, ang: 0 }, neg: { mag: 2e-8, ang: 0 } }), 2, 1e-9,
    'small but real sets still give a ratio');
});

t.test('sequenceComponents names the phase that lacks an angle', async (t) => {
  t.throws(() => sequenceComponents({ mag: 1, ang: 0 }, { mag: 1 }, { mag: 1, ang: 0 }), /phase b/);
});

t.test('single-phase device', async (t) => {
  const out = computePower({ device: 'm', ts: 1, quality: 'good',
    v: { a: { mag: 230, ang: 10 } }, i: { a: { mag: 5, ang: -20 } } });
  // P = 1150·cos30°, Q = 1150·sin30° = 575
  close(t, out.p?.a, 1150 * COS30, 1e-9, 'p.a');
  close(t, out.q?.a, 575, 1e-9, 'q.a');
  t.equal(out.p?.total, out.p?.a, 'total over the one present phase');
  t.equal(out.q?.total, out.q?.a);
  close(t, out.s?.total, 1150, 1e-9, 's.total');
  t.equal(out.v_total, 230);
  t.equal(out.i_total, 5);
  t.notOk('b' in (out.p ?? {}), 'no phase b');
  t.equal(out.seq, undefined, 'no sequence components with one phase');
});

t.test('missing phase: totals over the present phases, no sequence components', async (t) => {
  const m = balanced();
  delete m.v!.c;
  delete m.i!.c;
  const out = computePower(m);
  close(t, out.p?.total, 2 * 2300 * COS30, 1e-9, 'p.total over a, b');
  close(t, out.q?.total, 2300, 1e-9, 'q.total over a, b');
  t.equal(out.v_total, 460);
  t.equal(out.i_total, 20);
  t.equal(out.seq, undefined);
});

t.test('phase with voltage but no current: no fabricated power, no partial total', async (t) => {
  const m = balanced();
  delete m.i!.c;
  const out = computePower(m);
  t.ok(out.p?.a !== undefined && out.p?.b !== undefined);
  t.notOk('c' in (out.p ?? {}), 'no p.c');
  t.notOk('c' in (out.s ?? {}), 'no s.c');
  t.notOk('total' in (out.p ?? {}), 'p.total omitted: phase c power unknown');
  t.notOk('total' in (out.s ?? {}), 's.total omitted');
  t.ok(out.seq?.v, 'voltage sequence still there');
  t.equal(out.seq?.i, undefined, 'no current sequence');
  t.equal(out.i_total, 20, 'i_total sums the magnitudes present');
});

t.test('magnitude-only meter: s = V·I, no p, q, pf', async (t) => {
  const out = computePower({ device: 'm', ts: 1, quality: 'good',
    v: { a: { mag: 230 }, b: { mag: 231 }, c: { mag: 229 } },
    i: { a: { mag: 10 }, b: { mag: 11 }, c: { mag: 9 } } });
  t.equal(out.s?.a, 2300);
  t.equal(out.s?.b, 2541);
  t.equal(out.s?.c, 2061);
  t.equal(out.s?.total, 2300 + 2541 + 2061, 'arithmetic apparent power without angles');
  t.equal(out.p, undefined);
  t.equal(out.q, undefined);
  t.equal(out.pf, undefined);
  t.equal(out.seq, undefined);
  t.equal(out.v_total, 690);
  t.equal(out.i_total, 30);
});

t.test('magnitudes with measured P: pf = P/(V·I)', async (t) => {
  const out = computePower({ device: 'm', ts: 1, quality: 'good',
    v: { a: { mag: 200 } }, i: { a: { mag: 10 } }, p: { a: 1600 } });
  t.equal(out.s?.a, 2000);
  t.equal(out.pf?.a, 0.8);
  t.equal(out.p?.a, 1600);
  t.notOk(out.q && 'a' in out.q, 'q not invented');
});

t.test('measured p/q are kept; s and pf computed from them', async (t) => {
  const m = balanced();
  m.p = { a: 2000, b: 2000, c: 2000, total: 6001 };
  m.q = { a: 1500 };
  const out = computePower(m);
  t.same(out.p, { a: 2000, b: 2000, c: 2000, total: 6001 }, 'measured p untouched');
  t.equal(out.q?.a, 1500, 'measured q.a kept');
  close(t, out.q?.b, 1150, 1e-9, 'q.b computed from phasors');
  t.equal(out.s?.a, 2500, 's.a = hypot(2000, 1500)');
  t.equal(out.pf?.a, 0.8);
  close(t, out.q?.total, 1500 + 2300, 1e-9, 'q.total = measured q.a + computed q.b, q.c');
  close(t, out.s?.total, Math.hypot(6001, 3800), 1e-9, 's.total from measured p.total');
  close(t, out.pf?.total, 6001 / Math.hypot(6001, 3800), 1e-12, 'pf.total');

  // A meter with power only, no phasors.
  const pq = computePower({ device: 'm', ts: 1, quality: 'good', p: { total: 300 }, q: { total: -400 } });
  t.same(pq.s, { total: 500 });
  t.same(pq.pf, { total: 0.6 });
});

t.test('zero current: p = q = s = 0, pf omitted', async (t) => {
  const m = balanced();
  for (const ph of ['a', 'b', 'c'] as const) m.i![ph]!.mag = 0;
  const out = computePower(m);
  t.same(out.p, { a: 0, b: 0, c: 0, total: 0 });
  t.same(out.q, { a: 0, b: 0, c: 0, total: 0 });
  t.same(out.s, { a: 0, b: 0, c: 0, total: 0 });
  t.ok(Object.is(out.q!.a, 0), 'no negative zero');
  t.equal(out.pf, undefined, 'no power factor without power');
  t.equal(out.seq?.i_unbalance_pct, undefined, '|I1| = 0: no current unbalance');
  t.same(phasePower({ mag: 230, ang: 0 }, { mag: 0, ang: -30 }), { p: 0, q: 0, s: 0 });
});

t.test('quality, reasons and unknown fields are kept; input is not mutated', async (t) => {
  const m = { ...balanced(), quality: 'questionable' as const, reasons: ['stale'], vendor: { x: [1, 2] }, thd: 3.2 };
  const before = JSON.parse(JSON.stringify(m));
  const out = computePower(m);
  t.same(m, before, 'input unchanged');
  t.not(out, m, 'a new object');
  t.equal(out.quality, 'questionable');
  t.same(out.reasons, ['stale']);
  t.not(out.reasons, m.reasons, 'reasons copied, so flagging the output leaves the input alone');
  t.same(out.vendor, { x: [1, 2] });
  t.equal(out.thd, 3.2);
  t.equal(out.freq, 50.01);
  t.equal(out.ts, m.ts);
});

t.test('measured values already present are not overwritten', async (t) => {
  const m = balanced();
  m.v_total = 700;
  m.seq = { v_unbalance_pct: 1.5 };
  const out = computePower(m);
  t.equal(out.v_total, 700);
  t.equal(out.seq?.v_unbalance_pct, 1.5, 'measured unbalance kept');
  t.ok(out.seq?.v && out.seq?.i, 'sequence phasors filled in');
});

t.test('non-finite values are treated as absent', async (t) => {
  const out = computePower({ device: 'm', ts: 1, quality: 'good',
    v: { a: { mag: NaN, ang: 0 }, b: { mag: 230, ang: Number.NaN } }, i: { b: { mag: 2, ang: 0 } } });
  t.equal(out.s?.b, 460, 'phase b magnitude-only');
  t.notOk(out.p, 'no p from a NaN angle');
  t.equal(out.v_total, 230, 'NaN magnitude skipped');
});

// --- quality per field ----------------------------------------------------------------------------
// The rule: without field_quality every field has the message's quality; with it, unnamed fields are
// good. A derived field takes the worst quality of the fields it is computed from: phase x's p, q, s, pf
// from v.x and i.x; each total from the phase values it sums; v_total/i_total from the magnitudes summed;
// seq from v and i of all three phases. Values kept as measured keep their own quality. The output's
// field_quality names each derived field worse than good; the message quality is lowered to the worst
// entry, never raised.

const ALL_A = ['p.a', 'q.a', 's.a', 'pf.a'];
const TOTALS = ['p.total', 'q.total', 's.total', 'pf.total'];
const byName = (names: string[], q: 'questionable' | 'invalid') => Object.fromEntries(names.map((n) => [n, q]));

t.test('field quality: v.a invalid makes phase a, the totals, v_total and seq invalid', async (t) => {
  const m = { ...balanced(), quality: 'invalid' as const, field_quality: { 'v.a': 'invalid' as const } };
  const before = JSON.parse(JSON.stringify(m));
  const out = computePower(m);
  // Phase a from v.a (invalid) and i.a (good) → invalid; phases b, c from good phasors → good (unnamed).
  // Every total sums phase a → invalid; v_total sums |v.a| → invalid; i_total sums i only → good;
  // seq uses all three phases → invalid.
  t.same(out.field_quality, {
    'v.a': 'invalid', ...byName(ALL_A, 'invalid'), ...byName(TOTALS, 'invalid'), v_total: 'invalid', seq: 'invalid',
  });
  t.equal(out.quality, 'invalid');
  close(t, out.p?.a, 2300 * COS30, 1e-9, 'values are still computed: p.a');
  close(t, out.p?.total, 3 * 2300 * COS30, 1e-9, 'p.total');
  t.same(m, before, 'input (and its field_quality) unchanged');
  t.not(out.field_quality, m.field_quality, 'field_quality is a new object');
});

t.test('field quality: i.b questionable marks phase b and what sums it, phase a stays good', async (t) => {
  const m = { ...balanced(), quality: 'questionable' as const, field_quality: { 'i.b': 'questionable' as const } };
  const out = computePower(m);
  t.same(out.field_quality, {
    'i.b': 'questionable', ...byName(['p.b', 'q.b', 's.b', 'pf.b'], 'questionable'),
    ...byName(TOTALS, 'questionable'), i_total: 'questionable', seq: 'questionable',
  });
  t.notOk('p.a' in out.field_quality! || 'v_total' in out.field_quality!, 'phase a and v_total are good');
  t.equal(out.quality, 'questionable');
});

t.test('field quality: the message quality is lowered to the worst field, never raised', async (t) => {
  const low = computePower({ ...balanced(), quality: 'good', field_quality: { 'i.c.ang': 'invalid' } });
  t.equal(low.quality, 'invalid', 'good with an invalid field becomes invalid');
  t.equal(low.field_quality?.['p.c'], 'invalid', '"i.c.ang" is part of i.c');
  t.same(low.reasons, undefined, 'no reason invented');
  const kept = computePower({ ...balanced(), quality: 'invalid', field_quality: { 'i.c': 'questionable' } });
  t.equal(kept.quality, 'invalid', 'invalid stays invalid although the worst field is questionable');
});

t.test('field quality: measured values keep their own quality; what is computed from them follows it', async (t) => {
  // p.a measured (good: not named), q.a computed from v.a (invalid) → s.a = hypot(p.a, q.a) invalid,
  // pf.a = p.a/s.a invalid. p.total sums the measured p.a and the good computed p.b, p.c → good.
  const m = { ...balanced(), quality: 'invalid' as const, p: { a: 2000 }, field_quality: { 'v.a': 'invalid' as const } };
  const out = computePower(m);
  t.equal(out.p?.a, 2000, 'p.a kept as measured');
  t.same(out.field_quality, {
    'v.a': 'invalid', 'q.a': 'invalid', 's.a': 'invalid', 'pf.a': 'invalid',
    'q.total': 'invalid', 's.total': 'invalid', 'pf.total': 'invalid', v_total: 'invalid', seq: 'invalid',
  });
  t.notOk('p.a' in out.field_quality! || 'p.total' in out.field_quality!, 'p.a and p.total are good');

  // A measured value named questionable passes its quality to the values computed from it.
  const pq = computePower({ device: 'm', ts: 1, quality: 'questionable', p: { total: 300 }, q: { total: -400 },
    field_quality: { 'q.total': 'questionable' } });
  t.same(pq.field_quality, { 'q.total': 'questionable', 's.total': 'questionable', 'pf.total': 'questionable' });
  t.same(pq.s, { total: 500 });
});

t.test('field quality: a seq partly given marks only the members computed here', async (t) => {
  const m = { ...balanced(), quality: 'invalid' as const, seq: { v_unbalance_pct: 1.5 }, field_quality: { 'i.a': 'invalid' as const } };
  const out = computePower(m);
  t.equal(out.seq?.v_unbalance_pct, 1.5);
  const seqEntries = Object.keys(out.field_quality!).filter((k) => k.startsWith('seq')).sort();
  t.same(seqEntries, ['seq.i', 'seq.i_unbalance_pct', 'seq.v'], 'the measured seq.v_unbalance_pct keeps its own quality');
});

t.test('a value-only message passes unchanged', async (t) => {
  const m = { device: 'rtu9', ts: 1764000000020000, quality: 'good' as const,
    soc: 53.2, breaker: { q1: true }, tap: 5, mode: 'auto', curve: [1, 2, 3] };
  const out = computePower(m);
  t.same(out, m, 'nothing added, nothing lost');
  t.equal(out.breaker, m.breaker, 'values shared, not copied');
  for (const k of ['p', 'q', 's', 'pf', 'seq', 'v_total', 'i_total', 'field_quality']) t.notOk(k in out, `no ${k}`);
  const fq = computePower({ ...m, quality: 'questionable', field_quality: { soc: 'questionable' } });
  t.same(fq.field_quality, { soc: 'questionable' }, 'field_quality kept as it came');
  t.equal(fq.quality, 'questionable');
});

t.test('without field_quality a questionable message is processed as before', async (t) => {
  const out = computePower({ ...balanced(), quality: 'questionable' });
  t.equal(out.quality, 'questionable', 'quality kept');
  t.notOk('field_quality' in out, 'no field_quality added: every field has the message quality');
  close(t, out.p?.a, 2300 * COS30, 1e-9, 'p.a');
  close(t, out.s?.total, 6900, 1e-9, 's.total');
  t.ok(out.seq?.v && out.seq?.i, 'seq');
});

t.test('only own properties are read; odd keys from JSON are kept as data', async (t) => {
  const json = '{"device":"j","ts":1,"quality":"good","__proto__":{"p":{"a":1}},"constructor":5,' +
    '"soc":7,"breaker":{"q1":false},"v":{"a":{"mag":230,"ang":0}},"i":{"a":{"mag":10,"ang":0}}}';
  const m = JSON.parse(json) as Measurement;
  const out = computePower(m);
  t.equal(Object.getPrototypeOf(out), Object.prototype, 'the "__proto__" key did not become the prototype');
  t.ok(Object.prototype.hasOwnProperty.call(out, '__proto__'), '"__proto__" kept as an own field');
  t.equal(out.p?.a, 2300, 'p.a computed from v.a and i.a, not taken from "__proto__"');
  t.equal(out.constructor as unknown, 5);
  const back = JSON.parse(JSON.stringify(out)) as Record<string, unknown>;
  t.same(Object.keys(back).slice(0, 9), ['device', 'ts', 'quality', '__proto__', 'constructor', 'soc', 'breaker', 'v', 'i'],
    'the serialised output keeps every input field');

  // Inherited v/i, inherited phasor members and inherited power values are not read.
  const proto = { v: { a: { mag: 230, ang: 0 } }, i: { a: { mag: 10, ang: 0 } } };
  const inh = Object.assign(Object.create(proto) as Measurement, { device: 'x', ts: 1, quality: 'good' });
  const o1 = computePower(inh);
  t.notOk(o1.p || o1.s || o1.v_total, 'nothing computed from inherited v and i');
  const phasor = Object.create({ mag: 230, ang: 0 }) as Phasor;
  const o2 = computePower({ device: 'x', ts: 1, quality: 'good', v: { a: phasor }, i: { a: { mag: 10, ang: 0 } } });
  t.notOk(o2.p || o2.v_total, 'a phasor with inherited mag/ang has no voltage');
  t.equal(o2.i_total, 10);
  const pv = Object.create({ total: 99 }) as Record<string, number>;
  const o3 = computePower({ device: 'x', ts: 1, quality: 'good', p: pv, q: { total: 0 } });
  t.notOk(o3.s, 'no s.total from an inherited p.total');
});

// --- property test -----------------------------------------------------------------------------


type C = [number, number];
const rect = (p: Phasor): C => [p.mag * Math.cos(((p.ang ?? 0) * Math.PI) / 180), p.mag * Math.sin(((p.ang ?? 0) * Math.PI) / 180)];
const add = (x: C, y: C): C => [x[0] + y[0], x[1] + y[1]];
const mul = (x: C, y: C): C => [x[0] * y[0] - x[1] * y[1], x[0] * y[1] + x[1] * y[0]];
const conj = (x: C): C => [x[0], -x[1]];
const A: C = [Math.cos((2 * Math.PI) / 3), Math.sin((2 * Math.PI) / 3)];
const A2 = mul(A, A);

t.test('property: random phasors vs. rectangular arithmetic and power invariance of sequence components', async (t) => {
  const rnd = prng(20240601);
  // Collect mismatches and assert once, so 2000 cases do not print 40 000 lines.
  const failures: string[] = [];
  const sink: Tap = { ok: (cond, msg) => { if (!cond) failures.push(msg); } };
  let checked = 0;
  for (let n = 0; n < 2000; n++) {
    const ph = (scale: number): Phasor => ({ mag: rnd() * scale, ang: rnd() * 720 - 360 });
    const m: Measurement = {
      device: 'r', ts: n, quality: 'good',
      v: { a: ph(400), b: ph(400), c: ph(400) },
      i: { a: ph(100), b: ph(100), c: ph(100) },
    };
    const out = computePower(m);
    let St: C = [0, 0];
    for (const k of ['a', 'b', 'c'] as const) {
      // S = V·conj(I) in rectangular form: an independent route from the polar cos/sin formula.
      const S = mul(rect(m.v![k]!), conj(rect(m.i![k]!)));
      St = add(St, S);
      const tol = 1e-9 * (1 + Math.hypot(S[0], S[1]));
      close(sink, out.p?.[k], S[0], tol, `#${n} p.${k}`);
      close(sink, out.q?.[k], S[1], tol, `#${n} q.${k}`);
      close(sink, out.s?.[k], Math.hypot(S[0], S[1]), tol, `#${n} s.${k}`);
    }
    const tol = 1e-9 * (1 + Math.hypot(St[0], St[1]));
    close(sink, out.p?.total, St[0], tol, `#${n} p.total`);
    close(sink, out.q?.total, St[1], tol, `#${n} q.total`);
    close(sink, out.s?.total, Math.hypot(St[0], St[1]), tol, `#${n} s.total`);

    // Power invariance: Sa + Sb + Sc = 3·(V0·I0* + V1·I1* + V2·I2*) (Glover et al., ch. 8, "power in
    // sequence networks"), using the sequence phasors computePower reported.
    const sv = out.seq!.v!, si = out.seq!.i!;
    const S3 = [
      mul(rect(sv.zero), conj(rect(si.zero))),
      mul(rect(sv.pos), conj(rect(si.pos))),
      mul(rect(sv.neg), conj(rect(si.neg))),
    ].reduce(add);
    close(sink, 3 * S3[0], St[0], tol, `#${n} P invariance`);
    close(sink, 3 * S3[1], St[1], tol, `#${n} Q invariance`);

    // Inverse transform gives back the phase voltages: Va = V0+V1+V2, Vb = V0+a²V1+aV2, Vc = V0+aV1+a²V2.
    const [z, p, q] = [rect(sv.zero), rect(sv.pos), rect(sv.neg)];
    const back = [add(add(z, p), q), add(add(z, mul(A2, p)), mul(A, q)), add(add(z, mul(A, p)), mul(A2, q))];
    (['a', 'b', 'c'] as const).forEach((k, j) => {
      const want = rect(m.v![k]!);
      close(sink, back[j]![0], want[0], 1e-9 * 400, `#${n} inverse re ${k}`);
      close(sink, back[j]![1], want[1], 1e-9 * 400, `#${n} inverse im ${k}`);
    });
    checked++;
  }
  t.same(failures.slice(0, 5), [], `${failures.length} mismatches`);
  t.equal(checked, 2000, 'every case ran');
});
