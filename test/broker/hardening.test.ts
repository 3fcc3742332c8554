/**
 * The broker-level attacks of the adversarial run, each against a real broker on a real socket:
 * session takeover by another user, topics with NUL / invalid UTF-8 / control characters, rejected
 * payloads that must go nowhere, and authentication floods.
 */
import t, { type Test } from 'tap';
import { createConnection } from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Packet } from 'mqtt-packet';
import { startMosquitto } from '../helpers/mosquitto.js';
import { startBroker, testHash, type TestBroker } from './helpers.js';
import { RawClient, connack, connectPacket, generate, publishPacket, until, within } from './raw-client.js';

const users = () => [
  { username: 'admin', passwordHash: testHash('admin-pw'), publish: ['#'], subscribe: ['#'] },
  { username: 'dev', passwordHash: testHash('dev-pw'), publish: ['bal/raw/#'], subscribe: ['bal/processed/#'] },
];

async function connect(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  return within(mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 30_000, ...opts }), 30_000, `mqtt.js connect ${JSON.stringify(opts.clientId ?? '')}`);
}

/** An mqtt.js client from a given local address (127.0.0.x stands for another host). */
function connectFrom(port: number, localAddress: string, opts: IClientOptions): Promise<MqttClient> {
  const c = new mqtt.MqttClient(() => createConnection({ host: '127.0.0.1', port, localAddress }), {
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 30_000,
    ...opts,
  });
  return within(
    new Promise<MqttClient>((resolve, reject) => {
      c.once('connect', () => resolve(c));
      c.once('error', (e) => {
        c.end(true);
        reject(e);
      });
    }),
    30_000,
    `mqtt.js connect from ${localAddress}`,
  );
}

function cleanup(t: Test, tb: TestBroker, clients: (MqttClient | RawClient)[]): void {
  t.teardown(async () => {
    for (const c of clients) {
      if (c instanceof RawClient) c.destroy();
      else await c.endAsync(true).catch(() => undefined);
    }
    await tb.broker.close();
  });
}

t.test('#1 session takeover: another user with the same client id is refused and reads nothing; the owner resumes', async (t) => {
  const tb = await startBroker({ users: users() });
  const clients: (MqttClient | RawClient)[] = [];
  cleanup(t, tb, clients);

  // admin opens a persistent session X, subscribes QoS 1 to secret/#, and goes away.
  const adminX = await connect(tb.url, { clientId: 'X', clean: false, username: 'admin', password: 'admin-pw' });
  await adminX.subscribeAsync('secret/#', { qos: 1 });
  await adminX.endAsync();
  // A message arrives for the offline session.
  const pub = await connect(tb.url, { clientId: 'pub', username: 'admin', password: 'admin-pw' });
  clients.push(pub);
  await pub.publishAsync('secret/keys', 'the keys', { qos: 1 });

  // dev connects with client id X and clean=false (the exact attack), then with clean=true.
  for (const clean of [false, true]) {
    const dev = mqtt.connect(tb.url, { clientId: 'X', clean, username: 'dev', password: 'dev-pw', reconnectPeriod: 0 });
    const messages: string[] = [];
    dev.on('message', (topic) => messages.push(topic));
    let ack: { returnCode?: number; sessionPresent?: boolean } | undefined;
    dev.on('packetreceive', (p: Packet) => {
      if (p.cmd === 'connack') ack = p;
    });
    const err = await within(
      new Promise<Error & { code?: number }>((resolve) => dev.once('error', resolve)),
      30_000,
      'dev to be refused',
    );
    await dev.endAsync(true);
    t.equal(err.code, 2, `clean=${clean}: CONNACK 2 "identifier rejected"`);
    t.equal(ack?.returnCode, 2);
    t.equal(ack?.sessionPresent, false, `clean=${clean}: sessionPresent is false`);
    t.same(messages, [], `clean=${clean}: dev received nothing`);
  }
  t.equal(tb.counters.get('broker_refused', { reason: 'client_id_taken' }), 2);

  // The owner's session was neither resumed by dev nor wiped: admin gets it back with the queued message.
  const back = mqtt.connect(tb.url, { clientId: 'X', clean: false, username: 'admin', password: 'admin-pw', reconnectPeriod: 0 });
  clients.push(back);
  const got = new Promise<[string, string]>((resolve) => back.once('message', (topic, payload) => resolve([topic, payload.toString()])));
  const [ack] = (await within(
    new Promise<[{ sessionPresent: boolean }]>((resolve) => back.once('connect', (p) => resolve([p]))),
    30_000,
    'admin to resume X',
  )) as [{ sessionPresent: boolean }];
  t.equal(ack.sessionPresent, true, 'admin resumes its own session');
  t.same(await within(got, 10_000, 'the queued secret/keys message'), ['secret/keys', 'the keys']);
  await back.endAsync();

  // Once the owner ends the session (clean=true, then disconnect), the id is free for anyone.
  const cleanAdmin = await connect(tb.url, { clientId: 'X', clean: true, username: 'admin', password: 'admin-pw' });
  const gone = new Promise((r) => cleanAdmin.stream.once('close', r));
  await cleanAdmin.endAsync();
  await within(gone, 10_000, 'admin connection to close');
  const devNow = await connect(tb.url, { clientId: 'X', clean: false, username: 'dev', password: 'dev-pw' });
  clients.push(devNow);
  t.ok(devNow.connected, 'dev may use client id X after admin ended its session');
});

