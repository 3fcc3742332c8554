import t, { type Test } from 'tap';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { createConnection, type AddressInfo } from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { createBroker } from '../../agent/broker/index.js';
import { Counters } from '../../agent/core/counters.js';
import { createLogger } from '../../agent/core/logger.js';
import { mqttConfig, startBroker, type TestBroker } from './helpers.js';

const users = [
  { username: 'admin', password: 'admin-pw', publish: ['#'], subscribe: ['#'] },
  { username: 'dev', password: 'dev-pw', publish: ['bal/raw/dev1', 'bal/raw/dev1/#'], subscribe: ['bal/processed/+'] },
];

async function connect(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 30_000, ...opts });
}

/** Register cleanup for a broker and clients. */
function cleanup(t: Test, tb: TestBroker, ...clients: MqttClient[]): void {
  t.teardown(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await tb.broker.close();
  });
}

const nextMessage = (c: MqttClient): Promise<[string, Buffer]> =>
  new Promise((resolve) => c.once('message', (topic, payload) => resolve([topic, payload])));
const closed = (c: MqttClient): Promise<void> => new Promise((resolve) => c.once('close', () => resolve()));

/** A full network round trip through the broker on another connection, plus a few loop turns. */
async function roundTrip(c: MqttClient): Promise<void> {
  await c.publishAsync('noise/ping', 'x', { qos: 1 });
  for (let k = 0; k < 5; k++) await new Promise((r) => setImmediate(r));
}

t.test('anonymous clients on loopback with no users: publish to bal/raw reaches onRawPublish and subscribers', async (t) => {
  const tb = await startBroker();
  const sub = await connect(tb.url);
  const pub = await connect(tb.url, { clientId: 'field-1' });
  cleanup(t, tb, sub, pub);
  t.same(await sub.subscribeAsync('bal/raw/#', { qos: 1 }), [{ topic: 'bal/raw/#', qos: 1 }]);
  const got = nextMessage(sub);
  await pub.publishAsync('bal/raw/pmu9', '{"device":"pmu9"}', { qos: 1 });
  const [topic, payload] = await got;
  t.equal(topic, 'bal/raw/pmu9');
  t.equal(payload.toString(), '{"device":"pmu9"}');
  const call = tb.raw.calls[0]!;
  t.match(call, { topic: 'bal/raw/pmu9', qos: 1, clientId: 'field-1', username: undefined });
  t.equal(call.payload.toString(), '{"device":"pmu9"}');
  t.equal(tb.counters.get('broker_connections'), 2);
  t.equal(tb.counters.get('broker_clients'), 2);
  t.equal(tb.counters.get('broker_subscriptions'), 1);
  t.match(tb.broker.status(), { host: '127.0.0.1', port: tb.port, clients: 2, subscriptions: 1 });
});

t.test('users: good password connects, bad password and anonymous get CONNACK "not authorized"', async (t) => {
  const tb = await startBroker({ users: structuredClone(users) });
  const ok = await connect(tb.url, { username: 'dev', password: 'dev-pw' });
  cleanup(t, tb, ok);
  t.ok(ok.connected);
  const bad = await connect(tb.url, { username: 'dev', password: 'wrong' }).then(
    () => null,
    (e: Error & { code?: number }) => e,
  );
  t.equal(bad?.code, 5, 'CONNACK return code 5: not authorized');
  const unknown = await connect(tb.url, { username: 'nobody', password: 'x' }).catch((e: Error & { code?: number }) => e);
  t.equal((unknown as { code?: number }).code, 5);
  const anon = await connect(tb.url).catch((e: Error & { code?: number }) => e);
  t.equal((anon as { code?: number }).code, 5);
  t.equal(tb.counters.get('broker_refused', { reason: 'bad_credentials' }), 2);
  t.equal(tb.counters.get('broker_refused', { reason: 'anonymous' }), 1);
});

t.test('allowAnonymous: anonymous clients get full access next to configured users', async (t) => {
  const tb = await startBroker({ users: structuredClone(users), allowAnonymous: true });
  const anon = await connect(tb.url);
  cleanup(t, tb, anon);
  t.same(await anon.subscribeAsync('#', { qos: 0 }), [{ topic: '#', qos: 0 }]);
  await anon.publishAsync('anything/at/all', 'x', { qos: 1 });
  t.equal(tb.counters.total('broker_refused'), 0);
});

