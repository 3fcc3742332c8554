/**
 * loadConfig: one function for the daemon, `gridedge config check` and every CLI command that needs
 * the config. Layers, later wins: schema defaults < the file (or the embedded default) < GRIDEDGE_*
 * environment variables. Returns every problem at once, each `path: message, got <value>`.
 */
import type { AgentConfig } from '../core/config-types.js';
import { registry as defaultRegistry, type PluginRegistry } from '../registry.js';
import { convictCheck } from './convict-check.js';
import { embeddedDefault } from './embedded-default.js';
import { checkPluginList, checkUsers, entryProblemPaths, pluginRuleProblems } from './entries.js';
import { envOverrides, setAt } from './env.js';
import { migrate, type ConfigDocument, type MigrateOptions } from './migrate.js';
import { render, showValue, type Problem } from './problems.js';
import { readConfigFile } from './read-file.js';
import { crossFieldProblems } from './rules.js';
import { HTTP_USER_SCHEMA, ROOT_SCHEMA } from './schema.js';
import { KINDS, type ListKey } from '../core/kinds.js';
import { checkStructure, isPlainObject } from './structure.js';

export interface ConfigSource {
  /** A YAML (.yaml/.yml) or JSON (.json) file. */
  file?: string;
  /** Environment whose GRIDEDGE_* variables override options (none when omitted; the CLI passes process.env). */
  env?: NodeJS.ProcessEnv;
  /** Without a file: start from the embedded default (sim-pmu) instead of the bare schema defaults. */
  embeddedDefault?: boolean;
  /** Instead of a file: an already parsed document (tests, embedding). */
  document?: unknown;
}

export type LoadResult = { ok: true; config: AgentConfig } | { ok: false; errors: string[] };

export interface LoadOptions {
  registry?: PluginRegistry;
  migrations?: MigrateOptions;
}

function fail(problems: readonly Problem[]): LoadResult {
  return { ok: false, errors: problems.map(render) };
}

/** Problems about an option set from the environment say so. */
function tagEnvProblems(problems: Problem[], fromEnv: Map<string, string>): Problem[] {
  if (fromEnv.size === 0) return problems;
  return problems.map((p) => {
    for (const [path, variable] of fromEnv) {
      if ((p.path === path || p.path.startsWith(`${path}.`) || p.path.startsWith(`${path}[`)) && !p.message.startsWith(variable))
        return { path: p.path, message: `${p.message} (from ${variable})` };
    }
    return p;
  });
}

/**
 * Sections that configure a list's default entry: without the list in the config, it is
 * `[{ type, id: type, ...section }]` (empty when the section has `enabled: false`). A config that
 * gives the list as well would leave the section silently unused, which is a problem.
 */
const SECTION_DEFAULTS = [
  {
    section: 'scheduler',
    list: 'services',
    type: 'scheduler',
    unused:
      'configures the default scheduler service only, and this config gives a services list: configure the scheduler in its services[] entry instead (type: scheduler)',
  },
  {
    section: 'stats',
    list: 'aggregators',
    type: 'stats',
    unused:
      'configures the default aggregator only, and this config gives an aggregators list: configure the stats aggregator in its aggregators[] entry instead (type: stats)',
  },
] as const satisfies readonly { section: string; list: ListKey; type: string; unused: string }[];

/** Fill the lists the config leaves out from their sections; returns the lists so filled (checked with their section). */
function sectionDefaults(doc: ConfigDocument, config: Record<string, unknown>, registry: PluginRegistry, problems: Problem[]): Set<ListKey> {
  const filled = new Set<ListKey>();
  for (const d of SECTION_DEFAULTS) {
    if (Object.hasOwn(doc, d.list)) {
      if (Object.hasOwn(doc, d.section)) problems.push({ path: d.section, message: d.unused });
      continue;
    }
    if (!registry[d.list].has(d.type)) continue;
    const section = config[d.section];
    if (isPlainObject(section) && section['enabled'] === false) config[d.list] = [];
    else {
      const { enabled: _enabled, ...keys } = isPlainObject(section) ? section : {};
      config[d.list] = [{ type: d.type, id: d.type, ...keys }];
    }
    filled.add(d.list);
  }
  return filled;
}