t.test('#1 the same user may take over its own client id (a device reconnecting)', async (t) => {
  const tb = await startBroker({ users: users() });
  const first = await connect(tb.url, { clientId: 'dev-1', clean: false, username: 'dev', password: 'dev-pw' });
  const firstClosed = new Promise((r) => first.stream.once('close', r));
  const second = await connect(tb.url, { clientId: 'dev-1', clean: false, username: 'dev', password: 'dev-pw' });
  cleanup(t, tb, [first, second]);
  await within(firstClosed, 10_000, 'the older connection to be closed by the takeover');
  t.ok(second.connected);
  t.equal(tb.counters.get('broker_refused', { reason: 'client_id_taken' }), 0);
});

// --- #6 topics: NUL, invalid UTF-8, control characters ------------------------------------------

const badTopics: [string, Buffer][] = [
  ['NUL', Buffer.from('bal/raw/a\u0000b')],
  ['invalid UTF-8', Buffer.concat([Buffer.from('bal/raw/a'), Buffer.from([0xc3, 0x28])])],
  ['control character U+0001', Buffer.from('bal/raw/a\u0001')],
  ['C1 control U+0085', Buffer.from('bal/raw/a\u0085')],
];

t.test('#6 a PUBLISH topic with NUL, invalid UTF-8 or a control character closes the connection, unacknowledged', async (t) => {
  const tb = await startBroker();
  const sub = await connect(tb.url, { clientId: 'watcher' });
  const clients: (MqttClient | RawClient)[] = [sub];
  cleanup(t, tb, clients);
  await sub.subscribeAsync('bal/raw/#', { qos: 1 });
  const seen: string[] = [];
  sub.on('message', (topic) => seen.push(topic));
  let n = 0;
  for (const [what, topic] of badTopics) {
    const c = await RawClient.open(tb.port);
    clients.push(c);
    c.send(connectPacket({ clientId: `bad-${++n}` }));
    t.equal((await connack(c)).returnCode, 0);
    c.send(publishPacket(topic, '{"freq":50}', 1, 7));
    await c.waitClosed(10_000, `the broker to close the connection after a ${what} topic`);
    t.notOk(c.packets.some((p) => p.cmd === 'puback'), `${what}: no PUBACK`);
    t.equal(tb.counters.get('broker_refused', { reason: 'bad_topic' }), n, `${what}: counted as bad_topic`);
  }
  // A good publish after them still flows (and is the only thing the subscriber saw).
  const good = await connect(tb.url, { clientId: 'good' });
  clients.push(good);
  const arrived = new Promise<void>((resolve) => sub.on('message', (topic) => topic === 'bal/raw/good' && resolve()));
  await good.publishAsync('bal/raw/good', '{"freq":50}', { qos: 1 });
  await within(arrived, 10_000, 'the good message');
  t.same(seen, ['bal/raw/good']);
  t.same(tb.raw.calls.map((c) => c.topic), ['bal/raw/good'], 'the pipeline saw none of the bad topics');
});

