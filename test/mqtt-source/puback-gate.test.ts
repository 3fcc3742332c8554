/**
 * PubackGate on a real mqtt.js client against Debian's mosquitto (its debug log shows every PUBACK
 * it receives): the client takes in the next messages while earlier ones wait; PUBACKs leave in the
 * order the messages came whatever order they become durable in (MQTT 3.1.1 §4.6); a message that
 * could not be stored withholds its PUBACK and every later one, the gate ends the connection after
 * the PUBACKs already due have left, and mosquitto sends exactly the withheld ones again to the next
 * connection; at the limit the client reads no further until one is released.
 */
import t, { type Test } from 'tap';
import mqtt, { type IPublishPacket } from 'mqtt';
import { PubackGate } from '../../drivers/mqtt-source/puback-gate.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';
import { prng } from '../../algorithms/common/prng.js'; // mulberry32, seeded: a failing order can be replayed

interface Taken {
  packet: IPublishPacket;
  settle: (durable: boolean) => void;
  goCalled: () => boolean;
}

/** A connection of the persistent session `clientId` (what the driver opens). */
const session = (broker: Mosquitto, clientId: string) =>
  mqtt.connect(broker.url, { clientId, clean: false, reconnectPeriod: 0, protocolVersion: 5, properties: { sessionExpiryInterval: 300 } });

/**
 * The next connection of the session, without a gate: resolves with the payloads mosquitto sends it
 * again (the messages the first connection did not acknowledge), once there are `n`.
 */
async function resumed(t: Test, broker: Mosquitto, clientId: string, n: number): Promise<string[]> {
  const again: string[] = [];
  const second = session(broker, clientId);
  t.teardown(() => second.endAsync(true));
  second.on('message', (_topic, payload) => again.push(payload.toString()));
  return waitFor(`mosquitto to send the ${n} unacknowledged messages again`, () => (again.length >= n ? again : undefined), {
    on: [[second, 'message']],
    detail: () => JSON.stringify(again),
  });
}

/** A subscriber on `topic` whose messages all go through a gate; `taken` lists them as they come. */
async function gated(broker: Mosquitto, clientId: string, topic: string, limit: number, onFailed: (withheld: number) => void) {
  const client = session(broker, clientId);
  const gate = PubackGate.install(client, limit, onFailed);
  if (!gate) throw new Error('this mqtt.js has no _sendPacket: the gate cannot be installed');
  const taken: Taken[] = [];
  client.handleMessage = (packet, callback) => {
    let called = false;
    const settle = gate.admit((packet as IPublishPacket).messageId!, () => {
      called = true;
      callback();
    });
    taken.push({ packet: packet as IPublishPacket, settle, goCalled: () => called });
  };
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  await client.subscribeAsync(topic, { qos: 1 });
  return { client, gate, taken };
}

/** The message ids mosquitto received PUBACKs for from `clientId` on its first connection, in order. */
function pubacks(broker: Mosquitto, clientId: string): number[] {
  const log = broker.log();
  const connects = [...log.matchAll(new RegExp(`New client connected .* as ${clientId} `, 'g'))];
  const first = connects[1] ? log.slice(0, connects[1].index) : log;
  const re = new RegExp(`Received PUBACK from ${clientId} \\(Mid: (\\d+)`, 'g');
  return [...first.matchAll(re)].map((m) => Number(m[1]));
}

async function publish(broker: Mosquitto, topic: string, n: number): Promise<void> {
  const pub = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  for (let k = 0; k < n; k++) await pub.publishAsync(topic, String(k), { qos: 1 });
  await pub.endAsync();
}

// Polled: mqtt.js may hand over a message it received earlier (no new event then).
const waitTaken = (taken: Taken[], n: number) =>
  waitFor(`${n} messages taken in`, () => (taken.length >= n ? true : undefined), { intervalMs: 5, detail: () => `${taken.length} taken` });

t.test('PUBACKs wait for their message and leave in the order the messages came', async (t) => {
  const broker = await startMosquitto({ debugLog: true });
  t.teardown(() => broker.stop());
  const { client, gate, taken } = await gated(broker, 'gate-order', 'g/order', 1000, () => t.fail('nothing failed'));
  t.teardown(() => client.endAsync(true));
  await publish(broker, 'g/order', 5);
  await waitTaken(taken, 5);
  t.ok(taken.every((x) => x.goCalled()), 'the client went on to each next message without a PUBACK');
  t.same(taken.map((x) => String(x.packet.payload)), ['0', '1', '2', '3', '4'], 'taken in the order published');
  t.equal(gate.size, 5, 'none acknowledged yet');

  // Durable out of order: 4 and 2 first; nothing may leave before 0.
  taken[4]!.settle(true);
  taken[2]!.settle(true);
  t.equal(gate.size, 5, '2 and 4 durable: still held behind 0');
  taken[0]!.settle(true);
  t.equal(gate.size, 4, '0 durable: its PUBACK leaves, 1 is not durable yet');
  taken[1]!.settle(true);
  t.equal(gate.size, 2, '1 durable: 1 and 2 leave, 3 is not durable yet and 4 waits behind it');
  taken[3]!.settle(true);
  t.equal(gate.size, 0, 'all released');

  const mids = taken.map((x) => x.packet.messageId!);
  const got = await waitFor('mosquitto to receive the 5 PUBACKs', () => (pubacks(broker, 'gate-order').length >= 5 ? pubacks(broker, 'gate-order') : undefined), {
    intervalMs: 20,
    detail: () => JSON.stringify(pubacks(broker, 'gate-order')),
  });
  t.same(got, mids, 'PUBACKs in the order the PUBLISHes came');
});

