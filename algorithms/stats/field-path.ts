/** Dotted field paths ("p.total", "v.a.mag", "soc", "breaker.q1") compiled once into accessor functions. */

/**
 * Reads a field sample from a message: a finite number as it is, a boolean as 1 (true) or 0 (false);
 * NaN when the path is missing, passes through an array, or ends at anything else (string, array,
 * object, non-finite number). Only own properties are read.
 */
export type FieldReader = (m: object) => number;

const SEGMENT = /^[A-Za-z0-9_]+$/;

/** Why a dotted path is not usable, or null when it is. */
export function fieldPathError(path: unknown): string | null {
  if (typeof path !== 'string' || path === '') return 'must be a non-empty dotted path such as "p.total"';
  for (const seg of path.split('.'))
    if (!SEGMENT.test(seg)) return `has a bad segment ${JSON.stringify(seg)} (letters, digits and "_" between dots)`;
  return null;
}

type R = Record<string, unknown>;
const hasOwn = Object.prototype.hasOwnProperty;

/** A sample value: finite number as is, boolean as 1/0, anything else NaN. */
const sample = (x: unknown): number =>
  typeof x === 'number' ? (x - x === 0 ? x : NaN) : x === true ? 1 : x === false ? 0 : NaN;

/** Own property `k` of a non-array object; undefined for anything else (arrays are not stepped into). */
const step = (o: unknown, k: string): unknown =>
  o !== null && typeof o === 'object' && !Array.isArray(o) && hasOwn.call(o, k) ? (o as R)[k] : undefined;

/** Compile `path` into a reader; throws (naming the path) when it is malformed. */
export function compileFieldPath(path: string): FieldReader {
  const e = fieldPathError(path);
  if (e) throw new RangeError(`field ${JSON.stringify(path)}: ${e}`);
  const p = path.split('.');
  switch (p.length) {
    case 1: {
      const [a] = p as [string];
      return (m) => sample(step(m, a));
    }
    case 2: {
      const [a, b] = p as [string, string];
      return (m) => sample(step(step(m, a), b));
    }
    case 3: {
      const [a, b, c] = p as [string, string, string];
      return (m) => sample(step(step(step(m, a), b), c));
    }
    default:
      return (m) => {
        let o: unknown = m;
        for (let k = 0; k < p.length; k++) o = step(o, p[k]!);
        return sample(o);
      };
  }
}
