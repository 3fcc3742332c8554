import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../agent/config/load.js';
import { fixture, testRegistry } from './helpers.js';
import * as f from '../../agent/config/formats.js';
import type { PluginSpec } from '../../agent/core/plugin.js';
import { extendRegistry, plugin, registry } from '../../agent/registry.js';

const sorted = (xs: readonly string[]): string[] => [...xs].sort();

function errorsOf(r: ReturnType<typeof loadConfig>): string[] {
  return r.ok ? [] : r.errors;
}

t.test('the embedded default: one sim-pmu with its defaults filled in, no forwarders', async (t) => {
  const r = loadConfig({ embeddedDefault: true });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  const c = r.config;
  t.equal(c.version, 1);
  t.same(c.drivers, [
    {
      type: 'sim-pmu',
      id: 'pmu1',
      staleAfterMs: 0,
      rate: 50,
      count: 1,
      nominalVoltage: 230,
      current: 100,
      powerFactor: 0.95,
      unbalancePct: 1,
      currentUnbalancePct: 5,
      noisePct: 0.1,
      frequency: 50,
      frequencyDrift: 0.02,
      seed: 1,
    },
  ]);
  t.same(c.forwarders, []);
  t.equal(c.storage.dir, './gridedge-data');
  t.same(c.mqtt, { host: '127.0.0.1', port: 1883, allowAnonymous: false, users: [], maxPayloadBytes: 65536, maxQueuedMessages: 1000, maxSessions: 1000, sessionExpiryHours: 0, maxSubscriptionsPerClient: 10000, maxRetained: 10000, maxRetainedBytes: 67108864, websocket: { enabled: true, path: '/mqtt' }, tls: { cert: '', key: '', ca: '', crl: '', identityAsUsername: false, host: '', port: 8883 } });
  t.same(c.http, { host: '127.0.0.1', port: 8080, users: [], sessionHours: 12, maxConnections: 1024, tls: { cert: '', key: '' } });
  t.same(c.storage, { dir: './gridedge-data', maxBytes: 1024 ** 3, maxAgeHours: 168, historyHours: 24, commitIntervalMs: 0 });
  t.same(c.pipeline, { futureToleranceS: 300, pastToleranceS: 7 * 86400, maxDevices: 2000, workers: 'auto' });
  t.same(c.stats.windows, ['10s', '1m', '10min']);
  t.same(c.stats.rmsFields, ['v.a.mag', 'v.b.mag', 'v.c.mag', 'i.a.mag', 'i.b.mag', 'i.c.mag']);
  for (const field of ['p.a', 'q.total', 's.c', 'pf.total', 'freq', 'v.b.mag']) t.ok(c.stats.fields.includes(field), `stats.fields has ${field}`);
  t.equal(c.stats.graceMs, 2000);
  t.equal(c.status.intervalS, 10);
  t.equal(c.log.level, 'info');
});

t.test('a config file without drivers gets none: the simulated PMU is the embedded default only', async (t) => {
  const r = loadConfig({ document: { gateway: { id: 'gw-9' } } });
  t.ok(r.ok);
  if (r.ok) {
    t.same(r.config.drivers, []);
    t.equal(r.config.gateway.id, 'gw-9');
  }
  const empty = loadConfig({ document: null });
  t.ok(empty.ok, 'an empty file is every option at its default');
  const emptyLists = loadConfig({ document: { mqtt: null, drivers: null, forwarders: null } });
  t.ok(emptyLists.ok && emptyLists.config.forwarders.length === 0, 'YAML keys with every entry commented out are empty');
});

t.test('every problem of a file at once, each with its exact path', async (t) => {
  const r = loadConfig({ file: fixture('many-errors.yaml') }, { registry: testRegistry });
  t.notOk(r.ok);
  const expected = [
    'gateway.idd: unknown key (did you mean "id"?)',
    'colour: unknown key',
    'http.port: must be an integer between 0 and 65535, got "80x"',
    'storage.maxBytes: must be 0 (no limit) or an integer of at least 270336 bytes, got -1',
    `mqtt.users[0].publish[1]: must be an MQTT topic filter: '#' must be a whole level and the last one, got "bal/raw/#/x"`,
    `mqtt.users[0].subscribe[1]: must be an MQTT topic filter: '+' must be a whole level, got "a+"`,
    'mqtt.users[1]: needs a password or a passwordHash',
    'drivers[0].colour: unknown key',
    'drivers[1].port: must be an integer between 1 and 65535, got "50x"',
    'drivers[2].type: must be one of the known driver types (sim-pmu, test-meter), got "pmu-9000"',
    'drivers[3].id: must be unique among drivers (drivers[0] has it too), got "pmu1"',
    'drivers[4].id: is required (must be 1-64 characters of letters, digits, "_", ".", ":" or "-", starting with a letter or digit)',
    `forwarders[0].map[1].from: must be an MQTT topic filter: '+' must be a whole level, got "bal/+x/#"`,
  ];
  t.same(sorted(errorsOf(r)), sorted(expected));
});

