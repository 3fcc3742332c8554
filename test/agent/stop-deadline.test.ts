/**
 * One stop deadline: SIGTERM while the upstream link hangs (the peer accepted the MQTT connection
 * but never acknowledges a publish) still stops the real agent cleanly within its budget — exit 0,
 * the buffer closed — and nothing the agent acknowledged is lost: after a restart against a working
 * upstream (Debian's mosquitto) every message arrives.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { startAgent, tempDir } from '../helpers/agent-process.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { collect, until } from '../forwarders/harness.js';
import { hangingUpstream } from '../helpers/hanging-mqtt.js';

const raw = (k: number): string => JSON.stringify({ ts: 1764000000000000 + k * 20_000, k, freq: 50, p: { total: k } });

t.test('SIGTERM with a hanging upstream: exit 0 within the budget, buffer closed, nothing accepted lost', async (t) => {
  const hang = await hangingUpstream();
  t.teardown(() => new Promise<void>((r) => hang.server.close(() => r())));
  const dir = tempDir('gridedge-deadline-');
  const forwarder = (url: string) => ({
    forwarders: [{ type: 'mqtt', id: 'central', url, map: [{ from: 'bal/processed/#', to: 'legacy/#' }], reconnectMinMs: 100, reconnectMaxMs: 300 }],
    stats: { enabled: false },
    log: { level: 'debug' },
  });
  const agent1 = await startAgent({ dir, config: forwarder(`mqtt://127.0.0.1:${hang.port}`) });
  t.teardown(() => agent1.stop('SIGKILL'));
  await until(() => hang.connections() > 0, 'the forwarder connected to the hanging upstream', 15_000);

  const pub = await mqtt.connectAsync(agent1.mqttUrl, { clientId: 'deadline-pub', reconnectPeriod: 0 });
  pub.on('error', () => undefined);
  const N = 200;
  await Promise.all(Array.from({ length: N }, (_, k) => pub.publishAsync('bal/raw/dl1', raw(k), { qos: 1 })));
  pub.end(true);
  // Every PUBACK is in, so every message is committed; the forwarder's sends hang unacknowledged.

  const t0 = Date.now();
  const exit = await agent1.stop('SIGTERM');
  const tookMs = Date.now() - t0;
  t.equal(exit.code, 0, `clean exit (took ${tookMs} ms)`);
  t.ok(tookMs < 5000, `within the 4.5 s stop budget plus process exit (${tookMs} ms)`);
  const stopped = agent1.logs.find((l) => l.msg === 'gridedge stopped');
  if (exit.code !== 0) t.comment(agent1.logs.slice(-12).map((l) => JSON.stringify(l)).join('\n'));
  t.equal(stopped?.['code'], 0, 'the agent logged a clean stop');
  t.notOk(agent1.logs.some((l) => l.msg === 'clean stop took too long; exiting'), 'the forced exit did not fire');

  const m = await startMosquitto();
  t.teardown(() => m.stop());
  const sub = await collect(m.url, 'legacy/dl1');
  t.teardown(() => sub.close());
  const agent2 = await startAgent({ dir, config: forwarder(m.url) });
  t.teardown(() => agent2.stop('SIGKILL'));
  await until(() => new Set((sub.json() as { k: number }[]).map((x) => x.k)).size >= N, `all ${N} messages upstream after the restart`, 60_000);
  const ks = [...new Set((sub.json() as { k: number }[]).map((x) => x.k))].sort((a, b) => a - b);
  t.same(ks, Array.from({ length: N }, (_, k) => k), 'every acknowledged message arrived');
});
