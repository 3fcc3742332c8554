/**
 * The promise end to end, seen from the upstream broker (issue 4, part 2): QoS 1 publishes to the
 * real agent, SIGKILL right after the last PUBACK, restart on the same storage dir; every
 * acknowledged message reaches the upstream mosquitto — at least once, first arrivals in seq order,
 * each with gw and seq.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { startAgent, tempDir } from '../helpers/agent-process.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { claimPort } from '../helpers/ports.js';
import { collect, until } from './harness.js';

function raw(k: number): string {
  return JSON.stringify({
    device: 'pmu7',
    ts: 1764000000000000 + k * 20_000,
    quality: 'good',
    freq: 50,
    k,
    v: { a: { mag: 230, ang: 0 }, b: { mag: 230, ang: -120 }, c: { mag: 230, ang: 120 } },
    i: { a: { mag: 10, ang: -30 }, b: { mag: 10, ang: -150 }, c: { mag: 10, ang: 90 } },
  });
}

t.test('SIGKILL right after the last PUBACK: every acknowledged message reaches upstream after the restart', async (t) => {
  const m = await startMosquitto();
  t.teardown(() => m.stop());
  const sub = await collect(m.url, 'legacy/#');
  t.teardown(() => sub.close());
  const dir = tempDir('gridedge-crash-');
  const config = {
    forwarders: [{ type: 'mqtt', id: 'central', url: m.url, map: [{ from: 'bal/processed/#', to: 'legacy/#' }], reconnectMinMs: 100, reconnectMaxMs: 500 }],
  };
  const agent1 = await startAgent({ dir, config });
  t.teardown(() => agent1.stop('SIGKILL'));
  const pub = await mqtt.connectAsync(agent1.mqttUrl, { clientId: 'crash-pub', reconnectPeriod: 0 });
  pub.on('error', () => {});
  const N = 500;
  await Promise.all(Array.from({ length: N }, (_, k) => pub.publishAsync('bal/raw/pmu7', raw(k), { qos: 1 })));
  // Every PUBACK is in: the agent committed each message (and what it was processed into).
  agent1.child.kill('SIGKILL');
  await agent1.exited;
  pub.end(true);
  // Processed messages only (stats windows travel too, under legacy/pmu7/stats/...).
  const processed = (): { k: number; gw: string; seq: number; device: string }[] =>
    sub.messages.filter((r) => r.topic === 'legacy/pmu7').map((r) => JSON.parse(r.text) as { k: number; gw: string; seq: number; device: string });
  const beforeRestart = new Set(processed().map((j) => j.k));
  t.comment(`${beforeRestart.size} of ${N} upstream before the kill`);

  const agent2 = await startAgent({ dir, config });
  t.teardown(() => agent2.stop('SIGKILL'));
  await until(() => new Set(processed().map((j) => j.k)).size >= N, `all ${N} messages upstream`, 60_000);

  const msgs = processed();
  t.same(
    [...new Set(msgs.map((x) => x.k))].sort((a, b) => a - b),
    Array.from({ length: N }, (_, k) => k),
    'every acknowledged message arrived at least once',
  );
  t.ok(msgs.every((x) => x.gw === 'gw-test' && Number.isInteger(x.seq) && x.device === 'pmu7'), 'each with gw and an integer seq');
  const firstSeqs: number[] = [];
  const seen = new Set<number>();
  for (const x of msgs) if (!seen.has(x.seq)) (seen.add(x.seq), firstSeqs.push(x.seq));
  t.same(firstSeqs, [...firstSeqs].sort((a, b) => a - b), 'first arrivals in seq order');
  const bySeq = new Map<number, number>();
  const conflicts: string[] = [];
  for (const x of msgs) {
    const k = bySeq.get(x.seq);
    if (k !== undefined && k !== x.k) conflicts.push(`seq ${x.seq}: k ${k} and ${x.k}`);
    bySeq.set(x.seq, x.k);
  }
  t.same(conflicts, [], 'a seq always names the same message');
  t.comment(`${msgs.length - seen.size} duplicates (rows delivered but not yet acknowledged to the buffer at the kill)`);
});

t.test('upstream down while the agent takes messages and is killed: after the restart all arrive, once, in order', async (t) => {
  // Nothing listens on the port until mosquitto starts on it after the restart; the claim keeps
  // every other test process off it meanwhile.
  const port = await claimPort();
  const url = `mqtt://127.0.0.1:${port}`;
  const dir = tempDir('gridedge-crash-');
  const config = {
    forwarders: [{ type: 'mqtt', id: 'central', url, map: [{ from: 'bal/processed/#', to: 'legacy/#' }], reconnectMinMs: 100, reconnectMaxMs: 300 }],
  };
  const agent1 = await startAgent({ dir, config });
  t.teardown(() => agent1.stop('SIGKILL'));
  const pub = await mqtt.connectAsync(agent1.mqttUrl, { clientId: 'crash-pub', reconnectPeriod: 0 });
  pub.on('error', () => {});
  const N = 300;
  await Promise.all(Array.from({ length: N }, (_, k) => pub.publishAsync('bal/raw/pmu7', raw(k), { qos: 1 })));
  agent1.child.kill('SIGKILL');
  await agent1.exited;
  pub.end(true);

  const m = await startMosquitto({ port });
  t.teardown(() => m.stop());
  const sub = await collect(m.url, 'legacy/pmu7');
  t.teardown(() => sub.close());
  const agent2 = await startAgent({ dir, config });
  t.teardown(() => agent2.stop('SIGKILL'));
  await sub.waitFor(N, 60_000);
  const msgs = sub.json() as { k: number; seq: number; gw: string }[];
  t.same(
    msgs.map((x) => x.k),
    Array.from({ length: N }, (_, k) => k),
    'every message once, in the order it was published',
  );
  t.same(msgs.map((x) => x.seq), [...msgs.map((x) => x.seq)].sort((a, b) => a - b), 'seq increasing');
  t.ok(msgs.every((x) => x.gw === 'gw-test'));
});