t.test('a message that could not be stored withholds its PUBACK and the later ones; the broker sends those again', async (t) => {
  const broker = await startMosquitto({ debugLog: true });
  t.teardown(() => broker.stop());
  const failures: number[] = [];
  const first = await gated(broker, 'gate-fail', 'g/fail', 1000, (withheld) => failures.push(withheld));
  await publish(broker, 'g/fail', 5);
  await waitTaken(first.taken, 5);
  const closed = new Promise<void>((r) => first.client.once('close', () => r()));
  first.taken[0]!.settle(true);
  first.taken[2]!.settle(true); // durable, but behind the one that fails
  first.taken[1]!.settle(false);
  t.same(failures, [4], 'onFailed once, with 1, 2, 3 and 4 withheld');
  first.taken[3]!.settle(true);
  first.taken[4]!.settle(true);
  t.equal(first.gate.size, 0, 'the gate holds nothing after it stopped');
  await closed; // the gate ends the connection itself

  // The next connection of the same session gets exactly the unacknowledged ones, in order.
  const redelivered = await resumed(t, broker, 'gate-fail', 4);
  t.same(redelivered, ['1', '2', '3', '4'], 'exactly the withheld ones, in order');
  // mosquitto has handled the first connection's packets before it resent: its log is complete.
  t.same(pubacks(broker, 'gate-fail'), [first.taken[0]!.packet.messageId], 'the first connection acknowledged message 0 only');
});

t.test('at the limit the client reads no further until a PUBACK leaves', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const { client, gate, taken } = await gated(broker, 'gate-limit', 'g/limit', 2, () => t.fail('nothing failed'));
  t.teardown(() => client.endAsync(true));
  await publish(broker, 'g/limit', 4);
  await waitTaken(taken, 3);
  t.ok(taken[0]!.goCalled() && taken[1]!.goCalled(), 'the first two go on at once');
  t.notOk(taken[2]!.goCalled(), 'the third waits: 3 held, the limit is 2');
  t.equal(taken.length, 3, 'so the client has not handed over the fourth');
  t.equal(gate.size, 3);
  taken[0]!.settle(true);
  t.ok(taken[2]!.goCalled(), 'the oldest acknowledged: the third goes on');
  await waitTaken(taken, 4);
  t.equal(String(taken[3]!.packet.payload), '3', 'and the fourth comes');
  for (const x of taken.slice(1)) x.settle(true);
  t.equal(gate.size, 0);
});


for (const seed of [11, 22, 33]) {
  t.test(`random durable orders (seed ${seed}): PUBACKs are always the longest durable prefix, in order`, async (t) => {
    const broker = await startMosquitto({ debugLog: true });
    t.teardown(() => broker.stop());
    const rnd = prng(seed);
    const n = 40;
    // Seed 33 also has one message that cannot be stored.
    const failAt = seed === 33 ? 5 + Math.floor(rnd() * 30) : -1;
    const clientId = `gate-rand-${seed}`;
    const failures: number[] = [];
    const g = await gated(broker, clientId, `g/rand${seed}`, 1000, (withheld) => failures.push(withheld));
    t.teardown(() => g.client.endAsync(true));
    await publish(broker, `g/rand${seed}`, n);
    await waitTaken(g.taken, n);
    const order = g.taken.map((_, i) => i).sort(() => rnd() - 0.5);
    const durable = new Array<boolean>(n).fill(false);
    let sizesOk = true;
    for (const i of order) {
      g.taken[i]!.settle(i !== failAt);
      durable[i] = true;
      // Released: the messages before the first one not yet durable (or the failed one).
      let prefix = 0;
      while (prefix < n && durable[prefix] && prefix !== failAt) prefix++;
      const failed = failAt >= 0 && prefix === failAt && durable[failAt];
      const expected = failed ? 0 : n - prefix;
      if (g.gate.size !== expected) {
        sizesOk = false;
        t.fail(`after settling ${i}: ${g.gate.size} held, expected ${expected}`);
        break;
      }
    }
    t.ok(sizesOk, 'after every settle the gate holds exactly what follows the durable prefix');
    const released = failAt >= 0 ? failAt : n;
    t.same(failures, failAt >= 0 ? [n - failAt] : [], failAt >= 0 ? `onFailed once, withholding ${n - failAt}` : 'no failure');
    const mids = g.taken.slice(0, released).map((x) => x.packet.messageId!);
    if (failAt < 0) {
      const got = await waitFor(`mosquitto to receive ${n} PUBACKs`, () => (pubacks(broker, clientId).length >= n ? pubacks(broker, clientId) : undefined), {
        intervalMs: 20,
        detail: () => `${pubacks(broker, clientId).length} so far`,
      });
      t.same(got, mids, 'every PUBACK, in the order the PUBLISHes came');
      return;
    }
    // With a failure the gate ends the connection; the next one gets exactly the withheld messages.
    await waitFor('the gate to end the connection', () => (g.client.connected ? undefined : true), { on: [[g.client, 'close']] });
    const redelivered = await resumed(t, broker, clientId, n - failAt);
    t.same(redelivered, Array.from({ length: n - failAt }, (_, k) => String(failAt + k)), 'exactly those after the durable prefix, in order');
    t.same(pubacks(broker, clientId), mids, 'the first connection acknowledged the durable prefix, in order');
  });
}
