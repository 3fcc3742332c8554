/**
 * Operators see and end the broker's persistent sessions (broker.status(), sessions(), endSession())
 * and offline sessions expire after mqtt.sessionExpiryHours, each on a real broker with real
 * mqtt.js clients; the expiry runs on an injected monotonic clock (no waiting for hours).
 */
import t, { type Test } from 'tap';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { MqttUser } from '../../agent/core/config-types.js';
import { startBroker, testHash, type TestBroker } from './helpers.js';
import { waitFor } from '../helpers/wait.js';
import { capturingLogger } from '../helpers/capturing-logger.js';

const user = (name: string, over: Partial<MqttUser> = {}): MqttUser => ({
  username: name,
  passwordHash: testHash(`${name}-pw`),
  publish: ['#'],
  subscribe: ['bal/#'],
  ...over,
});
const login = (name: string): IClientOptions => ({ username: name, password: `${name}-pw` });

async function connect(t: Test, tb: TestBroker, opts: IClientOptions): Promise<MqttClient> {
  const c = await mqtt.connectAsync(tb.url, { reconnectPeriod: 0, ...opts });
  t.teardown(() => c.endAsync(true).catch(() => undefined));
  return c;
}


/** A persistent session `id` of `name` that subscribed to `filters` at QoS 1 and went away. */
async function offlineSession(t: Test, tb: TestBroker, id: string, name: string | null, filters: string[]): Promise<void> {
  const c = await connect(t, tb, { clientId: id, clean: false, ...(name === null ? {} : login(name)) });
  for (const f of filters) await c.subscribeAsync(f, { qos: 1 });
  await c.endAsync();
}

t.test('status and sessions() report persistent sessions: owner, connected or offline since when, queue, subscriptions', async (t) => {
  let mono = 1_000_000;
  const tb = await startBroker({ users: [user('scada'), user('pmu', { subscribe: [] })] }, { monotonic: () => mono });
  t.teardown(() => tb.broker.close());
  t.match(tb.broker.status(), { sessions: 0, offlineSessions: 0 });

  await offlineSession(t, tb, 'scada-old', 'scada', ['bal/raw/#', 'bal/processed/#']);
  const live = await connect(t, tb, { clientId: 'scada-main', clean: false, ...login('scada') });
  await live.subscribeAsync('bal/raw/#', { qos: 1 });
  await connect(t, tb, { clientId: 'clean-1', clean: true, ...login('scada') }); // not persistent: not listed
  const dev = await connect(t, tb, { clientId: 'pmu-1', ...login('pmu') });
  for (let k = 0; k < 3; k++) await dev.publishAsync('bal/raw/pmu-1', `{"n":${k}}`, { qos: 1 });

  t.match(tb.broker.status(), { sessions: 2, offlineSessions: 1 }, 'two persistent sessions, one offline');
  t.equal(tb.counters.get('broker_sessions_offline'), 1, 'gauge broker_sessions_offline');
  mono += 90_000;
  const list = await tb.broker.sessions();
  t.same(
    list.map((s) => s.clientId),
    ['scada-main', 'scada-old'],
    'only persistent sessions, by client id',
  );
  const [main, old] = list;
  t.match(main, { clientId: 'scada-main', username: 'scada', connected: true, offlineSince: null, offlineSeconds: null, subscriptions: 1 });
  t.match(old, { clientId: 'scada-old', username: 'scada', connected: false, queued: 3, subscriptions: 2 });
  t.equal(old!.offlineSeconds, 90, 'offline for the 90 s the monotonic clock moved');
  const since = Date.parse(old!.offlineSince ?? '');
  t.ok(Math.abs(Date.now() - 90_000 - since) < 60_000, `offlineSince ${old!.offlineSince} is about 90 s ago`);

  // An anonymous client's session has no user.
  const anon = await startBroker({ allowAnonymous: true });
  t.teardown(() => anon.broker.close());
  await offlineSession(t, anon, 'anon-1', null, []);
  t.match(await anon.broker.sessions(), [{ clientId: 'anon-1', username: null, connected: false, subscriptions: 0, queued: 0 }]);
});