t.test('plugin entries: defaults filled per plugin, nested groups, unknown keys at any depth', async (t) => {
  const ok = loadConfig({ document: { drivers: [{ type: 'test-meter', id: 'm1', serial: { baud: 19200 } }] } }, { registry: testRegistry });
  if (!ok.ok) throw new Error(ok.errors.join('\n'));
  t.same(ok.config.drivers[0], { type: 'test-meter', id: 'm1', staleAfterMs: 0, host: '127.0.0.1', port: 502, unit: 1, serial: { path: '/dev/ttyUSB0', baud: 19200 } });

  const bad = loadConfig(
    {
      document: {
        mqtt: { websocket: { enabled: true, pth: '/x' } },
        drivers: [
          { type: 'test-meter', id: 'm1', serial: { baud: 'fast', parity: 'none' } },
          { type: 'test-meter', id: 'm2', serial: 'ttyUSB0' },
          'not-an-object',
          { id: 'no-type' },
        ],
        http: 8080,
      },
    },
    { registry: testRegistry },
  );
  t.same(sorted(errorsOf(bad)), sorted([
    'mqtt.websocket.pth: unknown key (did you mean "path"?)',
    'http: must be a group of options (host, port, users, sessionHours, maxConnections, tls), got 8080',
    'drivers[0].serial.parity: unknown key',
    'drivers[0].serial.baud: must be an integer between 300 and 921600, got "fast"',
    'drivers[1].serial: must be a group of options (path, baud), got "ttyUSB0"',
    'drivers[2]: must be an object with at least type and id, got "not-an-object"',
    'drivers[3].type: is required (one of the driver types: sim-pmu, test-meter)',
  ]));
});

t.test('ids are unique among drivers and among forwarders, not across the two lists', async (t) => {
  const r = loadConfig(
    {
      document: {
        drivers: [{ type: 'sim-pmu', id: 'x' }],
        forwarders: [
          { type: 'test-up', id: 'x' },
          { type: 'test-up', id: 'up' },
          { type: 'test-up', id: 'up' },
        ],
      },
    },
    { registry: testRegistry },
  );
  t.same(errorsOf(r), ['forwarders[2].id: must be unique among forwarders (forwarders[1] has it too), got "up"']);
});

t.test('a non-loopback broker with no users needs allowAnonymous: true', async (t) => {
  const rule = (mqtt: Record<string, unknown>) => errorsOf(loadConfig({ document: { mqtt } }));
  const [e] = rule({ host: '0.0.0.0' });
  t.match(e, /^mqtt\.allowAnonymous: must be true .*"0\.0\.0\.0" is not a loopback address.*, got false$/);
  t.equal(rule({ host: '10.1.2.3' }).length, 1, 'any non-loopback address');
  t.same(rule({ host: '0.0.0.0', allowAnonymous: true }), [], 'explicit allowAnonymous');
  t.same(rule({ host: '0.0.0.0', users: [{ username: 'u', password: 'p', publish: ['bal/raw/#'] }] }), [], 'users configured');
  t.same(rule({ host: '127.0.0.2' }), [], '127.0.0.0/8 is loopback');
  t.same(rule({ host: '::1' }), [], '::1 is loopback');
  t.same(rule({ host: 'localhost' }), [], 'localhost is loopback');
});

/** An HTTP account, so these cases are about the broker's rule alone. */
const ACCOUNT = [{ username: 'ops', password: 'pw', role: 'operator' }];

