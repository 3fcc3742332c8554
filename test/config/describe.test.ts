import { join } from 'node:path';
import t from 'tap';
import { describeFormat, describeSchema, schemaMarkdown } from '../../agent/config/describe.js';
import * as f from '../../agent/config/formats.js';
import { loadConfig } from '../../agent/config/load.js';
import { envName, ROOT_SCHEMA, USER_SCHEMA } from '../../agent/config/schema.js';
import { registry } from '../../agent/registry.js';
import { repoRoot } from '../helpers/agent-process.js';

/** Dotted paths of every option value in a loaded config (groups walked, lists not). */
function leafPaths(v: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(v).flatMap(([k, x]) => {
    const p = prefix ? `${prefix}.${k}` : k;
    return typeof x === 'object' && x !== null && !Array.isArray(x) ? leafPaths(x as Record<string, unknown>, p) : [p];
  });
}

const d = describeSchema();

t.test('every option of the loaded config is described, and nothing else', async (t) => {
  const r = loadConfig({ embeddedDefault: true });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  const described = d.options.filter((o) => !o.path.includes('[]')).map((o) => o.path);
  t.same([...described].sort(), leafPaths(r.config as unknown as Record<string, unknown>).sort());
  for (const o of d.options) {
    t.ok(o.doc.length > 10, `${o.path} has a doc`);
    t.ok(o.format.length > 0, `${o.path} says what it accepts`);
  }
});

t.test('every plugin key and every mqtt.users[] key is described with its default', async (t) => {
  for (const [list, specs] of [
    ['drivers', registry.drivers],
    ['forwarders', registry.forwarders],
  ] as const) {
    for (const spec of specs.values()) {
      const keys = Object.keys(spec.schema);
      t.ok(keys.length > 0, `${spec.type} has keys`);
      for (const k of ['type', 'id', ...keys]) {
        const o = d.options.find((x) => x.path.startsWith(`${list}[].${k}`) && x.plugin === spec.type);
        t.ok(o, `${list}[].${k} (${spec.type}) is described`);
      }
      const rate = d.options.find((x) => x.path === `${list}[].rate` && x.plugin === spec.type);
      if (rate) t.equal(rate.default, (spec.schema['rate'] as { default: unknown }).default);
    }
  }
  t.same(d.plugins.drivers.map((p) => p.type), [...registry.drivers.keys()]);
  for (const k of Object.keys(USER_SCHEMA)) t.ok(d.options.some((o) => o.path === `mqtt.users[].${k}`), `mqtt.users[].${k}`);
  const idOption = d.options.find((o) => o.path === 'drivers[].id');
  t.equal(idOption?.required, true, 'required keys are marked');
});

t.test('the embedded default is shown where it differs from the schema default', async (t) => {
  const drivers = d.options.find((o) => o.path === 'drivers');
  t.same(drivers?.default, []);
  t.same(drivers?.embeddedDefault, [{ type: 'sim-pmu', id: 'pmu1', rate: 50 }]);
  t.equal(d.options.find((o) => o.path === 'storage.dir')?.embeddedDefault, undefined, 'same as the default: not repeated');
});

const CASE14 = join(repoRoot(), 'test', 'gridstate', 'fixtures', 'case14.m');

/** A valid value different from the default, as an environment string, for each option. */
const SAMPLES: Record<string, string> = {
  'gateway.id': 'gw-from-env',
  'log.level': 'debug',
  'mqtt.host': '127.0.0.9',
  'mqtt.tls.host': '127.0.0.10',
  'mqtt.websocket.path': '/ws',
  'http.host': '127.0.0.8',
  'storage.dir': '/tmp/from-env',
  'mqtt.users': '[{"username":"u","password":"p"}]',
  'http.users': '[{"username":"u","password":"p","role":"admin"}]',
  'stats.windows': '1h',
  'stats.fields': 'freq',
  'stats.rmsFields': '["freq"]',
  'storage.commitIntervalMs': '5',
  'mqtt.sessionExpiryHours': '24',
  drivers: '[]',
  processors: '[]',
  services: '[]',
  'scheduler.model': 'pymfm',
  'pipeline.workers': '2',
  'scheduler.netDevice': 'pcc',
  'scheduler.netField': 'p.a',
  'scheduler.socField': 'bms.soc',
  aggregators: '[]',
  forwarders: '[{"type":"mqtt","id":"up"}]',
  'estimator.network': CASE14,
  'estimator.alpha': '0.05',
  'estimator.measurements': '[{"device":"d","field":"v.a.mag","type":"vm","bus":1,"sigma":0.01}]',
  analyzers: JSON.stringify([{ type: 'estimator', id: 'se', network: CASE14, measurements: [] }]),
};