/**
 * The `estimator` section (checked with the estimator analyzer's own schema, its problems under
 * estimator.*; `badPaths`: their paths in the section): when it names a network, it is one more
 * analyzers entry, `{ type: estimator, id: estimator, ...estimator }`, checked with the plugin's own
 * rules (the network, each well-formed measurement against it) beside those problems.
 */
function estimatorSection(config: Record<string, unknown>, registry: PluginRegistry, badPaths: readonly string[]): Problem[] {
  const est = config['estimator'];
  const spec = registry.analyzers.get('estimator');
  if (!isPlainObject(est) || typeof est['network'] !== 'string' || est['network'] === '' || !spec) return [];
  const entry = { type: 'estimator', id: 'estimator', ...est };
  const list = Array.isArray(config['analyzers']) ? (config['analyzers'] as Record<string, unknown>[]) : [];
  if (list.some((a) => a['id'] === 'estimator'))
    return [{ path: 'estimator', message: 'an analyzers[] entry already has the id "estimator": configure the estimator in one place' }];
  config['analyzers'] = [...list, entry];
  // The network rules run beside the section's own problems: a malformed measurement does not hide
  // an unknown bus in another one (the rules skip the paths already named).
  return pluginRuleProblems(spec, entry, 'estimator', badPaths);
}

export function loadConfig(source: ConfigSource, opts: LoadOptions = {}): LoadResult {
  const registry = opts.registry ?? defaultRegistry;
  let doc: unknown;
  const where = source.file ?? (source.document !== undefined ? '(document)' : '(embedded default)');
  // Problems of the file that leave a document to check (a key given twice, a forbidden key): the
  // rest of the config is checked too, and they are reported first.
  const problems: Problem[] = [];
  if (source.file !== undefined) {
    const r = readConfigFile(source.file);
    if (!r.ok && r.doc === undefined) return fail(r.problems);
    if (!r.ok) problems.push(...r.problems);
    doc = r.doc;
  } else if (source.document !== undefined) {
    doc = structuredClone(source.document);
  } else {
    doc = source.embeddedDefault ? embeddedDefault() : {};
  }
  if (doc === null || doc === undefined) doc = {}; // an empty file: every option at its default
  if (!isPlainObject(doc))
    return fail([...problems, { path: where, message: `must hold a mapping of options (gateway, mqtt, http, drivers ...) at the top level, got ${showValue(doc)}` }]);

  const migrated = migrate(doc, opts.migrations);
  if (!migrated.ok) return fail([...problems, ...migrated.problems]);
  const layered: ConfigDocument = migrated.doc;

  const env = envOverrides(source.env ?? {}, ROOT_SCHEMA);
  problems.push(...env.problems);
  const fromEnv = new Map<string, string>();
  for (const o of env.overrides) {
    setAt(layered, o.path, o.value);
    fromEnv.set(o.path, o.variable);
  }

  const clean = checkStructure(layered, ROOT_SCHEMA, '', problems);
  const root = convictCheck(ROOT_SCHEMA, clean, '');
  problems.push(...root.problems);
  const config = root.value;

  const mqtt = config['mqtt'] as Record<string, unknown>;
  if (Array.isArray(mqtt['users'])) mqtt['users'] = checkUsers(mqtt['users'], 'mqtt.users', problems);
  const http = config['http'] as Record<string, unknown>;
  if (Array.isArray(http['users'])) http['users'] = checkUsers(http['users'], 'http.users', problems, HTTP_USER_SCHEMA);
  // Lists left out come from their sections (checked above with the plugin's own schema, their
  // problems under the section's path).
  const filled = sectionDefaults(layered, config, registry, problems);
  for (const kind of KINDS) {
    const list = config[kind.list];
    if (filled.has(kind.list)) continue;
    if (Array.isArray(list)) config[kind.list] = checkPluginList(list, kind, registry[kind.list], problems);
  }
  problems.push(...estimatorSection(config, registry, entryProblemPaths(problems, 'estimator')));
  problems.push(...crossFieldProblems(config));

  if (problems.length) return fail(tagEnvProblems(problems, fromEnv));
  return { ok: true, config: config as unknown as AgentConfig };
}