t.test('refuses to start on a non-loopback address with no users unless allowAnonymous', async (t) => {
  const deps = { log: createLogger('silent'), counters: new Counters(), onRawPublish: async () => 'accepted' as const };
  t.throws(() => createBroker(mqttConfig({ host: '0.0.0.0' }), deps), /allowAnonymous/);
});

t.test('publish outside the ACL is acknowledged and dropped; subscribers never see it', async (t) => {
  const tb = await startBroker({ users: structuredClone(users) });
  const admin = await connect(tb.url, { username: 'admin', password: 'admin-pw' });
  const dev = await connect(tb.url, { username: 'dev', password: 'dev-pw', clientId: 'dev-client' });
  cleanup(t, tb, admin, dev);
  await admin.subscribeAsync('#', { qos: 1 });
  const received: string[] = [];
  const allowedSeen = new Promise<void>((resolve) =>
    admin.on('message', (topic) => {
      received.push(topic);
      if (topic === 'bal/raw/dev1') resolve();
    }),
  );
  await dev.publishAsync('bal/raw/other', 'refused', { qos: 1, retain: true });
  await dev.publishAsync('bal/processed/dev1', 'refused too', { qos: 0 });
  await dev.publishAsync('bal/raw/dev1', 'allowed', { qos: 1 });
  await allowedSeen;
  t.same(received, ['bal/raw/dev1'], 'the refused publishes were never delivered');
  t.same(tb.raw.calls.map((c) => c.topic), ['bal/raw/dev1'], 'onRawPublish only saw the allowed one');
  t.equal(tb.raw.calls[0]!.username, 'dev');
  t.equal(tb.counters.get('broker_refused', { reason: 'publish_acl' }), 2);
  t.ok(dev.connected, 'the client stays connected');
  // A later subscriber gets no retained copy of the refused retained publish: the only retained message is the one set below.
  await admin.publishAsync('bal/raw/marker', 'm', { qos: 1, retain: true });
  const late = await connect(tb.url, { username: 'admin', password: 'admin-pw' });
  t.teardown(() => late.endAsync(true));
  const retained: string[] = [];
  const markerSeen = new Promise<void>((resolve) =>
    late.on('message', (topic) => {
      retained.push(topic);
      if (topic === 'bal/raw/marker') resolve();
    }),
  );
  await late.subscribeAsync('bal/raw/#', { qos: 1 });
  await markerSeen;
  t.same(retained, ['bal/raw/marker']);
});

t.test('subscribe outside the ACL gets SUBACK 0x80; inside it is granted', async (t) => {
  const tb = await startBroker({ users: structuredClone(users) });
  const dev = await connect(tb.url, { username: 'dev', password: 'dev-pw' });
  cleanup(t, tb, dev);
  const err = await dev.subscribeAsync('bal/#', { qos: 1 }).then(
    () => null,
    (e: Error & { packet?: { granted?: number[] } }) => e,
  );
  t.same(err?.packet?.granted, [0x80], 'SUBACK return code 0x80 (failure)');
  t.same(await dev.subscribeAsync('bal/processed/pmu1', { qos: 1 }), [{ topic: 'bal/processed/pmu1', qos: 1 }]);
  t.same(await dev.subscribeAsync('bal/processed/+', { qos: 0 }), [{ topic: 'bal/processed/+', qos: 0 }]);
  t.equal(tb.counters.get('broker_refused', { reason: 'subscribe_acl' }), 1);
  t.equal(tb.broker.status().subscriptions, 2);
});

t.test('PUBACK (QoS 1) and PUBREC (QoS 2) wait for onRawPublish to resolve', async (t) => {
  const tb = await startBroker();
  const pub = await connect(tb.url);
  const other = await connect(tb.url);
  cleanup(t, tb, pub, other);
  tb.raw.mode = 'hold';
  for (const qos of [1, 2] as const) {
    const n = tb.raw.held.length;
    let acked = false;
    let resolvedBeforeAck: boolean | null = null;
    let resolved = false;
    const published = pub.publishAsync(`bal/raw/q${qos}`, 'held', { qos }).then(() => {
      acked = true;
      resolvedBeforeAck = resolved;
    });
    const call = await tb.raw.waitFor((c) => c.topic === `bal/raw/q${qos}`);
    t.equal(call.qos, qos);
    await roundTrip(other);
    t.equal(acked, false, `QoS ${qos}: not acknowledged while the store holds the message`);
    resolved = true;
    tb.raw.held[n]!.resolve();
    await published;
    t.equal(resolvedBeforeAck, true, `QoS ${qos}: acknowledged after the store resolved`);
  }
});