t.test('endSession ends an offline session: queue and subscriptions dropped, place freed, counted and logged', async (t) => {
  const { log, lines } = capturingLogger();
  const tb = await startBroker({ users: [user('scada'), user('pmu', { subscribe: [] })], maxSessions: 1 }, { log });
  t.teardown(() => tb.broker.close());
  await offlineSession(t, tb, 'scada-old', 'scada', ['bal/raw/#']);
  const dev = await connect(t, tb, { clientId: 'pmu-1', ...login('pmu') });
  for (let k = 0; k < 5; k++) await dev.publishAsync('bal/raw/pmu-1', `{"n":${k}}`, { qos: 1 });
  t.equal(tb.counters.get('broker_queued_messages'), 5);

  // maxSessions 1 is taken by the offline session: a new persistent session is refused until it ends.
  const refused = mqtt.connect(tb.url, { clientId: 'scada-new', clean: false, reconnectPeriod: 0, ...login('scada') });
  t.teardown(() => refused.end(true));
  const err = await new Promise<Error & { code?: number }>((resolve) => refused.once('error', resolve));
  t.equal(err.code, 3, 'CONNACK 3 while the place is taken');

  const ended = await tb.broker.endSession('scada-old', { reason: 'operator', by: 'alice' });
  t.match(ended, { clientId: 'scada-old', username: 'scada', connected: false, queued: 5, subscriptions: 1 }, 'the session as it was');
  t.same(await tb.broker.sessions(), [], 'gone from the list');
  t.match(tb.broker.status(), { sessions: 0, offlineSessions: 0 });
  t.equal(tb.counters.get('broker_queued_messages'), 0, 'its queue dropped');
  t.equal(tb.counters.get('broker_sessions_ended', { reason: 'operator' }), 1, 'counted');
  t.equal(tb.counters.get('broker_disconnects', { reason: 'session_ended' }), 0, 'no client was connected to disconnect');
  t.match(
    lines.filter((l) => l['reason'] === 'operator'),
    [{ level: 'info', clientId: 'scada-old', username: 'scada', by: 'alice', wasConnected: false, queued: 5, subscriptions: 1 }],
    'logged with who ended it',
  );

  // The owner comes back: a new, empty session (no queued message, no subscription).
  const got: string[] = [];
  const back = await connect(t, tb, { clientId: 'scada-old', clean: false, ...login('scada') });
  back.on('message', (_topic, p) => got.push(p.toString()));
  t.match(await tb.broker.sessions(), [{ clientId: 'scada-old', connected: true, queued: 0, subscriptions: 0 }], 'a new session with nothing of the old one');
  await dev.publishAsync('bal/raw/pmu-1', '{"n":99}', { qos: 1 });
  await back.subscribeAsync('bal/raw/marker', { qos: 1 });
  await dev.publishAsync('bal/raw/marker', 'm', { qos: 1 });
  await waitFor('the marker delivered on the new subscription', () => got.includes('m'));
  t.same(got, ['m'], 'nothing from the old subscription or queue');

  t.equal(await tb.broker.endSession('no-such-id', { reason: 'operator' }), null, 'an unknown id: null');
  t.equal(await tb.broker.endSession('pmu-1', { reason: 'operator' }), null, 'a clean session: null (it ends with its connection)');
  t.equal(tb.counters.get('broker_sessions_ended', { reason: 'operator' }), 1, 'refusals are not counted as ended');
});

