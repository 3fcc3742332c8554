/** Dotted field paths ("p.total", "v.a.mag", "freq") compiled once into accessor functions. */

/** Reads a number from a message; NaN when the path is missing or the value is not a finite number. */
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

const finite = (x: unknown): number => (typeof x === 'number' && x - x === 0 ? x : NaN);

const step = (o: unknown, k: string): unknown => (o !== null && typeof o === 'object' ? (o as R)[k] : undefined);

/** Compile `path` into a reader; throws (naming the path) when it is malformed. */
export function compileFieldPath(path: string): FieldReader {
  const e = fieldPathError(path);
  if (e) throw new RangeError(`field ${JSON.stringify(path)}: ${e}`);
  const p = path.split('.');
  switch (p.length) {
    case 1: {
      const [a] = p as [string];
      return (m) => finite((m as R)[a]);
    }
    case 2: {
      const [a, b] = p as [string, string];
      return (m) => finite(step((m as R)[a], b));
    }
    case 3: {
      const [a, b, c] = p as [string, string, string];
      return (m) => finite(step(step((m as R)[a], b), c));
    }
    default:
      return (m) => {
        let o: unknown = m;
        for (let k = 0; k < p.length; k++) o = step(o, p[k]!);
        return finite(o);
      };
  }
}