t.test('QoS 0 publishes to bal/raw are handed over best effort and counted', async (t) => {
  const tb = await startBroker();
  const pub = await connect(tb.url);
  cleanup(t, tb, pub);
  await pub.publishAsync('bal/raw/q0', 'zero', { qos: 0 });
  const call = await tb.raw.waitFor((c) => c.topic === 'bal/raw/q0');
  t.equal(call.qos, 0);
  t.equal(call.payload.toString(), 'zero');
  t.equal(tb.counters.get('broker_qos0'), 1);
});

t.test('store unavailable: not acknowledged, disconnected; acknowledged after the store recovers and the client re-sends', async (t) => {
  const tb = await startBroker();
  tb.raw.mode = 'reject';
  const pub = await mqtt.connectAsync(tb.url, { clientId: 'resender', reconnectPeriod: 50, connectTimeout: 30_000 });
  cleanup(t, tb, pub);
  let acked = false;
  const published = pub.publishAsync('bal/raw/dev1', 'must-not-be-lost', { qos: 1 }).then(() => {
    acked = true;
  });
  await closed(pub);
  t.equal(acked, false, 'no PUBACK while the store is failing');
  t.ok(tb.counters.get('broker_refused', { reason: 'store_unavailable' }) >= 1);
  tb.raw.mode = 'resolve';
  await published;
  t.ok(acked, 'acknowledged once the store took it');
  const ok = tb.raw.calls.filter((c) => c.payload.toString() === 'must-not-be-lost');
  t.ok(ok.length >= 2, 'the same message was offered again after reconnecting');
  t.ok(tb.counters.get('broker_connections') >= 2, 'the client reconnected');
});

t.test('in-process publish bypasses ACLs and onRawPublish', async (t) => {
  const tb = await startBroker({ users: structuredClone(users) });
  const dev = await connect(tb.url, { username: 'dev', password: 'dev-pw' });
  cleanup(t, tb, dev);
  await dev.subscribeAsync('bal/processed/+', { qos: 1 });
  const got = nextMessage(dev);
  await tb.broker.publish('bal/processed/pmu1', '{"p":1}', { qos: 1 });
  const [topic, payload] = await got;
  t.equal(topic, 'bal/processed/pmu1');
  t.equal(payload.toString(), '{"p":1}');
  await tb.broker.publish('bal/raw/internal', Buffer.from('x'));
  t.equal(tb.raw.calls.length, 0);
});

t.test('large packets: under the cap they pass, over it the client is cut off and the broker keeps serving', async (t) => {
  const tb = await startBroker({ maxPayloadBytes: 1000 }); // cap = max(2·1000, 1 MiB) + 64 KiB
  const pub = await connect(tb.url);
  cleanup(t, tb, pub);
  const big = Buffer.alloc(512 * 1024, 7);
  await pub.publishAsync('bal/raw/big', big, { qos: 1 });
  t.equal(tb.raw.calls[0]!.payload.length, big.length, 'a 512 KiB payload reached onRawPublish');
  pub.publish('bal/raw/huge', Buffer.alloc(2 * 1024 * 1024, 1), { qos: 1 });
  await closed(pub);
  t.equal(tb.counters.get('broker_refused', { reason: 'packet_too_large' }), 1);
  t.notOk(tb.raw.calls.some((c) => c.topic === 'bal/raw/huge'));
  const again = await connect(tb.url);
  t.teardown(() => again.endAsync(true));
  await again.publishAsync('bal/raw/after', 'still alive', { qos: 1 });
  t.equal(tb.raw.calls.at(-1)?.topic, 'bal/raw/after');
});

