/**
 * Symmetrical components (Fortescue), with a = 1∠120°:
 *   X0 = (Xa + Xb + Xc)/3,  X1 = (Xa + a·Xb + a²·Xc)/3,  X2 = (Xa + a²·Xb + a·Xc)/3.
 * Unbalance (IEC 61000-4-30 u2) = 100·|X2|/|X1| %.
 */
import type { Phasor, SequenceSet } from '../common/measurement.js';
import { DEG, hasAngle } from './phase-power.js';

const RAD = 180 / Math.PI;
const H = Math.sqrt(3) / 2; // Im(a); Re(a) = −1/2

function polar(re: number, im: number): Phasor {
  return { mag: Math.sqrt(re * re + im * im), ang: Math.atan2(im, re) * RAD };
}

/**
 * Zero, positive and negative sequence phasors of phases a, b, c (angles in degrees).
 * Throws when a phasor has no usable magnitude or angle, naming the phase.
 */
export function sequenceComponents(a: Phasor, b: Phasor, c: Phasor): SequenceSet {
  if (!hasAngle(a)) throw new RangeError(`sequenceComponents: phase a needs a finite mag and ang, got ${JSON.stringify(a)}`);
  if (!hasAngle(b)) throw new RangeError(`sequenceComponents: phase b needs a finite mag and ang, got ${JSON.stringify(b)}`);
  if (!hasAngle(c)) throw new RangeError(`sequenceComponents: phase c needs a finite mag and ang, got ${JSON.stringify(c)}`);
  const ar = a.mag * Math.cos(a.ang * DEG), ai = a.mag * Math.sin(a.ang * DEG);
  const br = b.mag * Math.cos(b.ang * DEG), bi = b.mag * Math.sin(b.ang * DEG);
  const cr = c.mag * Math.cos(c.ang * DEG), ci = c.mag * Math.sin(c.ang * DEG);
  // a·X = (−½·Xr − H·Xi) + j(H·Xr − ½·Xi);  a²·X = (−½·Xr + H·Xi) + j(−H·Xr − ½·Xi)
  const sr = br + cr, si = bi + ci; // b + c
  const dr = br - cr, di = bi - ci; // b − c
  // a·b + a²·c = −½(b+c) + jH(b−c);  a²·b + a·c = −½(b+c) − jH(b−c);  jH·(x + jy) = −H·y + jH·x
  const z0r = (ar + sr) / 3, z0i = (ai + si) / 3;
  const p1r = (ar - 0.5 * sr - H * di) / 3, p1i = (ai - 0.5 * si + H * dr) / 3;
  const n2r = (ar - 0.5 * sr + H * di) / 3, n2i = (ai - 0.5 * si - H * dr) / 3;
  return { zero: polar(z0r, z0i), pos: polar(p1r, p1i), neg: polar(n2r, n2i) };
}

/**
 * 100·|X2|/|X1|, or undefined when |X1| is 0. |X1| counts as 0 when it is below 1e-12 of
 * |X0| + |X1| + |X2|: that is floating-point residue (a pure negative-sequence set computes to
 * |X1| ≈ 1e-17), and dividing by it would report a meaningless 1e18 %.
 */
export function unbalancePct(set: SequenceSet): number | undefined {
  const pos = set.pos.mag;
  if (!(pos > 1e-12 * (set.zero.mag + pos + set.neg.mag))) return undefined;
  return (100 * set.neg.mag) / pos;
}
