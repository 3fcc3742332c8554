/**
 * Order under pipelined commits: a client's publishes are parsed while earlier ones wait for their
 * commit, yet PUBACKs leave in the order the publishes arrived (MQTT 3.1.1 §4.6), whatever their
 * topic or verdict, and the processed messages of a device keep their order. Real agent, one raw
 * socket writing 300 QoS 1 publishes at once.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { startAgent } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/wait.js';
import { RawClient, connack, connectPacket, publishPacket } from './raw-client.js';

t.test('PUBACKs in arrival order and per-device order kept, with commits pipelined', async (t) => {
  const agent = await startAgent({ config: { stats: { enabled: false } } });
  t.teardown(() => agent.stop('SIGKILL'));
  const sub = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'order-sub' });
  t.teardown(() => sub.end(true));
  await sub.subscribeAsync(['bal/processed/o1', 'other/o'], { qos: 1 });
  const processed: number[] = [];
  const other: number[] = [];
  sub.on('message', (topic, p) => {
    const x = JSON.parse(p.toString()) as { k: number };
    if (topic === 'bal/processed/o1') processed.push(x.k);
    else other.push(x.k);
  });

  const port = Number(new URL(agent.mqttUrl).port);
  const c = await RawClient.open(port);
  t.teardown(() => c.destroy());
  c.send(connectPacket({ clientId: 'order-pub' }));
  t.equal((await connack(c)).returnCode, 0);
  const N = 300;
  const frames: Buffer[] = [];
  const ts = Date.now() * 1000;
  for (let k = 1; k <= N; k++) {
    const kind = k % 3;
    if (kind === 0) frames.push(publishPacket('bal/raw/o1', JSON.stringify({ ts: ts + k, freq: 50, k }), 1, k));
    else if (kind === 1) frames.push(publishPacket('bal/raw/o1', '{"bad json', 1, k)); // rejected: acknowledged, not relayed
    else frames.push(publishPacket('other/o', JSON.stringify({ k }), 1, k));
  }
  c.send(Buffer.concat(frames)); // one write: Aedes parses many per chunk
  await waitFor('all PUBACKs', () => (c.packets.filter((p) => p.cmd === 'puback').length >= N ? true : undefined), { timeoutMs: 20_000 });
  const ids = c.packets.filter((p) => p.cmd === 'puback').map((p) => (p as { messageId: number }).messageId);
  t.same(ids, Array.from({ length: N }, (_, k) => k + 1), 'PUBACKs in the order the publishes arrived');
  await waitFor('the relayed messages', () => (processed.length >= N / 3 && other.length >= N / 3 ? true : undefined), { timeoutMs: 20_000 });
  t.same(processed, Array.from({ length: N / 3 }, (_, k) => 3 * (k + 1)), 'processed messages of the device in order');
  t.same(other, Array.from({ length: N / 3 }, (_, k) => 3 * k + 2), 'other topics relayed in order');
});
