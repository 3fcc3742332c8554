/**
 * Client ids that belong to users (mqtt.users[].clientIds) and the bound on persistent sessions
 * (mqtt.maxSessions, mqtt.users[].maxSessions), each on a real broker with real mqtt.js clients.
 */
import t, { type Test } from 'tap';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Packet } from 'mqtt-packet';
import type { MqttUser } from '../../agent/core/config-types.js';
import { startBroker, testHash, type TestBroker } from './helpers.js';
import { RawClient, connack, connectPacket, until, within } from './raw-client.js';
import { capturingLogger } from '../helpers/capturing-logger.js';

const pmu = (over: Partial<MqttUser> = {}): MqttUser => ({
  username: 'pmu',
  passwordHash: testHash('pmu-pw'),
  publish: ['bal/raw/#'],
  subscribe: ['bal/#'],
  clientIds: ['pmu-*', 'station-7'],
  ...over,
});
const intruder = (over: Partial<MqttUser> = {}): MqttUser => ({
  username: 'intruder',
  passwordHash: testHash('intruder-pw'),
  publish: ['bal/raw/#'],
  subscribe: ['bal/#'],
  ...over,
});
const ops = (): MqttUser => ({ username: 'ops', passwordHash: testHash('ops-pw'), publish: ['#'], subscribe: ['#'] });

const login = (user: string): IClientOptions => ({ username: user, password: `${user}-pw` });

interface Attempt {
  /** CONNACK return code (0: accepted). */
  code: number;
  sessionPresent: boolean;
  /** The connected client when accepted (ended by the test's teardown). */
  client: MqttClient | null;
}

/** One CONNECT with mqtt.js, no reconnect: resolves with the CONNACK, accepted or not. */
function attempt(t: Test, url: string, opts: IClientOptions): Promise<Attempt> {
  const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 30_000, ...opts });
  t.teardown(() => c.endAsync(true).catch(() => undefined));
  return within(
    new Promise<Attempt>((resolve, reject) => {
      c.on('packetreceive', (p: Packet) => {
        if (p.cmd !== 'connack') return;
        const code = p.returnCode ?? -1;
        resolve({ code, sessionPresent: p.sessionPresent, client: code === 0 ? c : null });
      });
      c.once('close', () => reject(new Error(`connection of ${String(opts.clientId)} closed before its CONNACK`)));
    }),
    30_000,
    `the CONNACK for ${String(opts.clientId)}`,
  );
}

function stop(t: Test, tb: TestBroker): void {
  t.teardown(() => tb.broker.close());
}


t.test('squatting: another user cannot take a device\'s reserved client id before the device reconnects', async (t) => {
  const { log, lines } = capturingLogger('warn');
  const tb = await startBroker({ users: [pmu(), intruder()] }, { log });
  stop(t, tb);
  // Right after a restart nobody holds pmu-7. The intruder tries to squat it with a persistent session.
  for (const clean of [false, true]) {
    const squat = await attempt(t, tb.url, { clientId: 'pmu-7', clean, ...login('intruder') });
    t.equal(squat.code, 2, `clean=${clean}: CONNACK 2 "identifier rejected"`);
    t.equal(squat.sessionPresent, false);
  }
  t.equal(tb.counters.get('broker_refused', { reason: 'client_id_not_allowed' }), 2);
  t.equal(tb.counters.get('broker_sessions'), 0, 'the intruder created no session');
  t.match(
    lines.filter((l) => l['reason'] === 'client_id_not_allowed'),
    [{ clientId: 'pmu-7', username: 'intruder', detail: 'client id "pmu-7" is reserved for user "pmu"' }],
    'one warning naming the id, the user refused and the owner',
  );
  // The device gets its id.
  const device = await attempt(t, tb.url, { clientId: 'pmu-7', clean: false, ...login('pmu') });
  t.equal(device.code, 0, 'the owner connects with its reserved id');
  t.equal(device.sessionPresent, false);
  t.equal(tb.counters.get('broker_sessions'), 1);
  // An exact id in the list is reserved as well.
  t.equal((await attempt(t, tb.url, { clientId: 'station-7', ...login('intruder') })).code, 2);
  t.equal((await attempt(t, tb.url, { clientId: 'station-7', ...login('pmu') })).code, 0);
});