t.test('the anonymous rule covers MQTT over WebSocket on a non-loopback http.host', async (t) => {
  const errs = (doc: Record<string, unknown>) => errorsOf(loadConfig({ document: doc }));
  const [e] = errs({ mqtt: { host: '127.0.0.1' }, http: { host: '0.0.0.0', users: ACCOUNT } });
  t.match(e, /^mqtt\.allowAnonymous: must be true .*http\.host "0\.0\.0\.0" \(MQTT over WebSocket is enabled there\).*mqtt\.websocket\.enabled: false.*, got false$/);
  t.same(errs({ mqtt: { host: '127.0.0.1', websocket: { enabled: false } }, http: { host: '0.0.0.0', users: ACCOUNT } }), [], 'WebSocket off: the page alone');
  t.same(errs({ mqtt: { allowAnonymous: true }, http: { host: '0.0.0.0', users: ACCOUNT } }), [], 'explicit allowAnonymous');
  t.same(errs({ mqtt: { users: [{ username: 'u', password: 'p' }] }, http: { host: '0.0.0.0', users: ACCOUNT } }), [], 'users configured');
  t.equal(errs({ mqtt: { host: '0.0.0.0' }, http: { host: '10.0.0.1', users: ACCOUNT } }).length, 1, 'both exposed: one problem naming both');
  t.match(errs({ mqtt: { host: '0.0.0.0' }, http: { host: '10.0.0.1', users: ACCOUNT } })[0], /mqtt\.host "0\.0\.0\.0" and http\.host "10\.0\.0\.1"/);
});

t.test('numeric environment values: decimal notation only', async (t) => {
  const port = (v: string) => loadConfig({ embeddedDefault: true, env: { GRIDEDGE_MQTT_PORT: v } });
  const ok = port('1884');
  t.ok(ok.ok && ok.config.mqtt.port === 1884);
  for (const bad of ['0x50', '0b1010', '1e3', '', ' ', '0o17', 'Infinity']) {
    const r = port(bad);
    t.notOk(r.ok, `${JSON.stringify(bad)} is refused`);
    if (!r.ok) t.match(r.errors[0], /^mqtt\.port: .*\(from GRIDEDGE_MQTT_PORT\)$/);
  }
  const frac = loadConfig({ embeddedDefault: true, env: { GRIDEDGE_STORAGE_MAX_AGE_HOURS: '1.5' } });
  t.ok(frac.ok && frac.config.storage.maxAgeHours === 1.5, 'decimal fractions are fine');
});

t.test('users: password xor passwordHash, valid hashes, unique names, topic filters', async (t) => {
  const hash = 'scrypt$16384$8$1$AQEBAQEBAQEBAQEBAQEBAQ==$AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=';
  const ok = loadConfig({ document: { mqtt: { users: [{ username: 'a', passwordHash: hash, subscribe: ['bal/#'] }] } } });
  if (!ok.ok) throw new Error(ok.errors.join('\n'));
  t.same(ok.config.mqtt.users, [{ username: 'a', passwordHash: hash, publish: [], subscribe: ['bal/#'] }], 'publish defaults to none');
  const bad = loadConfig({
    document: {
      mqtt: {
        users: [
          { username: 'a', password: 'p', passwordHash: hash },
          { username: 'a', password: 'p' },
          { username: 'b', passwordHash: 'md5$abc' },
          { username: '', password: 'p', publish: 'bal/#' },
          { username: 'c', password: 42 },
        ],
      },
    },
  });
  t.same(sorted(errorsOf(bad)), sorted([
    'mqtt.users[0]: give either password or passwordHash, not both',
    'mqtt.users[1].username: must be unique (mqtt.users[0] has it too), got "a"',
    'mqtt.users[2].passwordHash: must be an scrypt hash (scrypt$N$r$p$salt$hash): must have the form scrypt$N$r$p$saltBase64$hashBase64, got [hidden]',
    'mqtt.users[3].username: must be a non-empty string, got ""',
    'mqtt.users[3].publish: must be a list of MQTT topic filters, got "bal/#"',
    'mqtt.users[4].password: must be a string, got [hidden]',
  ]));
});

t.test('stats and cross-field checks', async (t) => {
  t.same(errorsOf(loadConfig({ document: { stats: { windows: ['10s', '10000ms', 'soon'], fields: ['p.total', 'bad path'] } } })), [
    'stats.windows[2]: must be a duration such as "10s", "1m" or "10min", got "soon"',
    'stats.fields[1]: must be a dotted field path such as "v.a.mag" or "p.total", got "bad path"',
    'stats.windows[1]: must differ from the other windows (stats.windows[0] is as long), got "10000ms"',
  ]);
  t.same(errorsOf(loadConfig({ document: { http: { port: 1883 } } })), ['http.port: must differ from mqtt.port on the same address, got 1883']);
  t.same(errorsOf(loadConfig({ document: { http: { port: 0 }, mqtt: { port: 0 } } })), [], 'port 0 (a free port each) does not clash');
  t.same(errorsOf(loadConfig({ document: { log: { level: 'loud' }, mqtt: { allowAnonymous: 'yes' } } })), [
    'log.level: must be one of fatal, error, warn, info, debug, trace, got "loud"',
    'mqtt.allowAnonymous: must be true or false, got "yes"',
  ]);
});

