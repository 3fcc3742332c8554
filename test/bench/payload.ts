/** The benchmarks' sample message. */

/** A processed measurement as the pipeline stores it (three phases, powers, sequence components). */
export function processedPayload(i: number, extra?: Record<string, number>): string {
  const ph = (mag: number, ang: number): { mag: number; ang: number } => ({ mag, ang });
  return JSON.stringify({
    device: 'pmu1',
    ts: 1764000000020000 + i * 20_000,
    quality: 'good',
    freq: 50.01,
    rocof: 0.0,
    v: { a: ph(230.1, 0), b: ph(229.8, -120.1), c: ph(230.4, 119.9) },
    i: { a: ph(10.1, -30), b: ph(9.9, -150.2), c: ph(10.2, 89.7) },
    p: { a: 2012.3, b: 1968.1, c: 2034.5, total: 6014.9 },
    q: { a: 1161.8, b: 1140.3, c: 1172.2, total: 3474.3 },
    s: { a: 2323.6, b: 2274.5, c: 2349.3, total: 6947.4 },
    pf: { a: 0.866, b: 0.865, c: 0.866, total: 0.866 },
    v_total: 690.3,
    i_total: 30.2,
    seq: { v: { zero: ph(0.1, 12), pos: ph(230.1, 0), neg: ph(0.3, 33) }, v_unbalance_pct: 0.13 },
    ...extra,
  });
}