t.test('MQTT over WebSocket through handleUpgrade on a plain node:http server', async (t) => {
  const tb = await startBroker({ users: structuredClone(users) });
  const http = createServer((_req, res) => res.writeHead(404).end());
  http.on('upgrade', (req, socket, head) => tb.broker.handleUpgrade(req, socket, head));
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const port = (http.address() as AddressInfo).port;
  const admin = await connect(tb.url, { username: 'admin', password: 'admin-pw' });
  const ws = await connect(`ws://127.0.0.1:${port}/mqtt`, { username: 'dev', password: 'dev-pw', clientId: 'ws-dev' });
  t.teardown(async () => {
    await ws.endAsync(true).catch(() => undefined);
    await admin.endAsync(true).catch(() => undefined);
    await tb.broker.close();
    await new Promise((r) => http.close(r));
  });
  await admin.subscribeAsync('bal/raw/#', { qos: 1 });
  const got = nextMessage(admin);
  await ws.publishAsync('bal/raw/dev1', 'over ws', { qos: 1 });
  const [topic, payload] = await got;
  t.equal(topic, 'bal/raw/dev1');
  t.equal(payload.toString(), 'over ws');
  t.match(tb.raw.calls[0], { topic: 'bal/raw/dev1', clientId: 'ws-dev', username: 'dev' });
  const bad = await connect(`ws://127.0.0.1:${port}/mqtt`, { username: 'dev', password: 'nope' }).catch((e: { code?: number }) => e);
  t.equal((bad as { code?: number }).code, 5, 'auth applies over WebSocket too');
});

t.test('close() ends client connections and the listener', async (t) => {
  const tb = await startBroker();
  const c = await connect(tb.url);
  const gone = closed(c);
  await tb.broker.close();
  await gone;
  t.equal(tb.counters.get('broker_clients'), 0);
  const refused = await connect(tb.url).catch((e: Error) => e);
  t.type(refused, Error, 'nothing listens any more');
  await c.endAsync(true);
});

t.test('a subscriber that stops reading: QoS 0 deliveries past the limit are dropped and counted, then flow again', async (t) => {
  const tb = await startBroker();
  t.teardown(() => tb.broker.close());
  // A raw TCP subscriber (MQTT 3.1.1 CONNECT + SUBSCRIBE written byte by byte, §3.1 and §3.8), so
  // that pausing it really stops reading from the socket.
  const sock = createConnection({ host: '127.0.0.1', port: tb.port });
  t.teardown(() => sock.destroy());
  await once(sock, 'connect');
  const connect = Buffer.from([0x10, 16, 0, 4, ...Buffer.from('MQTT'), 4, 0x02, 0, 60, 0, 4, ...Buffer.from('slow')]);
  const filter = Buffer.from('bal/processed/#');
  const subscribe = Buffer.from([0x82, 2 + 2 + filter.length + 1, 0, 1, 0, filter.length, ...filter, 0]);
  sock.write(Buffer.concat([connect, subscribe]));
  // CONNACK (4 bytes) then SUBACK (5 bytes).
  let head = Buffer.alloc(0);
  while (head.length < 9) head = Buffer.concat([head, (await once(sock, 'data'))[0] as Buffer]);
  t.equal(head[0], 0x20, 'CONNACK');
  t.equal(head[3], 0, 'connection accepted');
  t.equal(head[4], 0x90, 'SUBACK');
  sock.pause(); // stop reading: the kernel's buffers fill, then the broker's queue for this client grows

  const body = Buffer.alloc(16 * 1024, 0x61);
  let sent = 0;
  // Not awaited: the delivery that hit the full socket waits for 'drain' (as the agent's own
  // fire-and-forget publishes do); the ones after it must not queue up behind it.
  while (tb.counters.get('broker_dropped', { reason: 'slow_subscriber' }) === 0 && sent < 4000) {
    void tb.broker.publish('bal/processed/pmu1', body).catch(() => undefined);
    if (++sent % 20 === 0) await new Promise((r) => setTimeout(r, 1));
  }
  t.ok(tb.counters.get('broker_dropped', { reason: 'slow_subscriber' }) > 0, `deliveries dropped (after ${sent} messages of 16 KiB)`);
  t.ok(sent * body.length > 256 * 1024, 'nothing dropped before the socket buffer (256 KiB) was full');

  // The subscriber reads again: what was queued arrives, then new messages flow.
  let received = 0;
  let tail = '';
  const fresh = new Promise<void>((resolve) =>
    sock.on('data', (d: Buffer) => {
      received += d.length;
      tail = (tail + d.toString('latin1')).slice(-64);
      if (tail.includes('bal/processed/fresh')) resolve();
    }),
  );
  sock.resume();
  let arrived = false;
  void fresh.then(() => (arrived = true));
  for (let k = 0; k < 600 && !arrived; k++) {
    await tb.broker.publish('bal/processed/fresh', 'x');
    await new Promise((r) => setTimeout(r, 100));
  }
  await fresh;
  t.ok(received > 256 * 1024, `the queued deliveries arrived after resuming (${received} bytes)`);
});
