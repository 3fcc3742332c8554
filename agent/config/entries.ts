/**
 * List entries validated one by one, each against its own convict schema (strict, defaults filled):
 * the entries of each plugin list by the plugin their `type` names, `mqtt.users[]` by USER_SCHEMA.
 */
import type { KindInfo } from '../core/kinds.js';
import { NO_INVALID_PATHS, type InvalidPaths, type PluginSpec } from '../core/plugin.js';
import { identifier } from './formats.js';
import { convictCheck } from './convict-check.js';
import { joinPath, showValue, type Problem } from './problems.js';
import { entryBaseSchema, USER_SCHEMA, type SchemaBranch } from './schema.js';
import { checkStructure, isPlainObject } from './structure.js';

type AnySpec = PluginSpec<unknown, unknown>;

/** The convict schema of one plugin's entries: `type`, `id`, then the plugin's own keys. */
export function pluginEntrySchema(kind: KindInfo, spec: AnySpec, knownTypes: readonly string[]): SchemaBranch {
  const own: SchemaBranch = { ...(spec.schema as SchemaBranch) };
  delete own['type'];
  delete own['id'];
  return { ...entryBaseSchema(kind, knownTypes), ...own };
}

function checkEntry(schema: SchemaBranch, raw: Record<string, unknown>, at: string, problems: Problem[]): Record<string, unknown> {
  const clean = checkStructure(raw, schema, at, problems);
  const r = convictCheck(schema, clean, at);
  problems.push(...r.problems);
  return r.value;
}

/** `a` is `b` or lies beneath it (`registers[2].type` beneath `registers[2]` and `registers`); '' holds every path. */
function within(a: string, b: string): boolean {
  return b === '' || a === b || a.startsWith(`${b}.`) || a.startsWith(`${b}[`);
}

/** The paths, relative to the entry at `at`, of the problems found in it (`tcp`, `registers[2].type`; '' for the entry itself). */
export function entryProblemPaths(problems: readonly Problem[], at: string): string[] {
  const out: string[] = [];
  for (const p of problems) {
    if (p.path === at) out.push('');
    else if (p.path.startsWith(`${at}.`)) out.push(p.path.slice(at.length + 1));
    else if (p.path.startsWith(`${at}[`)) out.push(p.path.slice(at.length));
  }
  return out;
}

/** InvalidPaths over the relative paths of an entry's problems: a path at, beneath or above one of them. */
export function invalidPaths(paths: readonly string[]): InvalidPaths {
  if (paths.length === 0) return NO_INVALID_PATHS;
  return (path) => paths.some((bad) => within(bad, path) || within(path, bad));
}

/**
 * A spec's own rules across its keys (optional `validate(entry, invalid): string[]`, each "key:
 * message"). `badPaths` are the entry's keys that failed their own checks (relative paths): the
 * rules are told so, and a rule message at or beneath one of them is left out (that key's own
 * problem is already reported).
 */
export function pluginRuleProblems(spec: AnySpec, entry: Record<string, unknown>, at: string, badPaths: readonly string[] = []): Problem[] {
  const validate = (spec as { validate?: unknown }).validate;
  if (typeof validate !== 'function') return [];
  let messages: unknown;
  try {
    messages = (validate as (cfg: Record<string, unknown>, invalid: InvalidPaths) => unknown).call(spec, entry, invalidPaths(badPaths));
  } catch (e) {
    // A rule that could not run on an entry with bad keys has nothing to add to their problems.
    return badPaths.length ? [] : [{ path: at, message: (e as Error).message }];
  }
  if (!Array.isArray(messages)) return [];
  const out: Problem[] = [];
  for (const m of messages) {
    const text = String(m);
    const k = /^([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*|\[\d+\])*): ([\s\S]*)$/.exec(text);
    const rel = k ? k[1]! : '';
    if (badPaths.some((bad) => bad !== '' && within(rel, bad))) continue;
    out.push(k ? { path: joinPath(at, k[1]!), message: k[2]! } : { path: at, message: text });
  }
  return out;
}

/** Validate a plugin list. Returns the entries with their defaults filled in. */
export function checkPluginList(
  list: readonly unknown[],
  kind: KindInfo,
  specs: ReadonlyMap<string, AnySpec>,
  problems: Problem[],
): Record<string, unknown>[] {
  const known = [...specs.keys()];
  const out: Record<string, unknown>[] = [];
  const seen = new Map<string, number>();
  list.forEach((raw, k) => {
    const at = `${kind.list}[${k}]`;
    if (!isPlainObject(raw)) {
      problems.push({ path: at, message: `must be an object with at least type and id, got ${showValue(raw)}` });
      return;
    }
    const type = raw['type'];
    const spec = typeof type === 'string' ? specs.get(type) : undefined;
    if (type === undefined || type === null) {
      problems.push({ path: `${at}.type`, message: `is required (one of the ${kind.kind} types: ${known.join(', ') || 'none registered'})` });
    } else if (!spec) {
      problems.push({
        path: `${at}.type`,
        message: `must be one of the known ${kind.kind} types (${known.join(', ') || 'none registered'}), got ${showValue(type)}`,
      });
    }
    let entry: Record<string, unknown>;
    if (spec) {
      const before = problems.length;
      entry = checkEntry(pluginEntrySchema(kind, spec, known), raw, at, problems);
      // The rules run on the well-formed keys even when others are bad, so that every problem shows at once.
      problems.push(...pluginRuleProblems(spec, entry, at, entryProblemPaths(problems.slice(before), at)));
    } else {
      // Without a known type the plugin's keys cannot be checked; the id still can.
      entry = { ...raw };
      if (raw['id'] === undefined) problems.push({ path: `${at}.id`, message: 'is required' });
      else {
        try {
          identifier(raw['id']);
        } catch (e) {
          problems.push({ path: `${at}.id`, message: `${(e as Error).message}, got ${showValue(raw['id'])}` });
        }
      }
    }
    const id = entry['id'];
    if (typeof id === 'string') {
      const first = seen.get(id);
      if (first !== undefined)
        problems.push({ path: `${at}.id`, message: `must be unique among ${kind.list} (${kind.list}[${first}] has it too), got ${showValue(id)}` });
      else seen.set(id, k);
    }
    out.push(entry);
  });
  return out;
}

/** Validate `mqtt.users` or `http.users`: each entry's keys, exactly one of password/passwordHash, unique usernames. */
export function checkUsers(list: readonly unknown[], listPath: string, problems: Problem[], schema: SchemaBranch = USER_SCHEMA): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const seen = new Map<string, number>();
  list.forEach((raw, k) => {
    const at = `${listPath}[${k}]`;
    if (!isPlainObject(raw)) {
      problems.push({ path: at, message: `must be an object { username, password or passwordHash, publish, subscribe }, got ${showValue(raw)}` });
      return;
    }
    const user = checkEntry(schema, raw, at, problems);
    const hasPassword = user['password'] !== undefined && user['password'] !== null;
    const hasHash = user['passwordHash'] !== undefined && user['passwordHash'] !== null;
    if (hasPassword === hasHash)
      problems.push({
        path: at,
        message: hasPassword ? 'give either password or passwordHash, not both' : 'needs a password or a passwordHash',
      });
    const name = user['username'];
    if (typeof name === 'string') {
      const first = seen.get(name);
      if (first !== undefined)
        problems.push({ path: `${at}.username`, message: `must be unique (${listPath}[${first}] has it too), got ${showValue(name)}` });
      else seen.set(name, k);
    }
    out.push(user);
  });
  return out;
}
