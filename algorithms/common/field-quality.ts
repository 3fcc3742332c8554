/**
 * Quality per field. Pure functions over a measurement's `quality` and `field_quality`; nothing here
 * allocates per call except where a function returns a new object.
 *
 * The rule (see README.md, "Quality per field"):
 * - Without `field_quality`, every field has the message's `quality`.
 * - With `field_quality`, the fields it does not name are good.
 * - An entry covers its own path, every path below it and every path above it: "v.a": invalid makes
 *   "v.a.mag" invalid, and asking for "v.a" when "v.a.mag" is questionable gives questionable.
 *   The quality of a path is the worst of the message-level rule and every entry that covers it.
 * - Only own properties are read: a key inherited through the prototype chain never counts.
 */
import type { Measurement, Quality } from './measurement.js';

/** `{ "<dotted path>": "questionable" | "invalid" }`: the fields whose quality is worse than good. */
export type FieldQuality = Record<string, 'questionable' | 'invalid'>;

const hasOwn = Object.prototype.hasOwnProperty;

/** Quality by rank: 0 good, 1 questionable, 2 invalid. */
export const QUALITY_BY_RANK: readonly Quality[] = ['good', 'questionable', 'invalid'];

/**
 * Rank of a quality: good 0, questionable 1, invalid 2. Anything else (a value that is not a quality)
 * ranks as questionable: it cannot be trusted as good, and nothing says it is invalid.
 */
export function qualityRank(q: unknown): number {
  return q === 'good' ? 0 : q === 'invalid' ? 2 : 1;
}

/** The message's `field_quality` when it is an own property holding a non-array object, else undefined. */
export function fieldQualityOf(m: object): FieldQuality | undefined {
  if (!hasOwn.call(m, 'field_quality')) return undefined;
  const fq = (m as { field_quality?: unknown }).field_quality;
  return fq !== null && typeof fq === 'object' && !Array.isArray(fq) ? (fq as FieldQuality) : undefined;
}

/** Whether the entry `key` covers `path`: equal, or one is the other followed by "." and more segments. */
export function covers(key: string, path: string): boolean {
  const kl = key.length, pl = path.length;
  if (kl === pl) return key === path;
  if (kl < pl) return path.charCodeAt(kl) === 46 /* . */ && path.startsWith(key);
  return key.charCodeAt(pl) === 46 && key.startsWith(path);
}

/**
 * Worst rank over the entries of `fq` that cover `path` (0 when none does). No allocation; cost is one
 * pass over the entries.
 */
export function fieldRank(fq: FieldQuality, path: string): number {
  let r = 0;
  for (const k in fq) {
    if (!hasOwn.call(fq, k) || !covers(k, path)) continue;
    const q = qualityRank(fq[k]);
    if (q > r) {
      r = q;
      if (r === 2) break;
    }
  }
  return r;
}

/** Rank form of `qualityOf`. */
export function qualityRankOf(m: Measurement, path: string): number {
  const fq = fieldQualityOf(m);
  return fq === undefined ? qualityRank(hasOwn.call(m, 'quality') ? m.quality : undefined) : fieldRank(fq, path);
}

/**
 * Quality of the field at dotted `path` in `m`: without `field_quality`, the message's quality
 * (a missing or unknown `quality` counts as questionable); with it, the worst entry covering the path,
 * good when none does.
 */
export function qualityOf(m: Measurement, path: string): Quality {
  return QUALITY_BY_RANK[qualityRankOf(m, path)]!;
}

/** Worst quality over the entries of `fq` (good when it is empty or absent). */
export function worstFieldQuality(fq: FieldQuality | undefined): Quality {
  if (fq === undefined) return 'good';
  let r = 0;
  for (const k in fq) {
    if (!hasOwn.call(fq, k)) continue;
    const q = qualityRank(fq[k]);
    if (q > r) r = q;
  }
  return QUALITY_BY_RANK[r]!;
}

/**
 * Record that the field at `path` has quality `q` in `fq`: nothing for good; otherwise the entry becomes
 * the worse of `q` and what `fq` already had for exactly that path. Mutates `fq`. A key such as
 * "__proto__" is written as an own property, never as the object's prototype.
 */
export function markField(fq: FieldQuality, path: string, q: Quality): void {
  const r = qualityRank(q);
  if (r === 0) return;
  if (hasOwn.call(fq, path) && qualityRank(fq[path]) >= r) return;
  setOwn(fq, path, QUALITY_BY_RANK[r] as 'questionable' | 'invalid');
}

/** A copy of `fq` holding its own entries only ("__proto__" kept as an own key). */
export function copyFieldQuality(fq: FieldQuality): FieldQuality {
  const out: FieldQuality = {};
  for (const k in fq) if (hasOwn.call(fq, k)) setOwn(out, k, fq[k]);
  return out;
}

/** `o[k] = v` as an own data property, also for the key "__proto__" (which plain assignment would not create). */
export function setOwn(o: object, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else (o as Record<string, unknown>)[k] = v;
}

/**
 * Set the value at dotted `path` in `o` as own properties (`__proto__` included), creating the
 * objects on the way and replacing a non-object found there. Drivers build messages with it.
 */
export function setPath(o: object, path: string, v: unknown): void {
  const parts = path.split('.');
  let cur = o as Record<string, unknown>;
  for (let k = 0; k < parts.length - 1; k++) {
    const p = parts[k]!;
    let next = cur[p];
    if (typeof next !== 'object' || next === null) {
      next = {};
      setOwn(cur, p, next);
    }
    cur = next as Record<string, unknown>;
  }
  setOwn(cur, parts[parts.length - 1]!, v);
}
