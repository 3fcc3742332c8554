/**
 * SIGHUP reload that renames a forwarder: a new id is a new forwarder, and the old one's cursor is
 * removed. The rows the old forwarder had not delivered are counted in buffer_dropped{forwarder} and
 * named in a warning; the new forwarder with `startFrom: oldest` sends what the buffer still holds,
 * so the backlog accepted while the old upstream was down still reaches the new one.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import mqtt from 'mqtt';
import t from 'tap';
import { startAgent, getJson } from '../helpers/agent-process.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { refusedPort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

t.test('renaming a forwarder: the old backlog is counted as dropped and warned about; startFrom oldest sends it', async (t) => {
  const upstream = await startMosquitto();
  t.teardown(() => upstream.stop());
  const deadPort = await refusedPort();
  const fwd = (id: string, url: string, extra: Record<string, unknown> = {}) => ({ type: 'mqtt', id, url, map: [{ from: 'bal/raw/#', to: 'up/raw/#' }], reconnectMinMs: 100, reconnectMaxMs: 500, ...extra });
  const got = new Set<number>();
  const sink = await mqtt.connectAsync(upstream.url, { clientId: 'rename-sink', reconnectPeriod: 0 });
  t.teardown(() => sink.endAsync(true));
  sink.on('message', (_topic, payload) => got.add((JSON.parse(payload.toString()) as { k: number }).k));
  await sink.subscribeAsync('up/raw/#', { qos: 1 });

  const agent = await startAgent({ config: { forwarders: [fwd('central', `mqtt://127.0.0.1:${deadPort}`)] } });
  t.teardown(() => agent.stop('SIGKILL'));
  const client = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'rename-publisher', reconnectPeriod: 0 });
  t.teardown(() => client.endAsync(true));
  const publish = async (from: number, to: number): Promise<void> => {
    for (let k = from; k < to; k++) await client.publishAsync('bal/raw/d1', JSON.stringify({ device: 'd1', ts: Date.now() * 1000, quality: 'good', k }), { qos: 1 });
  };
  await publish(0, 20); // acknowledged, buffered for `central`, whose upstream is down
  // The buffer counts a cursor's lag in rows above it, whatever their topic (here 20 raw rows and
  // their 20 processed ones): that is what a removed cursor leaves, as for rows a limit prunes.
  const centralLag = async (): Promise<number> =>
    (await getJson<{ buffer: { cursors: { forwarder: string; lag: number }[] } }>(`${agent.httpUrl}/api/v1/status`)).buffer.cursors.find((c) => c.forwarder === 'central')!.lag;
  const lag = await waitFor('the 20 raw and 20 processed rows buffered above central\'s cursor', async () => {
    const n = await centralLag();
    return n >= 40 && n;
  }, { intervalMs: 20 });

  const cfg = JSON.parse(readFileSync(agent.configFile, 'utf8')) as Record<string, unknown>;
  cfg['forwarders'] = [fwd('central-renamed', upstream.url, { startFrom: 'oldest' })];
  writeFileSync(agent.configFile, JSON.stringify(cfg));
  const seen = agent.logs.length;
  agent.child.kill('SIGHUP');
  const applied = await agent.waitForLog((l) => l.msg === 'config reloaded', 'the reload applied');
  t.same(applied['added'], ['forwarder central-renamed']);
  t.same(applied['removed'], ['forwarder central']);
  const warning = agent.logs.slice(seen).find((l) => l['forwarder'] === 'central' && l['undelivered'] !== undefined);
  t.ok(warning, 'a warning names the removed forwarder');
  t.equal(warning?.['undelivered'], lag, 'and the rows it leaves undelivered');
  t.match(warning?.msg, new RegExp(`central is no longer configured: .*${lag} row\\(s\\).*buffer_dropped`));
  const status = await getJson<{ counters: Record<string, unknown> }>(`${agent.httpUrl}/api/v1/status`);
  t.same(status.counters['buffer_dropped'], { 'forwarder=central': lag }, 'counted as dropped for the removed forwarder');

  await publish(20, 25);
  await waitFor('every acknowledged message upstream', () => got.size >= 25 || undefined, { intervalMs: 20, detail: () => `have ${got.size}` });
  t.same([...got].sort((a, b) => a - b), Array.from({ length: 25 }, (_, k) => k), 'the renamed forwarder sent the backlog (startFrom oldest) and the new rows');
});
