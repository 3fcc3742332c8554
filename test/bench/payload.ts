/** The benchmarks' sample messages. */
import { computePower } from '../../algorithms/power/index.js';
import { PmuSignal } from '../../drivers/sim-pmu/signal.js';

/**
 * A raw three-phase measurement as a client publishes it to `bal/raw/...` (or to a broker the
 * mqtt-source driver reads): number `k`, sent at `sentMs` (for latency; 0 when not measured).
 */
export function rawPayload(k: number, sentMs: number): string {
  return JSON.stringify({
    ts: Date.now() * 1000,
    quality: 'good',
    freq: 50.01,
    sent: sentMs,
    k,
    v: { a: { mag: 230.1, ang: 0.1 }, b: { mag: 229.8, ang: -119.9 }, c: { mag: 230.4, ang: 120.2 } },
    i: { a: { mag: 101.2, ang: -18.1 }, b: { mag: 98.7, ang: -138.2 }, c: { mag: 102.3, ang: 101.9 } },
  });
}

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

/**
 * What the pipeline really stores for simulated PMUs: `sim-pmu` samples (the driver's default
 * signal, noisy full-precision values) processed by the `power` processor, JSON as the pipeline
 * writes it (≈ 1.34 kB). Row `i` is device `pmu<i % devices + 1>` at sample `floor(i / devices)` of 50/s.
 */
export function pipelinePayloads(n: number, devices = 1): { topic: string; payload: string }[] {
  const sigs = Array.from(
    { length: devices },
    (_, k) =>
      new PmuSignal(
        { nominalVoltage: 230, current: 10, powerFactor: 0.95, unbalancePct: 1, currentUnbalancePct: 2, noisePct: 0.1, frequency: 50, frequencyDrift: 0.02, seed: 1 },
        k,
      ),
  );
  const out: { topic: string; payload: string }[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const d = i % devices;
    const device = `pmu${d + 1}`;
    out[i] = { topic: `bal/processed/${device}`, payload: JSON.stringify(computePower(sigs[d]!.sample(device, 1764000000000000 + Math.floor(i / devices) * 20_000))) };
  }
  return out;
}
