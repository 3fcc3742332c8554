/**
 * A subscriber that stops reading must not hold up publishers or other subscribers. A raw socket
 * subscribes to bal/raw/# and then stops reading (its kernel buffers fill, then the broker's stream
 * buffer). A device streams QoS 1 publishes of 60 kB (far more than the loopback buffers hold):
 * (20 in flight, like paho or mosquitto clients) every one is acknowledged and reaches a healthy subscriber, whatever QoS the frozen subscriber
 * asked for. With QoS 0 its deliveries are dropped and counted; with QoS 1 the broker holds its
 * deliveries up to the per-client bound and then disconnects it (counted).
 */
import t from 'tap';
import { waitFor } from '../helpers/wait.js';
import { connack, connectPacket, generate, publishPacket, RawClient } from './raw-client.js';
import { startBroker } from './helpers.js';

const PUBLISHES = 600; // 600 × 60 kB = 36 MB: more than the loopback buffers (≈ 10 MB) plus the bound (≈ 6 MiB)
const PAYLOAD = Buffer.alloc(60_000, 0x61);
const WINDOW = 20;

async function subscriber(port: number, clientId: string, qos: 0 | 1): Promise<RawClient> {
  const c = await RawClient.open(port);
  c.send(connectPacket({ clientId }));
  await connack(c);
  c.send(generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'bal/raw/#', qos }] }));
  await c.next('suback');
  return c;
}

for (const qos of [0, 1] as const) {
  t.test(`a frozen QoS ${qos} subscriber does not hold up the publisher or the others`, async (t) => {
    const tb = await startBroker();
    t.teardown(() => tb.broker.close());
    const frozen = await subscriber(tb.port, `frozen-${qos}`, qos);
    t.teardown(() => frozen.destroy());
    frozen.sock.pause(); // never reads again
    const healthy = await subscriber(tb.port, `healthy-${qos}`, 1);
    t.teardown(() => healthy.destroy());
    let received = 0;
    // The healthy subscriber acknowledges what it gets (Aedes sends QoS 1 deliveries to it).
    healthy.sock.on('data', () => {
      for (const p of healthy.packets.splice(0)) {
        if (p.cmd === 'publish') {
          received++;
          if (p.qos === 1) healthy.send(generate({ cmd: 'puback', messageId: p.messageId! }));
        }
      }
    });

    const dev = await RawClient.open(tb.port);
    t.teardown(() => dev.destroy());
    dev.send(connectPacket({ clientId: `dev-${qos}` }));
    t.equal((await connack(dev)).returnCode, 0);
    // Like a real device: at most WINDOW publishes waiting for their PUBACK.
    const acks = (): number => dev.packets.filter((p) => p.cmd === 'puback').length;
    let sent = 0;
    const sendMore = (): void => {
      while (sent < PUBLISHES && sent - acks() < WINDOW) dev.send(publishPacket('bal/raw/d1', PAYLOAD, 1, ++sent));
    };
    dev.sock.on('data', sendMore);
    sendMore();

    // Before the fix the acknowledgements stopped once the frozen socket's buffer was full, until
    // Aedes' drainTimeout (30 s) cut the subscriber off.
    await waitFor(`${PUBLISHES} PUBACKs to the device`, () => acks() >= PUBLISHES, { timeoutMs: 20_000, detail: () => `have ${acks()}` });
    t.equal(tb.raw.calls.length, PUBLISHES, 'every publish reached the store once');
    await waitFor(`${PUBLISHES} deliveries to the healthy subscriber`, () => received >= PUBLISHES, { timeoutMs: 20_000, detail: () => `have ${received}, healthy closed: ${healthy.isClosed}, slow disconnects: ${tb.counters.get("broker_slow_disconnects")}` });
    if (qos === 0) {
      t.ok(tb.counters.get('broker_dropped', { reason: 'slow_subscriber' }) > 0, 'QoS 0 deliveries to the frozen subscriber dropped and counted');
      t.notOk(frozen.isClosed, 'a frozen QoS 0 subscriber stays connected (nothing piles up for it)');
    } else {
      await waitFor('the broker to cut off the frozen QoS 1 subscriber', () => tb.counters.get('broker_slow_disconnects') >= 1);
      t.equal(tb.counters.get('broker_slow_disconnects'), 1, 'the disconnect is counted, once');
      t.equal(tb.broker.status().clients, 2, 'the device and the healthy subscriber stay connected');
      frozen.sock.resume(); // reads what was sent before the cut, then sees the close
      await frozen.waitClosed(20_000, 'the frozen subscriber to see its connection closed');
    }
  });
}
