/**
 * The measurement message: the one shape that travels the data path
 * (driver → bal/raw → processors → bal/processed → buffer → forwarders).
 * Field names are relied on outside the repository (consumers, external tests): keep them stable.
 * Any field other than the electrical ones is a value addressed by its dotted path ("soc", "breaker.q1").
 */

export type Quality = 'good' | 'questionable' | 'invalid';

export const PHASES = ['a', 'b', 'c'] as const;
export type Phase = (typeof PHASES)[number];

/** RMS magnitude (V or A) and angle in degrees. Meters that report magnitudes only omit `ang`. */
export interface Phasor {
  mag: number;
  ang?: number;
}

export type PhaseSet = Partial<Record<Phase, Phasor>>;

/** A per-phase scalar quantity (power, power factor) with an optional three-phase total. */
export type PhaseValues = Partial<Record<Phase | 'total', number>>;

export interface SequenceSet {
  zero: Phasor;
  pos: Phasor;
  neg: Phasor;
}

export interface SequenceComponents {
  v?: SequenceSet;
  i?: SequenceSet;
  v_unbalance_pct?: number;
  i_unbalance_pct?: number;
}

export interface Measurement {
  device: string;
  /** Integer microseconds since the Unix epoch (UTC). */
  ts: number;
  quality: Quality;
  reasons?: string[];
  freq?: number;
  rocof?: number;
  v?: PhaseSet;
  i?: PhaseSet;
  p?: PhaseValues;
  q?: PhaseValues;
  s?: PhaseValues;
  pf?: PhaseValues;
  v_total?: number;
  i_total?: number;
  seq?: SequenceComponents;
  /**
   * The fields whose quality is worse than good, by dotted path. Without it every field has the
   * message's `quality`; with it, unnamed fields are good (rule and helpers: field-quality.ts).
   * `quality` is always the worst over the message.
   */
  field_quality?: Record<string, 'questionable' | 'invalid'>;
  /** Unknown extra fields are kept as they came. */
  [extra: string]: unknown;
}

const QUALITY_RANK: Record<Quality, number> = { good: 0, questionable: 1, invalid: 2 };

/** The worse of two qualities (derived values take the worst quality of their inputs). */
export function worstQuality(a: Quality, b: Quality): Quality {
  return QUALITY_RANK[a] >= QUALITY_RANK[b] ? a : b;
}

export function isQuality(x: unknown): x is Quality {
  return x === 'good' || x === 'questionable' || x === 'invalid';
}

/** Lower a measurement's quality to at least `q` and record why (no duplicate reasons). */
export function flag(m: Measurement, q: Quality, reason: string): void {
  m.quality = worstQuality(m.quality, q);
  const reasons = m.reasons ?? (m.reasons = []);
  if (!reasons.includes(reason)) reasons.push(reason);
}

/** Microseconds since the epoch, from the wall clock. */
export function nowMicros(): number {
  return Date.now() * 1000;
}
