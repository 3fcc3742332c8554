/**
 * The simulated three-phase PMU's signal model: a pure function of (parameters, device index, time),
 * so runs are reproducible from the seed.
 */
import type { Measurement, PhaseSet } from '../../algorithms/common/measurement.js';
import { prng } from '../../algorithms/common/prng.js';

export { prng };

export interface SignalParams {
  /** Phase-to-neutral RMS voltage (V). */
  nominalVoltage: number;
  /** Load current per phase (A RMS). */
  current: number;
  /** Displacement power factor of the load (0..1], lagging when positive. */
  powerFactor: number;
  /** Voltage unbalance: phase b is lowered and phase c raised by this percentage. */
  unbalancePct: number;
  /** Current unbalance, same meaning. */
  currentUnbalancePct: number;
  /** Gaussian-ish noise on magnitudes, as a percentage of the value (1 sigma). */
  noisePct: number;
  /** Nominal frequency (Hz). */
  frequency: number;
  /** Peak frequency deviation of a slow sinusoidal drift (Hz). */
  frequencyDrift: number;
  seed: number;
}

/** Approximately normal noise with mean 0 and sigma 1 (sum of 4 uniforms, rescaled). */
function gauss(rand: () => number): number {
  return (rand() + rand() + rand() + rand() - 2) * 1.7320508;
}

const wrap = (deg: number): number => {
  const x = ((deg + 180) % 360 + 360) % 360 - 180;
  return x === -180 ? 180 : x;
};

export class PmuSignal {
  private readonly rand: () => number;
  /** Each device drifts with its own phase offset so devices differ. */
  private readonly driftPhase: number;
  private readonly loadScale: number;

  constructor(private readonly p: SignalParams, private readonly index: number) {
    this.rand = prng(p.seed * 7919 + index * 104729 + 1);
    this.driftPhase = this.rand() * 2 * Math.PI;
    this.loadScale = 0.8 + 0.4 * this.rand();
  }

  /** The measurement at time `tsMicros` for device `device`. */
  sample(device: string, tsMicros: number): Measurement {
    const p = this.p;
    const tSec = tsMicros / 1e6;
    // Slow drift: one cycle every 60 s plus the device's own offset.
    const df = p.frequencyDrift * Math.sin((2 * Math.PI * tSec) / 60 + this.driftPhase);
    const freq = p.frequency + df;
    const rocof = p.frequencyDrift * ((2 * Math.PI) / 60) * Math.cos((2 * Math.PI * tSec) / 60 + this.driftPhase);
    // The phasor of a signal at f observed against a reference rotating at the nominal f advances
    // by 360·(f − f0)·t degrees; with a sinusoidal drift the integral of df is used.
    const thetaDeg =
      (-p.frequencyDrift * 60 / (2 * Math.PI)) * Math.cos((2 * Math.PI * tSec) / 60 + this.driftPhase) * 360;
    const noise = (x: number) => x * (1 + (p.noisePct / 100) * gauss(this.rand));
    const vu = p.unbalancePct / 100;
    const iu = p.currentUnbalancePct / 100;
    const phi = (Math.acos(Math.min(1, Math.max(-1, p.powerFactor))) * 180) / Math.PI;
    const vMag = [p.nominalVoltage, p.nominalVoltage * (1 - vu), p.nominalVoltage * (1 + vu)];
    const iBase = p.current * this.loadScale;
    const iMag = [iBase, iBase * (1 - iu), iBase * (1 + iu)];
    const shifts = [0, -120, 120];
    const keys = ['a', 'b', 'c'] as const;
    const v: PhaseSet = {};
    const i: PhaseSet = {};
    for (let k = 0; k < 3; k++) {
      const key = keys[k]!;
      const va = wrap(thetaDeg + shifts[k]!);
      v[key] = { mag: noise(vMag[k]!), ang: va };
      i[key] = { mag: noise(iMag[k]!), ang: wrap(va - phi) };
    }
    return { device, ts: tsMicros, quality: 'good', freq, rocof, v, i };
  }
}