t.test('#6 SUBSCRIBE filters and will topics with NUL or invalid UTF-8 close the connection too', async (t) => {
  const tb = await startBroker();
  const clients: RawClient[] = [];
  cleanup(t, tb, clients);
  const sub = await RawClient.open(tb.port);
  clients.push(sub);
  sub.send(connectPacket({ clientId: 'sub-nul' }));
  t.equal((await connack(sub)).returnCode, 0);
  sub.send(generate({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'bal/\u0000/#', qos: 1 }] }));
  await sub.waitClosed(10_000, 'the broker to close a connection subscribing with NUL');
  t.notOk(sub.packets.some((p) => p.cmd === 'suback'), 'no SUBACK');

  const will = await RawClient.open(tb.port);
  clients.push(will);
  will.send(connectPacket({ clientId: 'will-nul', will: { topic: 'bal/raw/w\u0000', payload: 'x' } }));
  await will.waitClosed(10_000, 'the broker to close a connection whose will topic holds NUL');
  t.notOk(will.packets.some((p) => p.cmd === 'connack'), 'no CONNACK');
  t.equal(tb.counters.get('broker_refused', { reason: 'bad_topic' }), 2);
});

t.test('#6 reference: mosquitto closes the connection on the same NUL and invalid UTF-8 topics', async (t) => {
  const mq = await startMosquitto();
  t.teardown(() => mq.stop());
  for (const [what, topic] of badTopics.slice(0, 2)) {
    const c = await RawClient.open(mq.port);
    t.teardown(() => c.destroy());
    c.send(connectPacket({ clientId: `ref-${what.replace(/\W/g, '')}` }));
    t.equal((await connack(c)).returnCode, 0);
    c.send(publishPacket(topic, 'x', 1, 7));
    await c.waitClosed(10_000, `mosquitto to close the connection after a ${what} topic`);
    t.notOk(c.packets.some((p) => p.cmd === 'puback'), `mosquitto: ${what}: no PUBACK`);
  }
});

// --- #10 rejected payloads go nowhere -------------------------------------------------------------

t.test('#10 a payload the pipeline rejects is acknowledged, relayed to no one and not retained', async (t) => {
  const tb = await startBroker();
  const sub = await connect(tb.url, { clientId: 'sub' });
  const pub = await connect(tb.url, { clientId: 'pub' });
  const clients: MqttClient[] = [sub, pub];
  cleanup(t, tb, clients);
  await sub.subscribeAsync('bal/raw/#', { qos: 1 });
  const seen: string[] = [];
  const markerSeen = new Promise<void>((resolve) =>
    sub.on('message', (topic) => {
      seen.push(topic);
      if (topic === 'bal/raw/marker') resolve();
    }),
  );
  tb.raw.mode = 'refuse';
  await pub.publishAsync('bal/raw/x', 'not json', { qos: 1, retain: true }); // resolves on PUBACK
  await pub.publishAsync('bal/raw/y', 'not json', { qos: 0, retain: true });
  await tb.raw.waitFor((c) => c.topic === 'bal/raw/y');
  t.equal(tb.counters.get('broker_dropped', { reason: 'payload_rejected' }), 2);
  tb.raw.mode = 'resolve';
  await pub.publishAsync('bal/raw/marker', '{}', { qos: 1, retain: true });
  await within(markerSeen, 10_000, 'the accepted marker message');
  t.same(seen, ['bal/raw/marker'], 'the rejected payloads reached no subscriber');

  // A later subscriber gets only the accepted retained message.
  const late = await connect(tb.url, { clientId: 'late' });
  clients.push(late);
  const retained: string[] = [];
  const lateMarker = new Promise<void>((resolve) =>
    late.on('message', (topic) => {
      retained.push(topic);
      if (topic === 'bal/raw/marker') resolve();
    }),
  );
  await late.subscribeAsync('bal/raw/#', { qos: 1 });
  await within(lateMarker, 10_000, 'the retained marker');
  t.same(retained, ['bal/raw/marker'], 'no retained copy of the rejected payloads');
});

