/**
 * Runs convict on one already structure-checked object (only known keys; groups are objects) and
 * turns its errors into Problems with full paths.
 *
 * convict coerces strings by the option's type on load (parseFloat("50x") → 50, any string but
 * "false" → true), which would hide exactly the mistakes we must report. We register identity
 * converters for the type names convict derives, so values reach the format checks as written;
 * environment strings are parsed strictly by agent/config/env.ts instead.
 */
import convict from 'convict';
import { ListCheckError } from './formats.js';
import { checkProblem, joinPath, valueAt, type Problem } from './problems.js';
import { isLeaf, type SchemaBranch, type SchemaLeaf } from './schema.js';

let registered = false;

function assertThat(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}

const isPortNumber = (x: unknown): boolean => Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 65535;

function registerIdentityConverters(): void {
  if (registered) return;
  registered = true;
  const same = (v: unknown): unknown => v;
  // Type names convict derives from `typeof default` for function formats: validation stays the
  // format function's; only the coercion is switched off.
  for (const name of ['number', 'boolean', 'string', 'object', 'array'])
    convict.addFormat({ name, validate: () => undefined, coerce: same });
  // convict's own named formats, same checks and messages as convict's, without coercion.
  const int = (x: unknown): void => assertThat(Number.isInteger(x), 'must be an integer');
  convict.addFormat({ name: 'int', validate: int, coerce: same });
  convict.addFormat({ name: 'integer', validate: int, coerce: same });
  convict.addFormat({
    name: 'nat',
    validate: (x: unknown) => assertThat(Number.isInteger(x) && (x as number) >= 0, 'must be a positive integer'),
    coerce: same,
  });
  convict.addFormat({
    name: 'port',
    validate: (x: unknown) => assertThat(isPortNumber(x), 'ports must be within range 0 - 65535'),
    coerce: same,
  });
}

export interface ConvictResult {
  /** The input with every default filled in (keys whose value is undefined are left out). */
  value: Record<string, unknown>;
  problems: Problem[];
}

/** Leaf paths (dotted, relative) present in `input`, with their values. */
function leaves(input: Record<string, unknown>, schema: SchemaBranch, prefix = ''): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (const [k, v] of Object.entries(input)) {
    const node = schema[k];
    if (!node) continue;
    const path = prefix ? `${prefix}.${k}` : k;
    if (isLeaf(node)) out.push([path, v]);
    else if (typeof v === 'object' && v !== null && !Array.isArray(v)) out.push(...leaves(v as Record<string, unknown>, node, path));
  }
  return out;
}

export function leafAt(schema: SchemaBranch, dotted: string): SchemaLeaf | undefined {
  let node: unknown = schema;
  for (const k of dotted.split('.')) {
    if (typeof node !== 'object' || node === null || isLeaf(node)) return undefined;
    node = (node as SchemaBranch)[k];
  }
  return isLeaf(node) ? node : undefined;
}

function dropUndefined(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropUndefined);
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = dropUndefined(x);
  return out;
}

/**
 * Validate `input` against `schema` (strict: undeclared keys are problems) and fill defaults.
 * `at` is the document path of `input` ('' for the root, `drivers[1]` for an entry).
 */
export function convictCheck(schema: SchemaBranch, input: Record<string, unknown>, at: string): ConvictResult {
  registerIdentityConverters();
  const failures = new Map<string, Error>();
  let conf: convict.Config<Record<string, unknown>>;
  try {
    conf = convict(recording(schema, '', failures) as unknown as convict.Schema<Record<string, unknown>>, { env: {}, args: [] });
  } catch (e) {
    return { value: input, problems: [{ path: at || '(root)', message: `the schema itself is invalid: ${(e as Error).message}` }] };
  }
  for (const [path, v] of leaves(input, schema)) conf.set(path, v);
  const value = conf.getProperties();
  const problems: Problem[] = [];
  try {
    conf.validate({ allowed: 'strict' });
  } catch (e) {
    for (const line of (e as Error).message.split('\n')) {
      if (line.trim()) problems.push(...convictLineProblems(line, schema, value, input, at, failures));
    }
  }
  return { value: dropUndefined(value) as Record<string, unknown>, problems };
}

/**
 * The schema with every function format wrapped so the Error it throws is kept by option path: a
 * list check (ListCheckError) reports each bad element, which convict's one-line text cannot carry.
 */
function recording(schema: SchemaBranch, prefix: string, failures: Map<string, Error>): SchemaBranch {
  const out: SchemaBranch = {};
  for (const [k, node] of Object.entries(schema)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (!isLeaf(node)) {
      out[k] = recording(node, path, failures);
      continue;
    }
    const format = node.format;
    if (typeof format !== 'function' || BUILT_IN_TYPES.has(format)) {
      out[k] = node;
      continue;
    }
    out[k] = {
      ...node,
      format: (v: unknown, leaf: unknown) => {
        try {
          (format as (v: unknown, leaf: unknown) => void)(v, leaf);
        } catch (e) {
          if (e instanceof Error) failures.set(path, e);
          throw e;
        }
      },
    };
  }
  return out;
}

const BUILT_IN_TYPES = new Set<unknown>([Object, Array, String, Number, Boolean, RegExp]);

/** One line of convict's validate() error text → its Problems (one per bad element of a list). */
function convictLineProblems(
  line: string,
  schema: SchemaBranch,
  value: Record<string, unknown>,
  input: Record<string, unknown>,
  at: string,
  failures: ReadonlyMap<string, Error>,
): Problem[] {
  const undeclared = /^configuration param '(.+)' not declared in the schema$/.exec(line);
  if (undeclared) return [{ path: joinPath(at, undeclared[1]!), message: 'unknown key' }];
  const missing = /^configuration param '(.+)' missing from config/.exec(line);
  if (missing) return [{ path: joinPath(at, missing[1]!), message: 'missing' }];
  const m = /^([^\s:]+): ([\s\S]*)$/.exec(line);
  if (!m) return [{ path: at || '(root)', message: line }];
  const failure = failures.get(m[1]!);
  if (failure instanceof ListCheckError) {
    const leaf = leafAt(schema, m[1]!);
    const v = valueAt(value, m[1]!);
    return failure.problems.map((msg) => checkProblem(joinPath(at, m[1]!), msg, v, leaf?.sensitive === true));
  }
  return [convictLineProblem(m, schema, value, input, at)];
}

function convictLineProblem(
  m: RegExpExecArray,
  schema: SchemaBranch,
  value: Record<string, unknown>,
  input: Record<string, unknown>,
  at: string,
): Problem {
  const name = m[1]!;
  let message = m[2]!;
  // convict appends ": value was <json>" for truthy values; we show the value ourselves.
  const cut = message.lastIndexOf(': value was ');
  if (cut >= 0) message = message.slice(0, cut);
  message = message.trim();
  const leaf = leafAt(schema, name);
  const v = valueAt(value, name);
  const given = valueAt(input, name);
  if ((v === null || v === undefined) && given === undefined)
    return { path: joinPath(at, name), message: `is required (${message})` };
  return checkProblem(joinPath(at, name), message, v, leaf?.sensitive === true);
}