t.test('files: YAML and JSON, syntax errors with file, line and column', async (t) => {
  const yaml = loadConfig({ file: fixture('valid.yaml') });
  if (!yaml.ok) throw new Error(yaml.errors.join('\n'));
  t.equal(yaml.config.gateway.id, 'sub-north-1');
  t.equal(yaml.config.drivers.length, 2);
  t.equal(yaml.config.forwarders[0]!['id'], 'central');
  const json = loadConfig({ file: fixture('valid.json') });
  t.ok(json.ok && json.config.drivers[0]!['rate'] === 25);

  // The flow sequence opened on line 4 is found unterminated where line 5 starts.
  t.same(errorsOf(loadConfig({ file: fixture('syntax-error.yaml') })), [
    `${fixture('syntax-error.yaml')}:5:1: YAML syntax error: missed comma between flow collection entries`,
  ]);
  // The trailing comma on line 3: the '}' at column 27 is where a property name was expected.
  t.same(errorsOf(loadConfig({ file: fixture('syntax-error.json') })), [
    `${fixture('syntax-error.json')}:3:27: JSON syntax error: expected a property name in double quotes, found '}'`,
  ]);
  t.same(errorsOf(loadConfig({ file: fixture('nope.yaml') })), [`${fixture('nope.yaml')}: cannot read the config file: no such file`]);
  t.match(errorsOf(loadConfig({ file: fixture('helpers-does-not-matter.toml') }))[0], /unknown config file type "\.toml": use \.yaml, \.yml or \.json$/);
  t.match(errorsOf(loadConfig({ document: [1, 2] }))[0], /must hold a mapping of options .* at the top level, got \[1,2\]$/);
});

t.test('GRIDEDGE_* environment variables override the file, parsed strictly', async (t) => {
  const env = {
    GRIDEDGE_HTTP_PORT: '8099',
    GRIDEDGE_GATEWAY_ID: 'gw-env',
    GRIDEDGE_LOG_LEVEL: 'debug',
    GRIDEDGE_STORAGE_DIR: '/srv/gridedge',
    GRIDEDGE_MQTT_ALLOW_ANONYMOUS: 'yes',
    GRIDEDGE_STATS_WINDOWS: '5s, 1h',
    GRIDEDGE_DRIVERS: '[{"type":"sim-pmu","id":"envpmu","rate":5}]',
    GRIDEDGE_SOMETHING_ELSE: 'ignored',
  };
  const r = loadConfig({ file: fixture('valid.yaml'), env });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  t.equal(r.config.http.port, 8099);
  t.equal(r.config.http.host, '127.0.0.1', 'the rest of the group stays as the file has it');
  t.equal(r.config.gateway.id, 'gw-env');
  t.equal(r.config.log.level, 'debug');
  t.equal(r.config.storage.dir, '/srv/gridedge');
  t.equal(r.config.storage.maxBytes, 536870912);
  t.equal(r.config.mqtt.allowAnonymous, true);
  t.same(r.config.stats.windows, ['5s', '1h']);
  t.same(r.config.drivers.map((d) => [d.id, d['rate'], d['count']]), [['envpmu', 5, 1]]);

  const embedded = loadConfig({ embeddedDefault: true, env: { GRIDEDGE_MQTT_PORT: '11883' } });
  t.ok(embedded.ok && embedded.config.mqtt.port === 11883 && embedded.config.drivers.length === 1, 'over the embedded default too');

  t.same(
    errorsOf(loadConfig({ embeddedDefault: true, env: { GRIDEDGE_MQTT_PORT: '50x', GRIDEDGE_STATS_ENABLED: 'maybe', GRIDEDGE_FORWARDERS: '[{"type":', GRIDEDGE_DRIVERS: '[{"type":"sim-pmu","id":"a b"}]' } })),
    [
      'forwarders: GRIDEDGE_FORWARDERS is not valid JSON (Unexpected end of JSON input), got "[{\\"type\\":"',
      'mqtt.port: must be an integer between 0 and 65535, got "50x" (from GRIDEDGE_MQTT_PORT)',
      'stats.enabled: must be true or false, got "maybe" (from GRIDEDGE_STATS_ENABLED)',
      'drivers[0].id: must be 1-64 characters of letters, digits, "_", ".", ":" or "-", starting with a letter or digit, got "a b" (from GRIDEDGE_DRIVERS)',
    ],
  );
});

