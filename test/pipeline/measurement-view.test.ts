/**
 * The aggregators' view of a measurement processed in an ingest worker (agent/pipeline/measurement-view.ts):
 * built from the header and the samples the worker read, it must give the stats aggregator exactly
 * what the whole measurement gives. Checked by running two WindowedStats (algorithms/stats), one fed
 * the measurements and one fed their views, over generated measurements with every kind of field a
 * reader may meet (numbers, booleans, strings, arrays, objects, missing, non-finite values, field
 * quality), and comparing every window they publish. Also: which path sets get no plan.
 */
import t from 'tap';
import type { Measurement } from '../../algorithms/common/measurement.js';
import { WindowedStats } from '../../algorithms/stats/index.js';
import { viewPlan } from '../../agent/pipeline/measurement-view.js';
import { prng as rng } from '../../algorithms/common/prng.js'; // mulberry32, seeded: a failure can be replayed


const PATHS = ['p.total', 'p.a', 'v.a.mag', 'v.b.mag', 'freq', 'soc', 'breaker.q1', 'deep.a.b.c.d', 'arr.x'];

function leaf(r: () => number): unknown {
  const k = Math.floor(r() * 12);
  switch (k) {
    case 0: return undefined;
    case 1: return true;
    case 2: return false;
    case 3: return 'text';
    case 4: return [1, 2];
    case 5: return { nested: 1 };
    case 6: return Infinity;
    case 7: return null;
    default: return Math.round((r() - 0.3) * 1e6) / 100;
  }
}

function measurement(r: () => number, n: number): Measurement {
  const m: Record<string, unknown> = { device: `d${n % 3}`, ts: 1_700_000_000_000_000 + n * 100_000 };
  if (r() < 0.8) m.quality = ['good', 'questionable', 'invalid', 'odd'][Math.floor(r() * 4)];
  const put = (path: string, v: unknown): void => {
    if (v === undefined) return;
    const segs = path.split('.');
    let o = m;
    for (const s of segs.slice(0, -1)) {
      const next = (o[s] ??= {});
      if (next === null || typeof next !== 'object' || Array.isArray(next)) return; // a scalar or array is already here
      o = next as Record<string, unknown>;
    }
    o[segs.at(-1)!] = v;
  };
  for (const p of PATHS) {
    if (r() < 0.15) continue;
    // Sometimes an inner segment is not an object at all, or is an array.
    if (p.includes('.') && r() < 0.1) put(p.split('.')[0]!, r() < 0.5 ? 7 : [1]);
    else put(p, leaf(r));
  }
  if (r() < 0.3) m.field_quality = { p: ['good', 'invalid', 'questionable'][Math.floor(r() * 3)], 'v.a.mag': 'invalid' };
  if (r() < 0.1) m.reasons = ['ts_future'];
  m.extra = { big: 'not in the view' };
  return m as unknown as Measurement;
}

t.test('the stats aggregator gets the same windows from views as from the measurements', async (t) => {
  const plan = viewPlan(PATHS);
  if (!plan) throw new Error('no plan for paths that are no prefix of each other');
  t.equal(plan.width, PATHS.length, 'one sample per path');
  const opts = { windows: ['1s', '10s'], fields: PATHS, rmsFields: ['v.a.mag'], graceMs: 0 };
  const fromWhole = new WindowedStats(opts);
  const fromView = new WindowedStats(opts);
  const r = rng(20261130);
  const N = 5000;
  const values = new Float64Array(N * plan.width);
  const outcomes: string[] = [];
  for (let n = 0; n < N; n++) {
    const m = measurement(r, n);
    plan.read(m, values, n * plan.width);
    // Through a structured clone, as between the threads.
    const head = structuredClone(plan.head(m));
    const view = plan.build(head, values, n * plan.width);
    if ('extra' in view) outcomes.push(`measurement ${n}: its view holds a field no path names`);
    const a = fromWhole.add(m);
    const b = fromView.add(view);
    if (JSON.stringify(a) !== JSON.stringify(b)) outcomes.push(`measurement ${n}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
  }
  t.same(outcomes, [], 'every add had the same outcome, and no view held more than its paths');
  const w1 = fromWhole.flushAll();
  const w2 = fromView.flushAll();
  t.ok(w1.length > 10, `windows were published (${w1.length})`);
  t.equal(JSON.stringify(w2), JSON.stringify(w1), 'every window the same, to the last digit');
  const c = fromWhole.counts();
  t.ok(c.excludedFields > 0 && c.excluded + c.accepted > 0, 'the data had invalid fields and accepted measurements');
});

t.test('path sets that cannot form a view get no plan (aggregators then get the whole measurement)', async (t) => {
  t.equal(viewPlan(['v.a', 'v.a.mag']), null, 'one path a prefix of another');
  t.equal(viewPlan(['__proto__.x']), null, 'a __proto__ segment');
  t.not(viewPlan(['v.a', 'v.ab', 'v.a']), null, 'a shared start that is no segment prefix, and a duplicate, are fine');
  t.equal(viewPlan(['v.a', 'v.ab', 'v.a'])!.width, 2, 'duplicates read once');
});

t.test('the header is kept as it is', async (t) => {
  const plan = viewPlan(['p.total'])!;
  const m = { device: 'x', ts: 5, quality: 'questionable', field_quality: { p: 'invalid' }, reasons: ['ts_past'], p: { total: 3, a: 1 } } as unknown as Measurement;
  const values = new Float64Array(1);
  plan.read(m, values, 0);
  t.same(plan.build(plan.head(m), values, 0), { device: 'x', ts: 5, quality: 'questionable', field_quality: { p: 'invalid' }, reasons: ['ts_past'], p: { total: 3 } });
});
