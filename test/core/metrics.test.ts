/**
 * One metric catalogue: every counter or gauge name the code counts under is in it, with help text,
 * and a running agent (in-process, fed over MQTT) counts nothing outside it or with other labels.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { tsFiles } from '../helpers/source-files.js';
import { join } from 'node:path';
import { METRICS } from '../../agent/core/metrics.js';
import { KINDS } from '../../agent/core/kinds.js';
import { registry } from '../../agent/registry.js';
import { Counters } from '../../agent/core/counters.js';
import { repoRoot } from '../helpers/agent-process.js';
import { startInProcess } from '../helpers/in-process.js';
import { waitFor } from '../helpers/wait.js';

t.test('every name counted in the source is in the catalogue, with help', async (t) => {
  const root = repoRoot();
  const used = new Set<string>();
  for (const f of [...tsFiles(join(root, 'agent')), ...tsFiles(join(root, 'drivers'))])
    for (const m of readFileSync(f, 'utf8').matchAll(/\.(?:inc|set)\(\s*'([a-z_0-9]+)'/g)) used.add(m[1]!);
  t.ok(used.size > 30, `found the counted names (${used.size})`);
  const catalogue = { ...METRICS } as Record<string, { help: string; labels: readonly string[] }>;
  // Plugins declare their own metrics in their spec.
  for (const kind of KINDS) for (const spec of registry[kind.list].values()) Object.assign(catalogue, spec.metrics ?? {});
  for (const name of [...used].sort()) t.ok(catalogue[name]?.help, `${name} is catalogued with help`);
  for (const [name, def] of Object.entries(catalogue)) t.ok(def.help.length > 10, `${name} has a real description`);
});

t.test('Counters report series outside the catalogue', async (t) => {
  const c = new Counters();
  c.inc('received', { source: 'mqtt' });
  c.inc('received', { device: 'x' });
  c.inc('no_such_metric');
  c.set('processed', 1);
  t.same(c.uncatalogued(), [
    'no_such_metric: not in the catalogue',
    'processed: a counter used as a gauge',
    'received: labels {device}, catalogue says {source}',
  ]);
});

t.test('a running agent counts only what the catalogue names', async (t) => {
  const { agent, client, httpUrl } = await startInProcess(t, {
    stats: { windows: ['1s'], graceMs: 100 },
    drivers: [{ type: 'sim-pmu', id: 's1', rate: 20 }],
  });
  const c = await client('cat');
  await c.publishAsync('bal/raw/x1', '{"freq":50}', { qos: 1 });
  await c.publishAsync('bal/raw/x1', 'not json', { qos: 1 });
  await c.publishAsync('bal/raw/x1', '{"freq":50}', { qos: 0 });
  await c.publishAsync('$SYS/x', 'nope', { qos: 1 });
  await fetch(`${httpUrl}/api/v1/status`);
  await waitFor('a stats window published', () => (agent.counters.get('stats_published') > 0 ? true : undefined), { timeoutMs: 10_000 });
  t.same(agent.counters.uncatalogued(), [], 'no series outside the catalogue');
  const st = agent.status();
  t.ok(st.metrics?.['received']?.help, 'the status carries the catalogue');
});