t.test('a user with clientIds may use only ids matching them; others keep first-come ids no one reserved', async (t) => {
  const { log, lines } = capturingLogger('warn');
  const tb = await startBroker({ users: [pmu(), intruder(), ops()] }, { log });
  stop(t, tb);
  for (let k = 0; k < 3; k++) {
    const r = await attempt(t, tb.url, { clientId: 'meter-1', ...login('pmu') });
    t.equal(r.code, 2, 'pmu may not use an id outside its clientIds');
  }
  t.equal(tb.counters.get('broker_refused', { reason: 'client_id_not_allowed' }), 3, 'each refusal counted');
  const warnings = lines.filter((l) => l['reason'] === 'client_id_not_allowed');
  t.equal(warnings.length, 1, 'one warning for the repeated refusals of one client id (rate-limited)');
  t.equal(warnings[0]?.['clientId'], 'meter-1');
  t.equal(warnings[0]?.['username'], 'pmu');
  t.match(String(warnings[0]?.['detail']), /not one of the user's clientIds/);

  // The wildcard matches any run of characters, the empty one too; matching is case-sensitive.
  t.equal((await attempt(t, tb.url, { clientId: 'pmu-', ...login('pmu') })).code, 0);
  t.equal((await attempt(t, tb.url, { clientId: 'pmu-a/b c', ...login('pmu') })).code, 0);
  t.equal((await attempt(t, tb.url, { clientId: 'PMU-1', ...login('pmu') })).code, 2);
  // An empty client id gets a server-assigned one (aedes_<uuid>), which is not among pmu's.
  const raw = await RawClient.open(tb.port);
  t.teardown(() => raw.destroy());
  raw.send(connectPacket({ clientId: '', clean: true, username: 'pmu', password: 'pmu-pw' }));
  t.equal((await connack(raw)).returnCode, 2, 'pmu may not use an empty client id');

  // Ids nobody reserved: first come, first served, as before.
  const first = await attempt(t, tb.url, { clientId: 'meter-9', clean: false, ...login('intruder') });
  t.equal(first.code, 0);
  t.equal((await attempt(t, tb.url, { clientId: 'meter-9', clean: false, ...login('ops') })).code, 2, 'another user: the session is taken');
  t.equal(tb.counters.get('broker_refused', { reason: 'client_id_taken' }), 1);
});

t.test('anonymous clients count as one user: reserved ids are refused to them', async (t) => {
  const tb = await startBroker({ users: [pmu()], allowAnonymous: true });
  stop(t, tb);
  t.equal((await attempt(t, tb.url, { clientId: 'pmu-1', clean: false })).code, 2, 'anonymous: reserved id refused');
  t.equal((await attempt(t, tb.url, { clientId: 'free-1', clean: false })).code, 0, 'anonymous: an unreserved id is fine');
  t.equal((await attempt(t, tb.url, { clientId: 'free-1', ...login('pmu') })).code, 2, 'pmu may not use ids outside its clientIds');
  t.equal(tb.counters.get('broker_refused', { reason: 'client_id_not_allowed' }), 2);
});

t.test('mqtt.maxSessions: a new persistent session past the bound gets CONNACK 3; existing ones are unaffected', async (t) => {
  const tb = await startBroker({ users: [ops()], maxSessions: 2 });
  stop(t, tb);
  const a = await attempt(t, tb.url, { clientId: 'a', clean: false, ...login('ops') });
  t.equal(a.code, 0);
  await a.client!.subscribeAsync('bal/processed/#', { qos: 1 });
  await a.client!.endAsync();
  t.equal((await attempt(t, tb.url, { clientId: 'b', clean: false, ...login('ops') })).code, 0);
  t.equal(tb.counters.get('broker_sessions'), 2);

  const c = await attempt(t, tb.url, { clientId: 'c', clean: false, ...login('ops') });
  t.equal(c.code, 3, 'a third persistent session: CONNACK 3 "server unavailable"');
  t.equal(tb.counters.get('broker_refused', { reason: 'too_many_sessions' }), 1);
  t.equal((await attempt(t, tb.url, { clientId: 'c', clean: true, ...login('ops') })).code, 0, 'a clean session is not bounded');

  const back = await attempt(t, tb.url, { clientId: 'a', clean: false, ...login('ops') });
  t.equal(back.code, 0, 'a reconnect to an existing session is accepted at the bound');
  t.equal(back.sessionPresent, true, 'and resumes it');
  await back.client!.endAsync();

  // Ending a session (a clean connect with its id) frees its place.
  const end = await attempt(t, tb.url, { clientId: 'a', clean: true, ...login('ops') });
  t.equal(end.code, 0);
  t.equal(tb.counters.get('broker_sessions'), 1);
  await end.client!.endAsync();
  t.equal((await attempt(t, tb.url, { clientId: 'c', clean: false, ...login('ops') })).code, 0, 'room again for a new one');
  t.equal(tb.counters.get('broker_sessions'), 2);
});

t.test('mqtt.users[].maxSessions bounds one user\'s persistent sessions, leaving room for the others', async (t) => {
  const { log, lines } = capturingLogger('warn');
  const tb = await startBroker({ users: [intruder({ maxSessions: 2 }), ops()], maxSessions: 10 }, { log });
  stop(t, tb);
  for (const id of ['x1', 'x2']) t.equal((await attempt(t, tb.url, { clientId: id, clean: false, ...login('intruder') })).code, 0);
  for (const id of ['x3', 'x4', 'x5'])
    t.equal((await attempt(t, tb.url, { clientId: id, clean: false, ...login('intruder') })).code, 3, `${id}: the user is at its own bound`);
  t.equal(tb.counters.get('broker_refused', { reason: 'too_many_sessions' }), 3);
  t.match(
    lines.filter((l) => l['reason'] === 'too_many_sessions'),
    [{ clientId: 'x3', username: 'intruder', detail: 'the user holds 2 persistent sessions, its maxSessions' }],
    'one warning for the user trying new ids past its bound, not one per id',
  );
  t.equal((await attempt(t, tb.url, { clientId: 'x1', clean: false, ...login('intruder') })).code, 0, 'its own sessions resume');
  t.equal((await attempt(t, tb.url, { clientId: 'o1', clean: false, ...login('ops') })).code, 0, 'another user still gets one');
});

t.test('new rules reserving an id another user holds: the owner takes it over and starts from an empty session', async (t) => {
  const tb = await startBroker({ users: [pmu({ clientIds: ['pmu-*'] }), intruder()] });
  stop(t, tb);
  // Before the reservation exists, the intruder holds "rtu-5" with a subscription and a queued message.
  const squat = await attempt(t, tb.url, { clientId: 'rtu-5', clean: false, ...login('intruder') });
  t.equal(squat.code, 0);
  const squatter = squat.client!;
  await squatter.subscribeAsync('bal/raw/#', { qos: 1 });
  const squatterClosed = new Promise((r) => squatter.stream.once('close', r));
  // A message for it waits in its queue (the squatter stays connected but does not acknowledge it).
  squatter.handleMessage = () => undefined; // mqtt.js sends the PUBACK only after this calls back
  const pub = await attempt(t, tb.url, { clientId: 'pmu-pub', ...login('pmu') });
  await pub.client!.publishAsync('bal/raw/x', '{}', { qos: 1 });
  await until(() => tb.counters.get('broker_queued_messages') === 1, 10_000, 'the message to be queued for rtu-5');

  // The rules change (what a reload of mqtt.users would do): rtu-* now belongs to pmu.
  tb.broker.setClientIdRules({ users: [pmu({ clientIds: ['pmu-*', 'rtu-*'] }), intruder()], maxSessions: 1000 });
  t.equal((await attempt(t, tb.url, { clientId: 'rtu-6', ...login('intruder') })).code, 2, 'new connections follow the new rules');

  const owner = await attempt(t, tb.url, { clientId: 'rtu-5', clean: false, ...login('pmu') });
  t.equal(owner.code, 0, 'the owner is let in');
  t.equal(owner.sessionPresent, false, 'with a new, empty session: nothing of the intruder\'s');
  await within(squatterClosed, 10_000, 'the squatter\'s connection to be closed');
  t.equal(tb.counters.get('broker_session_takeovers'), 1);
  t.equal(tb.counters.get('broker_sessions'), 1, 'the squatter\'s session is gone, the owner\'s counts');
  t.equal(tb.counters.get('broker_queued_messages'), 0, 'its queue is gone: the owner is sent nothing of it');
  await owner.client!.endAsync();
  const again = await attempt(t, tb.url, { clientId: 'rtu-5', clean: false, ...login('pmu') });
  t.equal(again.sessionPresent, false, 'still no subscription of the intruder\'s in the owner\'s session');
  t.equal((await attempt(t, tb.url, { clientId: 'rtu-5', clean: false, ...login('intruder') })).code, 2, 'the intruder cannot come back');

  t.throws(
    () => tb.broker.setClientIdRules({ users: [pmu({ clientIds: ['pmu-*'] }), intruder({ clientIds: ['pmu-1*'] })], maxSessions: 1000 }),
    /mqtt\.users\[1\]\.clientIds\[0\]: overlaps mqtt\.users\[0\]\.clientIds\[0\] \(both match "pmu-1"\)/,
  );
  t.equal((await attempt(t, tb.url, { clientId: 'rtu-7', ...login('intruder') })).code, 2, 'refused rules changed nothing');
});

t.test('config entries the broker refuses at start name the key', async (t) => {
  await t.rejects(startBroker({ users: [pmu({ clientIds: ['ok-*', 'bad\u0000id'] })] }), /mqtt\.users\[0\]\.clientIds\[1\]: .*NUL/);
  await t.rejects(startBroker({ users: [pmu({ clientIds: ['a-*'] }), intruder({ clientIds: ['*-b'] })] }), /overlaps/);
});

t.test('clean sessions are not counted as sessions; a persistent one is, connected or not', async (t) => {
  const tb = await startBroker({ users: [ops()] });
  stop(t, tb);
  const c = await attempt(t, tb.url, { clientId: 'clean-1', clean: true, ...login('ops') });
  t.equal(c.code, 0);
  t.equal(tb.counters.get('broker_sessions'), 0, 'a clean session is not counted');
  await c.client!.endAsync();
  const p = await attempt(t, tb.url, { clientId: 'clean-1', clean: false, ...login('ops') });
  t.equal(p.code, 0);
  t.equal(tb.counters.get('broker_sessions'), 1, 'a persistent session, connected');
  const closed = new Promise((r) => p.client!.stream.once('close', r));
  await p.client!.endAsync();
  await within(closed, 10_000, 'the persistent client to close');
  t.equal(tb.counters.get('broker_sessions'), 1, 'and offline');
});
