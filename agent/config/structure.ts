/**
 * The shape check before convict: every key must be declared (unknown keys are problems, with a
 * "did you mean" when a declared key is close), and a group of options must be an object. Returns
 * the input with only declared keys, so convict reports each remaining problem once.
 */
import { joinPath, showValue, type Problem } from './problems.js';
import { isLeaf, type SchemaBranch, type SchemaLeaf } from './schema.js';

export const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

/** Levenshtein distance, small strings only. */
function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

export function unknownKeyProblem(path: string, key: string, known: readonly string[]): Problem {
  const close = known
    .map((k) => ({ k, d: distance(key, k) }))
    .filter((x) => x.d <= Math.max(1, Math.floor(x.k.length / 3)))
    .sort((x, y) => x.d - y.d)[0];
  return { path: joinPath(path, key), message: close ? `unknown key (did you mean "${close.k}"?)` : 'unknown key' };
}

/** Whether convict copes with an object as this option's value (its default is an object or null). */
function takesObject(leaf: SchemaLeaf): boolean {
  const d = leaf.default;
  return d === null || (typeof d === 'object' && !Array.isArray(d)) || leaf.format === Object || leaf.format === 'object';
}

/** Why an object is not a valid value of this option, in the option's own words when it has them. */
function objectValueProblem(path: string, leaf: SchemaLeaf, v: unknown): Problem {
  let message = Array.isArray(leaf.default) ? 'must be a list' : `must be a ${typeof leaf.default}`;
  if (typeof leaf.format === 'function') {
    try {
      (leaf.format as (x: unknown) => void)(v);
    } catch (e) {
      message = (e as Error).message;
    }
  }
  return { path, message: `${message}, got ${showValue(v, leaf.sensitive === true)}` };
}

export function checkStructure(input: Record<string, unknown>, schema: SchemaBranch, path: string, problems: Problem[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const known = Object.keys(schema);
  for (const [k, v] of Object.entries(input)) {
    const node = Object.hasOwn(schema, k) ? schema[k] : undefined;
    const here = joinPath(path, k);
    if (!node) {
      problems.push(unknownKeyProblem(path, k, known));
      continue;
    }
    if (isLeaf(node)) {
      if (isPlainObject(v) && !takesObject(node)) {
        problems.push(objectValueProblem(here, node, v));
        continue;
      }
      // A YAML list key with every entry commented out ("forwarders:") is an empty list.
      if (v === null && Array.isArray(node.default)) out[k] = [];
      else out[k] = v instanceof Date ? v.toISOString() : v;
      continue;
    }
    if (v === null || v === undefined) continue; // an empty group in YAML ("mqtt:") is no group
    if (!isPlainObject(v)) {
      problems.push({ path: here, message: `must be a group of options (${Object.keys(node).join(', ')}), got ${showValue(v)}` });
      continue;
    }
    out[k] = checkStructure(v, node, here, problems);
  }
  return out;
}
