/**
 * Every option, described from the schemas themselves: path, doc, default, accepted values and
 * environment variable — for `gridedge config schema` (Markdown or JSON) and the README's reference.
 */
import { registry as defaultRegistry, type PluginRegistry } from '../registry.js';
import { KINDS, type ListKey } from '../core/kinds.js';
import { EMBEDDED_DEFAULT } from './embedded-default.js';
import { pluginEntrySchema } from './entries.js';
import { CONFIG_VERSION } from './migrate.js';
import { HTTP_USER_SCHEMA, isLeaf, ROOT_SCHEMA, USER_SCHEMA, type SchemaBranch, type SchemaLeaf } from './schema.js';

export interface OptionDescription {
  /** `http.port`, `mqtt.users[].publish`, `drivers[].rate`. */
  path: string;
  doc: string;
  /** The schema default (undefined: none; null: required). */
  default: unknown;
  /** What values are accepted, in words. */
  format: string;
  /** The GRIDEDGE_* variable that overrides it, when there is one. */
  env?: string;
  /** The plugin type the option belongs to (`drivers[].rate` of `sim-pmu`). */
  plugin?: string;
  required?: boolean;
  /** The value the embedded default (no config file) uses, where it differs from `default`. */
  embeddedDefault?: unknown;
}

export interface PluginDescription {
  type: string;
  doc: string;
}

export interface SchemaDescription {
  configVersion: number;
  options: OptionDescription[];
  /** The plugins of each kind, by the kind's list key (`drivers`, `processors` ...). */
  plugins: Record<ListKey, PluginDescription[]>;
  /** The document `gridedge run` uses without a config file, laid over the defaults. */
  embeddedDefault: unknown;
}

const PROBE = Symbol('probe');

/** Describe a format: its own "must be ..." message when it rejects a value no format accepts. */
export function describeFormat(leaf: SchemaLeaf): string {
  const f = leaf.format;
  if (Array.isArray(f)) return `one of ${f.map((x) => JSON.stringify(x)).join(', ')}`;
  if (typeof f === 'string') return f;
  if (f === String || f === Number || f === Boolean || f === Array || f === Object) return (f as { name: string }).name.toLowerCase();
  if (typeof f === 'function') {
    try {
      (f as (x: unknown) => void)(PROBE);
    } catch (e) {
      const m = /^(?:must be |should be )([\s\S]+)$/.exec((e as Error).message.trim());
      if (m) return m[1]!;
    }
  }
  const d = leaf.default;
  return Array.isArray(d) ? 'list' : d === null || d === undefined ? 'any' : typeof d;
}

function walk(schema: SchemaBranch, prefix: string, extra: Partial<OptionDescription>, out: OptionDescription[]): void {
  for (const [k, node] of Object.entries(schema)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (!isLeaf(node)) {
      walk(node, path, extra, out);
      continue;
    }
    const o: OptionDescription = { path, doc: node.doc ?? '', default: node.default, format: describeFormat(node), ...extra };
    if (node.env) o.env = node.env;
    if (node.default === null) o.required = true;
    out.push(o);
  }
}

export function describeSchema(registry: PluginRegistry = defaultRegistry): SchemaDescription {
  const options: OptionDescription[] = [];
  walk(ROOT_SCHEMA, '', {}, options);
  for (const o of options) {
    const embedded = (EMBEDDED_DEFAULT as Record<string, unknown>)[o.path];
    if (embedded !== undefined && JSON.stringify(embedded) !== JSON.stringify(o.default)) o.embeddedDefault = embedded;
  }
  walk(USER_SCHEMA, 'mqtt.users[]', {}, options);
  walk(HTTP_USER_SCHEMA, 'http.users[]', {}, options);
  const plugins = {} as Record<ListKey, PluginDescription[]>;
  for (const kind of KINDS) {
    const specs = registry[kind.list];
    const known = [...specs.keys()];
    for (const spec of specs.values()) walk(pluginEntrySchema(kind, spec, known), `${kind.list}[]`, { plugin: spec.type }, options);
    plugins[kind.list] = [...specs.values()].map((s) => ({ type: s.type, doc: s.doc }));
  }
  return {
    configVersion: CONFIG_VERSION,
    options,
    plugins,
    embeddedDefault: EMBEDDED_DEFAULT,
  };
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\n/g, ' ');
const code = (v: unknown): string => (v === undefined ? '—' : v === null ? '*required*' : `\`${cell(JSON.stringify(v))}\``);

function table(rows: OptionDescription[], withEnv: boolean): string[] {
  const head = withEnv ? ['| Option | Default | Environment | Accepted values | Description |', '|---|---|---|---|---|'] : ['| Option | Default | Accepted values | Description |', '|---|---|---|---|'];
  return [
    ...head,
    ...rows.map((o) => {
      let def = code(o.default);
      if (o.embeddedDefault !== undefined) def += ` (embedded default: ${code(o.embeddedDefault)})`;
      const cols = [`\`${o.path}\``, def, ...(withEnv ? [o.env ? `\`${o.env}\`` : '—'] : []), cell(o.format), cell(o.doc)];
      return `| ${cols.join(' | ')} |`;
    }),
  ];
}

/** The description as Markdown: the agent's options, then each plugin's. `level` is the heading level. */
export function schemaMarkdown(d: SchemaDescription = describeSchema(), level = 2): string {
  const h = '#'.repeat(level);
  const out: string[] = [];
  out.push(`${h} Options (config version ${d.configVersion})`, '');
  out.push(
    'Defaults apply to every option a config file leaves out. Without a config file, `gridedge run` uses the embedded default: ' +
      `\`${JSON.stringify(d.embeddedDefault)}\` over these defaults. Environment variables override both.`,
    '',
  );
  out.push(...table(d.options.filter((o) => !o.path.includes('[]')), true), '');
  out.push(`${h} mqtt.users[]`, '');
  out.push(...table(d.options.filter((o) => o.path.startsWith('mqtt.users[]')), false), '');
  out.push(`${h} http.users[]`, '');
  out.push(...table(d.options.filter((o) => o.path.startsWith('http.users[]')), false), '');
  for (const kind of KINDS) {
    const list = kind.list;
    const plugins = d.plugins[list];
    out.push(`${h} ${list}[]`, '', kind.doc + '.', '');
    if (plugins.length === 0) out.push('No plugins of this kind are registered yet.', '');
    for (const p of plugins) {
      out.push(`${h}# ${list}[] type \`${p.type}\``, '', p.doc, '');
      out.push(...table(d.options.filter((o) => o.plugin === p.type && o.path.startsWith(`${list}[]`)), false), '');
    }
  }
  return out.join('\n');
}