// --- #3 authentication cost ------------------------------------------------------------------------

t.test('#3 cache: a reconnect with the same credentials needs no scrypt; identical concurrent logins share one', async (t) => {
  const tb = await startBroker({ users: users() });
  const clients: MqttClient[] = [];
  cleanup(t, tb, clients);
  const many = await Promise.all(
    Array.from({ length: 20 }, (_v, k) => connect(tb.url, { clientId: `d${k}`, username: 'dev', password: 'dev-pw' })),
  );
  clients.push(...many);
  t.equal(tb.counters.get('broker_auth', { result: 'scrypt_ok' }), 1, '20 identical logins: one scrypt');
  t.equal(tb.counters.get('broker_auth', { result: 'joined' }) + tb.counters.get('broker_auth', { result: 'cache_hit' }), 19);
  const hits = tb.counters.get('broker_auth', { result: 'cache_hit' });
  await many[0]!.endAsync();
  const again = await connect(tb.url, { clientId: 'd0', username: 'dev', password: 'dev-pw' });
  clients.push(again);
  t.equal(tb.counters.get('broker_auth', { result: 'cache_hit' }), hits + 1, 'the reconnect was a cache hit');
  t.equal(tb.counters.get('broker_auth', { result: 'scrypt_ok' }), 1, 'no further scrypt');
  // A wrong password is never a cache hit, and an unknown user costs a scrypt just like it.
  const wrong = await connect(tb.url, { username: 'dev', password: 'dev-pw!' }).catch((e: { code?: number }) => e);
  const unknown = await connect(tb.url, { username: 'nobody', password: 'dev-pw' }).catch((e: { code?: number }) => e);
  t.equal((wrong as { code?: number }).code, 5);
  t.equal((unknown as { code?: number }).code, 5);
  t.equal(tb.counters.get('broker_auth', { result: 'scrypt_failed' }), 2, 'known and unknown user: one scrypt each');
  t.equal(tb.counters.get('broker_refused', { reason: 'bad_credentials' }), 2);
});

t.test('#3 failure budget per address: past it, bad logins are refused at once without scrypt; other addresses are not affected', async (t) => {
  let now = 1_000_000;
  const ops = { username: 'ops', passwordHash: testHash('ops-pw'), publish: [], subscribe: ['bal/#'] };
  const tb = await startBroker({ users: [...users(), ops] }, { auth: { failureBurst: 3, failureRefillMs: 60_000 }, now: () => now });
  const clients: (MqttClient | RawClient)[] = [];
  cleanup(t, tb, clients);
  // A cached credential first, from the attacker's address (a device behind the same NAT).
  clients.push(await connectFrom(tb.port, '127.0.0.2', { clientId: 'cached', username: 'dev', password: 'dev-pw' }));
  const bad = await Promise.all(Array.from({ length: 20 }, () => RawClient.open(tb.port, '127.0.0.2')));
  clients.push(...bad);
  bad.forEach((c, k) => c.send(connectPacket({ clientId: `bad-${k}`, username: 'admin', password: `guess-${k}` })));
  const codes = await Promise.all(bad.map((c) => connack(c).then((a) => a.returnCode)));
  t.same(new Set(codes), new Set([5]), 'every bad login: CONNACK 5');
  t.equal(tb.counters.get('broker_auth', { result: 'scrypt_failed' }), 3, 'only the budget (3) ran scrypt');
  t.equal(tb.counters.get('broker_refused', { reason: 'auth_rate_limited' }), 17);
  t.equal(tb.counters.get('broker_refused', { reason: 'bad_credentials' }), 3);

  // Another address logs in normally; on the flooded address a cached credential still gets in, an
  // uncached one waits for the budget to refill.
  clients.push(await connectFrom(tb.port, '127.0.0.1', { clientId: 'other-host', username: 'ops', password: 'ops-pw' }));
  clients.push(await connectFrom(tb.port, '127.0.0.2', { clientId: 'cached-2', username: 'dev', password: 'dev-pw' }));
  const blocked = await connectFrom(tb.port, '127.0.0.2', { clientId: 'fresh', username: 'admin', password: 'admin-pw' }).catch(
    (e: { code?: number }) => e,
  );
  t.equal((blocked as { code?: number }).code, 5, 'uncached login from the flooded address: refused while its budget is empty');
  now += 60_000; // one token back
  clients.push(await connectFrom(tb.port, '127.0.0.2', { clientId: 'fresh', username: 'admin', password: 'admin-pw' }));
  t.equal(tb.counters.get('broker_refused', { reason: 'auth_rate_limited' }), 18);
});

