/**
 * GRIDEDGE_* environment variables: each option's variable (schema `env`) overrides the file.
 * Strings are parsed strictly by the option's type, so a bad value is reported as written:
 * numbers in decimal notation only (`GRIDEDGE_HTTP_PORT=8081`; `0x50` or `1e3` are errors), booleans (true/false, 1/0, yes/no, on/off), lists as JSON
 * (`GRIDEDGE_DRIVERS='[{"type":"sim-pmu","id":"pmu1"}]'`; lists of strings also comma-separated:
 * `GRIDEDGE_STATS_WINDOWS=10s,1m`). Variables that name no option are ignored.
 */
import { showValue, type Problem } from './problems.js';
import { isLeaf, type SchemaBranch, type SchemaLeaf } from './schema.js';

export interface EnvOverride {
  path: string;
  variable: string;
  value: unknown;
}

const DECIMAL = /^[+-]?\d+(\.\d+)?$/;
const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

function parse(leaf: SchemaLeaf, raw: string): { value: unknown } | { error: string } {
  const d = leaf.default;
  if (typeof d === 'number') {
    // Decimal notation only: Number() would also take "0x50", "0b1", "1e3" and "" (0).
    const s = raw.trim();
    return { value: DECIMAL.test(s) ? Number(s) : raw };
  }
  if (typeof d === 'boolean') {
    const s = raw.trim().toLowerCase();
    return { value: TRUE.has(s) ? true : FALSE.has(s) ? false : raw };
  }
  if (Array.isArray(d) || (typeof d === 'object' && d !== null)) {
    const s = raw.trim();
    if (s.startsWith('[') || s.startsWith('{')) {
      try {
        return { value: JSON.parse(s) };
      } catch (e) {
        return { error: `is not valid JSON (${(e as Error).message.split('\n')[0]})` };
      }
    }
    if (Array.isArray(d) && d.every((x) => typeof x === 'string'))
      return { value: s === '' ? [] : s.split(',').map((x) => x.trim()) };
    return { error: 'must be JSON' };
  }
  return { value: raw };
}

function walk(schema: SchemaBranch, prefix: string, out: { path: string; leaf: SchemaLeaf }[]): void {
  for (const [k, node] of Object.entries(schema)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (isLeaf(node)) out.push({ path, leaf: node });
    else walk(node, path, out);
  }
}

export function envOverrides(env: NodeJS.ProcessEnv, schema: SchemaBranch): { overrides: EnvOverride[]; problems: Problem[] } {
  const options: { path: string; leaf: SchemaLeaf }[] = [];
  walk(schema, '', options);
  const overrides: EnvOverride[] = [];
  const problems: Problem[] = [];
  for (const { path, leaf } of options) {
    const variable = leaf.env;
    if (!variable) continue;
    const raw = env[variable];
    if (raw === undefined) continue;
    const r = parse(leaf, raw);
    if ('error' in r) problems.push({ path, message: `${variable} ${r.error}, got ${showValue(raw, leaf.sensitive === true)}` });
    else overrides.push({ path, variable, value: r.value });
  }
  return { overrides, problems };
}

/** Set `value` at dotted `path`, making groups as needed (a non-object in the way is replaced). */
export function setAt(doc: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let o = doc;
  for (const k of keys.slice(0, -1)) {
    const next = o[k];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  o[keys[keys.length - 1]!] = value;
}