t.test('config versions', async (t) => {
  const none = loadConfig({ file: fixture('no-version.json') });
  t.ok(none.ok && none.config.version === 1, 'a file without version is version 1');
  t.same(errorsOf(loadConfig({ file: fixture('future-version.yaml') })), [
    'version: this gridedge reads config versions up to 1; the file was written for a newer release, got 2',
  ]);
  t.same(errorsOf(loadConfig({ document: { version: 'one' } })), ['version: must be an integer between 1 and 1, got "one"']);
});

t.test('a plugin kind that does not exist is an unknown key, with the kind it resembles', async (t) => {
  t.same(errorsOf(loadConfig({ document: { analysers: [] } })), ['analysers: unknown key (did you mean "analyzers"?)']);
  t.same(errorsOf(loadConfig({ document: { plugins: [] } })), ['plugins: unknown key']);
  const both = errorsOf(loadConfig({ document: { stats: { windows: ['1s'] }, aggregators: [] } }));
  t.match(both[0], /^stats: configures the default aggregator only/, 'a stats section next to an aggregators list is named');
});

t.test("a plugin's rules across keys run on an entry with bad keys too, told which, and never repeat their problems", async (t) => {
  const seen: { paths: Record<string, boolean> }[] = [];
  const ruled: PluginSpec<Record<string, unknown>, unknown> = {
    type: 'ruled',
    doc: 'A driver with rules across its keys',
    schema: {
      low: { doc: 'Low', format: f.intRange(0, 100), default: 0 },
      high: { doc: 'High', format: f.intRange(0, 100), default: 100 },
      name: { doc: 'Name', format: f.nonEmptyString, default: 'x' },
      list: { doc: 'List', format: f.fieldPathList, default: [] },
    },
    validate(cfg, invalid) {
      const is = invalid ?? (() => false);
      seen.push({ paths: Object.fromEntries(['low', 'high', 'name', 'list', 'list[0]', 'list[1]', ''].map((p) => [p, is(p)])) });
      const out: string[] = [];
      // Reads low and high: left out when either is bad.
      if (!is('low') && !is('high') && (cfg['low'] as number) > (cfg['high'] as number)) out.push('high: must be at least low');
      // Says something about a bad key: the loader drops it (the key's own problem is shown).
      out.push('name: rule message about name');
      return out;
    },
    create: () => {
      throw new Error('not used');
    },
  };
  const reg = extendRegistry(registry, { drivers: [plugin(ruled)] });
  const r = loadConfig({ document: { drivers: [{ type: 'ruled', id: 'a', low: 50, high: 10, name: '', list: ['ok', '1bad'] }, { type: 'ruled', id: 'b', low: 'x', high: 10, name: 'n' }] } }, { registry: reg });
  t.same(sorted(errorsOf(r)), sorted([
    'drivers[0].high: must be at least low',
    'drivers[0].name: must be a non-empty string, got ""',
    'drivers[0].list[1]: must be a dotted field path such as "v.a.mag" or "p.total", got "1bad"',
    'drivers[1].low: must be an integer between 0 and 100, got "x"',
    'drivers[1].name: rule message about name',
  ]));
  t.same(seen[0]!.paths, { low: false, high: false, name: true, list: true, 'list[0]': false, 'list[1]': true, '': true }, 'entry a: the bad paths, beneath and above');
  t.same(seen[1]!.paths, { low: true, high: false, name: false, list: false, 'list[0]': false, 'list[1]': false, '': true }, 'entry b: only low');
});

t.test("YAML's .nan and .inf are shown as NaN and Infinity in problems, not as null", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gridedge-nan-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'nan.yaml');
  writeFileSync(file, 'drivers:\n  - { type: sim-pmu, id: p1, rate: .nan }\n  - { type: sim-pmu, id: p2, rate: -.inf }\n');
  const r = loadConfig({ file });
  t.same(r.ok ? [] : r.errors, [
    'drivers[0].rate: must be a number between 0.01 and 100000, got NaN',
    'drivers[1].rate: must be a number between 0.01 and 100000, got -Infinity',
  ]);
});
