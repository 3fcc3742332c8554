/**
 * Complex power of one phase from RMS phasors: S = V·conj(I) = |V||I|∠(θv − θi).
 * Plain arithmetic on numbers, no allocation beyond the result object.
 */
import type { Phasor } from '../common/measurement.js';

export const DEG = Math.PI / 180;

/** What one phase yields. `p`/`q` only when both phasors have angles; `pf` only when s > 0 and p is known. */
export interface PhasePower {
  p?: number;
  q?: number;
  s: number;
  pf?: number;
}

const hasOwn = Object.prototype.hasOwnProperty;

/** A usable magnitude: an own property `mag` holding a finite number (inherited properties never count). */
export function hasMag(x: Phasor | undefined | null): x is Phasor {
  return x != null && typeof x === 'object' && hasOwn.call(x, 'mag') && typeof x.mag === 'number' && Number.isFinite(x.mag);
}

/** A usable angle as well: an own property `ang` holding a finite number of degrees. */
export function hasAngle(x: Phasor | undefined | null): x is Phasor & { ang: number } {
  return hasMag(x) && hasOwn.call(x, 'ang') && typeof x.ang === 'number' && Number.isFinite(x.ang);
}

/** Apparent power |S| from active and reactive power. */
export function apparentPower(p: number, q: number): number {
  return Math.sqrt(p * p + q * q);
}

/** P/|S|, signed like P; undefined when |S| is 0 (no power factor without power). */
export function powerFactor(p: number, s: number): number | undefined {
  return s > 0 ? p / s : undefined;
}

/**
 * Power of one phase. With angles on both phasors: P = |V||I|cos(θv−θi), Q = |V||I|sin(θv−θi),
 * |S| = |V||I|, pf = P/|S|. Magnitudes only: |S| = |V||I| and nothing else.
 * Zero current gives p = q = s = 0 and no pf.
 */
export function phasePower(v: Phasor, i: Phasor): PhasePower {
  const s = v.mag * i.mag;
  if (!hasAngle(v) || !hasAngle(i)) return { s: Math.abs(s) };
  const d = (v.ang - i.ang) * DEG;
  const p = s * Math.cos(d) + 0; // `+ 0`: no -0 for zero current
  const q = s * Math.sin(d) + 0;
  const abs = Math.abs(s);
  return abs > 0 ? { p, q, s: abs, pf: p / abs } : { p, q, s: abs };
}
