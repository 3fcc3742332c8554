/**
 * One metric catalogue: every counter or gauge name the code counts under is in it, with help text,
 * and a running agent (in-process, fed over MQTT) counts nothing outside it or with other labels.
 */
import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { METRICS } from '../../agent/core/metrics.js';
import { Counters } from '../../agent/core/counters.js';
import { Agent } from '../../agent/agent.js';
import { loadConfig } from '../../agent/config/index.js';
import { createLogger } from '../../agent/core/logger.js';
import { registry } from '../../agent/registry.js';
import { repoRoot, tempDir } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/wait.js';

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

t.test('every name counted in the source is in the catalogue, with help', async (t) => {
  const root = repoRoot();
  const used = new Set<string>();
  for (const f of [...sources(join(root, 'agent')), ...sources(join(root, 'drivers'))])
    for (const m of readFileSync(f, 'utf8').matchAll(/\.(?:inc|set)\(\s*'([a-z_0-9]+)'/g)) used.add(m[1]!);
  t.ok(used.size > 30, `found the counted names (${used.size})`);
  const catalogue: Record<string, { help: string; labels: readonly string[] }> = { ...METRICS };
  // Plugins declare their own counters in their spec (`metrics`); the agent adds them at start.
  for (const specs of Object.values(registry)) for (const spec of specs.values()) Object.assign(catalogue, spec.metrics ?? {});
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
  const dir = tempDir();
  const r = loadConfig({
    document: { mqtt: { port: 0 }, http: { port: 0 }, storage: { dir }, stats: { windows: ['1s'], graceMs: 100 }, drivers: [{ type: 'sim-pmu', id: 's1', rate: 20 }] },
  });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  const agent = new Agent(r.config, createLogger('silent'), registry);
  const addr = await agent.start();
  t.teardown(() => agent.stop());
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${addr.mqtt.port}`, { clientId: 'cat' });
  t.teardown(() => c.end(true));
  await c.publishAsync('bal/raw/x1', '{"freq":50}', { qos: 1 });
  await c.publishAsync('bal/raw/x1', 'not json', { qos: 1 });
  await c.publishAsync('bal/raw/x1', '{"freq":50}', { qos: 0 });
  await c.publishAsync('$SYS/x', 'nope', { qos: 1 });
  await fetch(`http://127.0.0.1:${addr.http.port}/api/v1/status`);
  await waitFor('a stats window published', () => (agent.counters.get('stats_published') > 0 ? true : undefined), { timeoutMs: 10_000 });
  t.same(agent.counters.uncatalogued(), [], 'no series outside the catalogue');
  const st = agent.status();
  t.ok(st.metrics?.['received']?.help, 'the status carries the catalogue');
});