t.test('endSession disconnects a connected client; its id is free for a new session at once', async (t) => {
  const tb = await startBroker({ users: [user('scada')] });
  t.teardown(() => tb.broker.close());
  const c = await connect(t, tb, { clientId: 'scada-1', clean: false, ...login('scada') });
  await c.subscribeAsync('bal/#', { qos: 1 });
  const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
  const ended = await tb.broker.endSession('scada-1', { reason: 'operator', by: 'bob' });
  t.match(ended, { clientId: 'scada-1', connected: true, subscriptions: 1 });
  await closed;
  t.pass('the client was disconnected');
  t.equal(tb.counters.get('broker_disconnects', { reason: 'session_ended' }), 1, 'counted as a disconnect by the broker');
  t.match(tb.broker.status(), { sessions: 0, clients: 0 });
  const again = await mqtt.connectAsync(tb.url, { clientId: 'scada-1', clean: false, reconnectPeriod: 0, ...login('scada') });
  t.teardown(() => again.end(true));
  t.equal(tb.counters.get('broker_sessions'), 1, 'a new persistent session');
  t.match(await tb.broker.sessions(), [{ clientId: 'scada-1', connected: true, subscriptions: 0 }], 'empty');
});

t.test('an end and a reconnect of the same id at the same moment: the reconnect starts a new session and keeps what it sets up', async (t) => {
  const tb = await startBroker({ users: [user('scada')] });
  t.teardown(() => tb.broker.close());
  await offlineSession(t, tb, 'scada-1', 'scada', ['bal/raw/#']);
  // Both start at once: the reconnect's session must not be wiped by the end that started before it.
  const ending = tb.broker.endSession('scada-1', { reason: 'operator' });
  const c = await connect(t, tb, { clientId: 'scada-1', clean: false, ...login('scada') });
  await c.subscribeAsync('bal/processed/#', { qos: 1 });
  t.match(await ending, { clientId: 'scada-1', subscriptions: 1 });
  t.match(await tb.broker.sessions(), [{ clientId: 'scada-1', connected: true, subscriptions: 1 }], 'the new session keeps its subscription');
});

t.test('mqtt.sessionExpiryHours: sessions offline that long are ended (reason expired); connected and recent ones stay', async (t) => {
  let mono = 5_000_000;
  const { log, lines } = capturingLogger();
  const tb = await startBroker({ users: [user('scada')], sessionExpiryHours: 2 }, { monotonic: () => mono, log });
  t.teardown(() => tb.broker.close());
  await offlineSession(t, tb, 'gone-long', 'scada', ['bal/raw/#']);
  mono += 3_600_000;
  await offlineSession(t, tb, 'gone-short', 'scada', ['bal/raw/#']);
  await connect(t, tb, { clientId: 'here', clean: false, ...login('scada') });
  mono += 3_600_000 - 1;
  t.equal(await tb.broker.expireSessions(), 0, 'nothing is due 1 ms before two hours');
  mono += 1;
  t.equal(await tb.broker.expireSessions(), 1, 'gone-long is due at two hours');
  t.same(
    (await tb.broker.sessions()).map((s) => s.clientId),
    ['gone-short', 'here'],
  );
  t.equal(tb.counters.get('broker_sessions_ended', { reason: 'expired' }), 1);
  t.match(lines.filter((l) => l['reason'] === 'expired'), [{ clientId: 'gone-long', username: 'scada' }], 'logged');
  // A client that came back is not expired by the time it was away before.
  const back = await connect(t, tb, { clientId: 'gone-short', clean: false, ...login('scada') });
  mono += 10 * 3_600_000;
  t.equal(await tb.broker.expireSessions(), 0, 'connected sessions never expire');
  await back.endAsync();
  await waitFor('gone-short offline again', () => tb.broker.status().offlineSessions === 1);
  t.equal(await tb.broker.expireSessions(), 0, 'its offline time starts again at its last disconnect');

  const never = await startBroker({ users: [user('scada')] }, { monotonic: () => mono });
  t.teardown(() => never.broker.close());
  await offlineSession(t, never, 'old', 'scada', []);
  mono += 1000 * 3_600_000;
  t.equal(await never.broker.expireSessions(), 0, 'sessionExpiryHours 0 (the default): never');
  t.equal(never.broker.status().sessions, 1);
});