t.test('#3 flood: a good client connects while bad logins from another host are still waiting for scrypt', async (t) => {
  // One scrypt at a time and no failure budget, so the flood really queues (the worst case for the queue).
  const slow = [
    { username: 'admin', passwordHash: testHash('admin-pw', 8192), publish: ['#'], subscribe: ['#'] },
    { username: 'dev', passwordHash: testHash('dev-pw', 8192), publish: ['bal/raw/#'], subscribe: ['bal/processed/#'] },
  ];
  const N = 40;
  const tb = await startBroker({ users: slow }, { auth: { maxConcurrent: 1, failureBurst: 1_000_000 } });
  const clients: (MqttClient | RawClient)[] = [];
  cleanup(t, tb, clients);
  const bad = await Promise.all(Array.from({ length: N }, () => RawClient.open(tb.port, '127.0.0.2')));
  clients.push(...bad);
  let badDone = 0;
  bad.forEach((c, k) => {
    c.send(connectPacket({ clientId: `flood-${k}`, username: 'admin', password: `guess-${k}` }));
    void connack(c, 60_000).then(() => badDone++, () => undefined);
  });
  await until(() => tb.counters.get('broker_auth_pending') >= N - 2, 10_000, `${N - 2} bad logins to be pending`);
  const good = await connectFrom(tb.port, '127.0.0.1', { clientId: 'good', username: 'dev', password: 'dev-pw' });
  clients.push(good);
  const stillPending = N - badDone;
  t.ok(stillPending >= N / 2, `the good client got in with ${stillPending} of ${N} bad logins still pending`);
  await until(() => badDone === N, 60_000, 'every bad login to be answered');
  t.equal(tb.counters.get('broker_auth', { result: 'scrypt_failed' }), N);
  t.equal(tb.counters.get('broker_refused', { reason: 'bad_credentials' }), N);
});

t.test('#3 bounded queue: beyond it a CONNECT is refused at once with CONNACK 3, counted as auth_busy', async (t) => {
  const slow = [{ username: 'admin', passwordHash: testHash('admin-pw', 16384), publish: ['#'], subscribe: ['#'] }];
  const N = 30;
  const tb = await startBroker({ users: slow }, { auth: { maxConcurrent: 1, maxQueued: 4, failureBurst: 1_000_000 } });
  const clients: RawClient[] = [];
  cleanup(t, tb, clients);
  const bad = await Promise.all(Array.from({ length: N }, () => RawClient.open(tb.port, '127.0.0.3')));
  clients.push(...bad);
  bad.forEach((c, k) => c.send(connectPacket({ clientId: `q-${k}`, username: 'admin', password: `guess-${k}` })));
  const codes = await Promise.all(bad.map((c) => connack(c, 60_000).then((a) => a.returnCode)));
  const busy = codes.filter((c) => c === 3).length;
  t.ok(busy >= 1, `${busy} refused as busy`);
  t.equal(busy + codes.filter((c) => c === 5).length, N, 'every login answered: 3 (busy) or 5 (bad password)');
  t.equal(tb.counters.get('broker_refused', { reason: 'auth_busy' }), busy);
  t.equal(tb.counters.get('broker_auth', { result: 'scrypt_failed' }), N - busy, 'busy refusals ran no scrypt');
});
