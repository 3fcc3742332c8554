/**
 * MQTT 3.1.1 §4.3.3: a QoS 2 PUBLISH that repeats the packet id of one not yet released by PUBREL
 * is the same message: acknowledged again (PUBREC), but neither offered to the pipeline nor
 * delivered onward a second time, with or without the DUP flag, and also while the first one's
 * commit is still pending (repeats in the same socket read). After PUBREL the id is free again.
 */
import t from 'tap';
import { connack, connectPacket, generate, RawClient } from './raw-client.js';
import { startBroker } from './helpers.js';
import { waitFor } from '../helpers/wait.js';

const qos2 = (topic: string, payload: string, messageId: number, dup: boolean): Buffer =>
  generate({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 2, retain: false, dup, messageId });

t.test('a repeated QoS 2 packet id before PUBREL is handled once', async (t) => {
  const tb = await startBroker();
  t.teardown(() => tb.broker.close());
  const sub = await RawClient.open(tb.port);
  t.teardown(() => sub.destroy());
  sub.send(connectPacket({ clientId: 'watcher' }));
  await connack(sub);
  sub.send(generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '#', qos: 0 }] }));
  await sub.next('suback');
  const delivered = (payload: string): number => sub.packets.filter((p) => p.cmd === 'publish' && p.payload.toString() === payload).length;

  const dev = await RawClient.open(tb.port);
  t.teardown(() => dev.destroy());
  dev.send(connectPacket({ clientId: 'dev1' }));
  await connack(dev);
  const pubrecs = (): number => dev.packets.filter((p) => p.cmd === 'pubrec').length;

  for (const topic of ['bal/raw/dev1', 'other/x']) {
    tb.raw.mode = 'hold';
    const calls = tb.raw.calls.length;
    const before = pubrecs();
    // Three copies in one write while the first one's commit is pending: no DUP, no DUP, DUP.
    dev.send(Buffer.concat([qos2(topic, `A ${topic}`, 7, false), qos2(topic, `A ${topic}`, 7, false), qos2(topic, `A ${topic}`, 7, true)]));
    if (topic.startsWith('bal/raw/')) await tb.raw.waitFor((c) => c.payload.toString() === `A ${topic}`, calls);
    tb.raw.mode = 'resolve';
    for (const d of tb.raw.held.splice(0)) d.resolve();
    await waitFor(`3 PUBRECs on ${topic}`, () => pubrecs() >= before + 3, { detail: () => `have ${pubrecs() - before}` });
    // A repeat after the PUBRECs (the commit done), with DUP: still the same message.
    dev.send(qos2(topic, `A ${topic}`, 7, true));
    await waitFor(`a 4th PUBREC on ${topic}`, () => pubrecs() >= before + 4);
    dev.send(generate({ cmd: 'pubrel', messageId: 7 }));
    await dev.next('pubcomp');
    dev.packets.splice(dev.packets.findIndex((p) => p.cmd === 'pubcomp'), 1);
    // After PUBREL the id is free: a publish with it is a new message.
    dev.send(qos2(topic, `B ${topic}`, 7, false));
    await waitFor(`the new message on ${topic} delivered`, () => delivered(`B ${topic}`) === 1);
    dev.send(generate({ cmd: 'pubrel', messageId: 7 }));
    await dev.next('pubcomp');
    dev.packets.splice(dev.packets.findIndex((p) => p.cmd === 'pubcomp'), 1);
    // Deliveries from one publisher keep their order, so every copy of A has arrived by now.
    t.equal(delivered(`A ${topic}`), 1, `${topic}: the repeated message delivered once`);
    if (topic.startsWith('bal/raw/')) {
      t.equal(tb.raw.calls.filter((c) => c.payload.toString() === `A ${topic}`).length, 1, 'offered to the pipeline once');
      t.equal(tb.raw.calls.filter((c) => c.payload.toString() === `B ${topic}`).length, 1, 'the new message with the freed id offered');
    }
  }
  t.equal(tb.counters.get('broker_dropped', { reason: 'qos2_duplicate' }), 6, 'the repeats counted');
});
