/**
 * The queues of persistent sessions are bounded (mqtt.maxQueuedMessages; the oldest is dropped and
 * counted), a resumed session gets the newest messages in order, and a clean connect over a full
 * queue drops it in one step: the real agent stays responsive with 150 000 messages queued (Aedes'
 * own queue discarded them one by one with a linear scan each, O(n²): about 20 s of a blocked event
 * loop for 150 000).
 */
import t from 'tap';
import mqtt from 'mqtt';
import { startAgent } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/wait.js';
import { SessionQueues } from '../../agent/broker/session-queue.js';
import { connack, connectPacket, generate, publishPacket, RawClient } from './raw-client.js';
import { startBroker } from './helpers.js';

t.test('SessionQueues: bounded, oldest dropped, O(1) update and clear, PUBREL replaces its PUBLISH', async (t) => {
  let dropped = 0;
  const q = new SessionQueues(3, () => dropped++);
  for (let k = 1; k <= 5; k++) q.enqueue('c', { cmd: 'publish', brokerId: 'b', brokerCounter: k, topic: 't', messageId: 99 });
  t.equal(q.size('c'), 3);
  t.equal(dropped, 2, 'the two oldest dropped');
  t.same(q.list('c').map((p) => p.brokerCounter), [3, 4, 5]);
  t.same(q.list('c').map((p) => p.messageId), [undefined, undefined, undefined], 'queued without a message id');
  q.update('c', { cmd: 'publish', brokerId: 'b', brokerCounter: 4, messageId: 7 });
  q.update('c', { cmd: 'pubrel', messageId: 7 });
  t.same(q.list('c').map((p) => p.cmd), ['publish', 'pubrel', 'publish'], 'the PUBREL takes the place of its PUBLISH');
  q.update('c', { cmd: 'publish', brokerId: 'b', brokerCounter: 1, messageId: 8 }); // dropped earlier: ignored
  t.equal(q.clear('c', 7)?.cmd, 'pubrel');
  t.equal(q.clear('c', 7), undefined, 'cleared once');
  t.equal(q.total, 2);
  q.drop('c');
  t.equal(q.total, 0);
  const none = new SessionQueues(0, () => dropped++);
  none.enqueue('c', { cmd: 'publish', brokerId: 'b', brokerCounter: 1 });
  t.equal(none.size('c'), 0, 'maxQueuedMessages 0 keeps nothing');
});

t.test('an offline persistent session keeps the newest maxQueuedMessages, and gets them in order', async (t) => {
  const tb = await startBroker({ maxQueuedMessages: 100 });
  t.teardown(() => tb.broker.close());
  const scada = await mqtt.connectAsync(tb.url, { clientId: 'scada-1', clean: false, reconnectPeriod: 0 });
  await scada.subscribeAsync('bal/raw/#', { qos: 1 });
  await scada.endAsync();

  const dev = await mqtt.connectAsync(tb.url, { clientId: 'dev1', reconnectPeriod: 0 });
  t.teardown(() => dev.end(true));
  for (let k = 1; k <= 1000; k++) await dev.publishAsync('bal/raw/dev1', String(k), { qos: 1 });
  t.equal(tb.counters.get('broker_queued_messages'), 100, 'the queue holds the cap');
  t.equal(tb.counters.get('broker_dropped', { reason: 'queue_full' }), 900, 'the oldest 900 dropped, counted');

  const got: number[] = [];
  const back = await mqtt.connectAsync(tb.url, { clientId: 'scada-1', clean: false, reconnectPeriod: 0 });
  t.teardown(() => back.end(true));
  back.on('message', (_topic, p) => got.push(Number(p.toString())));
  await waitFor('the 100 queued messages', () => got.length >= 100, { detail: () => `have ${got.length}` });
  t.same(got, Array.from({ length: 100 }, (_, k) => 901 + k), 'the newest 100, in order');
  await waitFor('the queue emptied by the PUBACKs', () => tb.counters.get('broker_queued_messages') === 0);
});

t.test('a clean connect over a full queue drops it at once; the agent stays responsive', async (t) => {
  const N = 150_000;
  const agent = await startAgent({ config: { mqtt: { maxQueuedMessages: 200_000 }, stats: { enabled: false } } });
  t.teardown(() => agent.stop('SIGKILL'));
  const port = Number(new URL(agent.mqttUrl).port);
  const metric = async (): Promise<number> => {
    const text = await (await fetch(`${agent.httpUrl}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('gridedge_broker_queued_messages ') || l.startsWith('broker_queued_messages '));
    return line ? Number(line.split(' ')[1]) : NaN;
  };

  const scada = await RawClient.open(port);
  scada.send(connectPacket({ clientId: 'scada-1', clean: false }));
  await connack(scada);
  scada.send(generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'load/#', qos: 1 }] }));
  await scada.next('suback');
  scada.send(generate({ cmd: 'disconnect' }));
  await scada.waitClosed();

  const pub = await RawClient.open(port);
  t.teardown(() => pub.destroy());
  pub.send(connectPacket({ clientId: 'loader' }));
  await connack(pub);
  const frames: Buffer[] = [];
  for (let k = 0; k < N; k++) frames.push(publishPacket('load/x', 'm', 1, (k % 65535) + 1));
  pub.send(Buffer.concat(frames));
  const acks = (): number => pub.packets.filter((p) => p.cmd === 'puback').length;
  await waitFor(`${N} PUBACKs to the loader`, () => acks() >= N, { timeoutMs: 60_000, detail: () => `have ${acks()}` });
  t.equal(await metric(), N, `${N} messages queued`);

  // The owner comes back with a clean session: the queue goes at once, and the agent answers HTTP.
  const clean = await RawClient.open(port);
  t.teardown(() => clean.destroy());
  clean.send(connectPacket({ clientId: 'scada-1', clean: true }));
  const ack = await connack(clean);
  t.equal(ack.returnCode, 0);
  t.equal(ack.sessionPresent, false);
  const status = await waitFor('/api/v1/status to answer', async () => (await fetch(`${agent.httpUrl}/api/v1/status`)).status, { timeoutMs: 10_000 });
  t.equal(status, 200, 'the status API answers');
  t.equal(await metric(), 0, 'the queue is gone');
  t.equal(clean.packets.filter((p) => p.cmd === 'publish').length, 0, 'nothing of the old session is delivered');
});
