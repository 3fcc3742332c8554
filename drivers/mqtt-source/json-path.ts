/**
 * A tiny JSON path subset, enough to pick one value out of a device's own JSON payload:
 *
 *   $.a.b        member b of member a of the root ("$" and the first "." are optional: "a.b")
 *   $.list[0]    element 0 of an array (any number of [N] after a member, or after "$")
 *   $["a b"]     a member whose name is not a plain word (double-quoted JSON string)
 *   $            the root itself (a payload that is a bare number)
 *
 * A plain member name is made of letters, digits, "_", "-" and ":". Nothing else (no wildcards,
 * filters, slices or recursive descent). `parseJsonPath` throws an Error naming the column of the
 * first problem; `resolveJsonPath` never throws and returns undefined when a step is missing.
 */

export type PathStep = string | number;

const NAME = /^[A-Za-z0-9_:-]+/;

/** The steps of `path`, or throws `Error("at column N: ...")`. */
export function parseJsonPath(path: string): PathStep[] {
  if (typeof path !== 'string' || path.trim() === '') throw new Error('must be a JSON path such as "$.Ua" or "$.data.values[0]"');
  const steps: PathStep[] = [];
  let k = 0;
  const fail = (why: string): never => {
    throw new Error(`at column ${k + 1} of ${JSON.stringify(path)}: ${why}`);
  };
  if (path[0] === '$') k = 1;
  else {
    // "a.b" without "$": the same as "$.a.b".
    const m = NAME.exec(path);
    if (!m) fail('expected "$" or a member name');
    steps.push(m![0]);
    k = m![0].length;
  }
  while (k < path.length) {
    const c = path[k];
    if (c === '.') {
      k++;
      const m = NAME.exec(path.slice(k));
      if (!m) fail('expected a member name (letters, digits, "_", "-", ":") after "."');
      steps.push(m![0]);
      k += m![0].length;
    } else if (c === '[') {
      const close = path.indexOf(']', k);
      if (close < 0) fail('"[" without "]"');
      const inner = path.slice(k + 1, close);
      if (/^\d+$/.test(inner)) {
        const n = Number(inner);
        if (!Number.isSafeInteger(n)) fail('array index too large');
        steps.push(n);
      } else if (inner.startsWith('"')) {
        let name: unknown;
        try {
          name = JSON.parse(inner);
        } catch {
          fail('a quoted member name must be a JSON string such as ["a b"]');
        }
        if (typeof name !== 'string') fail('a quoted member name must be a JSON string');
        steps.push(name as string);
      } else fail('expected an array index [0] or a quoted member name ["a b"]');
      k = close + 1;
    } else fail(`unexpected ${JSON.stringify(c)}`);
  }
  return steps;
}

/** The value at `steps` in `root`, or undefined when a step is missing (own members only). */
export function resolveJsonPath(root: unknown, steps: readonly PathStep[]): unknown {
  let cur: unknown = root;
  for (const s of steps) {
    if (typeof s === 'number') {
      if (!Array.isArray(cur) || s >= cur.length) return undefined;
      cur = cur[s];
    } else {
      if (typeof cur !== 'object' || cur === null || Array.isArray(cur) || !Object.prototype.hasOwnProperty.call(cur, s)) return undefined;
      cur = (cur as Record<string, unknown>)[s];
    }
  }
  return cur;
}