t.test('every option but version has a GRIDEDGE_* variable, and each variable overrides its option', async (t) => {
  const base = loadConfig({ embeddedDefault: true });
  if (!base.ok) throw new Error(base.errors.join('\n'));
  for (const o of d.options.filter((x) => !x.path.includes('[]'))) {
    if (o.path === 'version') {
      t.equal(o.env, undefined, 'version comes from the file only');
      continue;
    }
    t.equal(o.env, envName(o.path), `${o.path} → ${o.env}`);
    if ((o.path === 'analyzers' || o.path === 'services') && d.plugins[o.path].length === 0) continue; // no plugin to list yet
    // A pair: one alone is a config error (tested in test/http/accounts.test.ts, test/config/tls.test.ts); a CA needs both, identityAsUsername and crl a CA.
    if (/^(http|mqtt)\.tls\.(cert|key|ca|identityAsUsername|crl)$/.test(o.path)) continue;
    let raw = SAMPLES[o.path];
    if (raw === undefined && typeof o.default === 'number') raw = String(o.default - 1);
    if (raw === undefined && typeof o.default === 'boolean') raw = String(!o.default);
    t.ok(raw !== undefined, `a sample value for ${o.path}`);
    const r = loadConfig({ embeddedDefault: true, env: { [o.env!]: raw } });
    if (!r.ok) {
      t.fail(`${o.env}=${raw}: ${r.errors.join('; ')}`);
      continue;
    }
    const get = (c: object): unknown => o.path.split('.').reduce<unknown>((x, k) => (x as Record<string, unknown>)[k], c);
    t.notSame(get(r.config), get(base.config), `${o.env}=${raw} changes ${o.path}`);
  }
  t.equal(envName('mqtt.allowAnonymous'), 'GRIDEDGE_MQTT_ALLOW_ANONYMOUS');
  t.equal(envName('storage.commitIntervalMs'), 'GRIDEDGE_STORAGE_COMMIT_INTERVAL_MS');
});

t.test('Markdown lists every option, its variable and each plugin', async (t) => {
  const md = schemaMarkdown(d);
  for (const o of d.options) t.ok(md.includes(`| \`${o.path}\` |`), `${o.path} has a row`);
  for (const o of d.options) if (o.env) t.ok(md.includes(`\`${o.env}\``), `${o.env} is listed`);
  for (const p of [...d.plugins.drivers, ...d.plugins.forwarders]) t.ok(md.includes(`type \`${p.type}\``), `${p.type} has a section`);
  t.match(md, /`\[\]` \(embedded default: `\[\{"type":"sim-pmu","id":"pmu1","rate":50\}\]`\)/);
  t.notMatch(md, /<id>/, 'angle brackets are escaped for Markdown renderers');
  t.ok(Object.keys(ROOT_SCHEMA).every((k) => md.includes(`\`${k}`)));
});

t.test('formats describe themselves in words', async (t) => {
  const leaf = (format: unknown, def: unknown = null) => ({ doc: '', format, default: def });
  t.equal(describeFormat(leaf(f.port)), 'an integer between 1 and 65535');
  t.equal(describeFormat(leaf(f.topicFilterList, [])), 'a list of MQTT topic filters');
  t.equal(describeFormat(leaf(['a', 'b'])), 'one of "a", "b"');
  t.equal(describeFormat(leaf(Boolean, true)), 'boolean');
  t.equal(describeFormat(leaf(() => undefined, 3)), 'number', 'a check that accepts anything: the type of its default');
});
