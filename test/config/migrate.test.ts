import t from 'tap';
import { CONFIG_VERSION, migrate, type ConfigDocument, type Migration } from '../../agent/config/migrate.js';

t.test('a document without version is version 1; the current version passes unchanged', async (t) => {
  const r = migrate({ gateway: { id: 'a' } });
  t.same(r, { ok: true, doc: { gateway: { id: 'a' }, version: CONFIG_VERSION }, from: 1 });
});

t.test('older documents go through each step in order, one function per version', async (t) => {
  // A synthetic history: v1 called the broker address `mqtt.bind`; v2 renamed it `mqtt.host`;
  // v3 renamed the driver type "pmu-sim" to "sim-pmu".
  const steps: string[] = [];
  const migrations = new Map<number, Migration>([
    [
      1,
      (doc) => {
        steps.push('1→2');
        const { bind, ...mqtt } = (doc['mqtt'] ?? {}) as Record<string, unknown>;
        return { ...doc, mqtt: bind === undefined ? mqtt : { ...mqtt, host: bind } };
      },
    ],
    [
      2,
      (doc) => {
        steps.push('2→3');
        const drivers = (doc['drivers'] ?? []) as Record<string, unknown>[];
        return { ...doc, drivers: drivers.map((d) => (d['type'] === 'pmu-sim' ? { ...d, type: 'sim-pmu' } : d)) };
      },
    ],
  ]);
  const v1: ConfigDocument = { mqtt: { bind: '0.0.0.0', port: 1883 }, drivers: [{ type: 'pmu-sim', id: 'p' }] };
  const copy = structuredClone(v1);
  const r = migrate(v1, { current: 3, migrations });
  t.same(r, { ok: true, from: 1, doc: { version: 3, mqtt: { port: 1883, host: '0.0.0.0' }, drivers: [{ type: 'sim-pmu', id: 'p' }] } });
  t.same(steps, ['1→2', '2→3']);
  t.same(v1, copy, 'the input document is not modified');

  steps.length = 0;
  const v2 = migrate({ version: 2, drivers: [{ type: 'pmu-sim', id: 'p' }] }, { current: 3, migrations });
  t.same(steps, ['2→3'], 'a version-2 file only takes the later step');
  t.ok(v2.ok && v2.from === 2 && v2.doc['version'] === 3);

  t.throws(() => migrate({ version: 1 }, { current: 4, migrations }), /no migration from version 3 to 4/);
});

t.test('versions that cannot be read are problems of the `version` key', async (t) => {
  t.same(migrate({ version: 5 }, { current: 3, migrations: new Map() }), {
    ok: false,
    problems: [{ path: 'version', message: 'this gridedge reads config versions up to 3; the file was written for a newer release, got 5' }],
  });
  for (const bad of [0, 1.5, '1', null]) {
    const r = migrate({ version: bad });
    t.notOk(r.ok, `version ${JSON.stringify(bad)} is refused`);
    if (!r.ok) t.equal(r.problems[0]!.path, 'version');
  }
});
