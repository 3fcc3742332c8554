/**
 * The broker attacks of the adversarial run, replayed against the real agent process (its real
 * pipeline decides which payloads are rejected): session takeover by another user, squatting a
 * device's reserved client id, a NUL in a topic, and a rejected retained payload.
 */
import t from 'tap';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { getJson, startAgent, type AgentProcess } from '../helpers/agent-process.js';
import { testHash } from './helpers.js';
import { RawClient, connack, connectPacket, publishPacket, within } from './raw-client.js';

interface Status {
  counters?: Record<string, number | Record<string, number>>;
}

let agent: AgentProcess;
const clients: MqttClient[] = [];

async function connect(opts: IClientOptions): Promise<MqttClient> {
  const c = await within(mqtt.connectAsync(agent.mqttUrl, { reconnectPeriod: 0, connectTimeout: 30_000, ...opts }), 30_000, `connect ${String(opts.clientId)}`);
  clients.push(c);
  return c;
}

const counter = async (name: string, label: string): Promise<number> => {
  const c = (await getJson<Status>(`${agent.httpUrl}/api/v1/status`)).counters?.[name];
  return typeof c === 'object' ? (c[label] ?? 0) : 0;
};

t.before(async () => {
  agent = await startAgent({
    config: {
      mqtt: {
        users: [
          { username: 'admin', passwordHash: testHash('admin-pw'), publish: ['#'], subscribe: ['#'] },
          { username: 'dev', passwordHash: testHash('dev-pw'), publish: ['bal/raw/#'], subscribe: ['bal/processed/#'] },
          { username: 'pmu', passwordHash: testHash('pmu-pw'), publish: ['bal/raw/#'], clientIds: ['pmu-*'] },
        ],
        maxSessions: 50,
      },
    },
  });
});

t.teardown(async () => {
  for (const c of clients) await c.endAsync(true).catch(() => undefined);
  await agent.stop();
});

t.test('#1 dev cannot take over admin\'s persistent session and read its queued message', async (t) => {
  const adminX = await connect({ clientId: 'X', clean: false, username: 'admin', password: 'admin-pw' });
  await adminX.subscribeAsync('secret/#', { qos: 1 });
  await adminX.endAsync();
  const pub = await connect({ clientId: 'secret-pub', username: 'admin', password: 'admin-pw' });
  await pub.publishAsync('secret/keys', 'k', { qos: 1 });

  const dev = mqtt.connect(agent.mqttUrl, { clientId: 'X', clean: false, username: 'dev', password: 'dev-pw', reconnectPeriod: 0 });
  const received: string[] = [];
  dev.on('message', (topic) => received.push(topic));
  let sessionPresent: boolean | undefined;
  dev.on('packetreceive', (p) => {
    if (p.cmd === 'connack') sessionPresent = p.sessionPresent;
  });
  const err = await within(new Promise<Error & { code?: number }>((resolve) => dev.once('error', resolve)), 30_000, 'dev to be refused');
  await dev.endAsync(true);
  t.equal(err.code, 2, 'CONNACK 2 identifier rejected');
  t.equal(sessionPresent, false);
  t.same(received, []);
  t.equal(await counter('broker_refused', 'reason=client_id_taken'), 1);
});

t.test('squatting: dev cannot take the client id reserved for the pmu user, with or without a session', async (t) => {
  for (const clean of [false, true]) {
    const squat = mqtt.connect(agent.mqttUrl, { clientId: 'pmu-3', clean, username: 'dev', password: 'dev-pw', reconnectPeriod: 0 });
    const err = await within(new Promise<Error & { code?: number }>((resolve) => squat.once('error', resolve)), 30_000, 'dev to be refused');
    await squat.endAsync(true);
    t.equal(err.code, 2, `clean=${clean}: CONNACK 2 identifier rejected`);
  }
  t.equal(await counter('broker_refused', 'reason=client_id_not_allowed'), 2);
  const device = await connect({ clientId: 'pmu-3', clean: false, username: 'pmu', password: 'pmu-pw' });
  t.ok(device.connected, 'the device gets its id');
  const status = await getJson<Status>(`${agent.httpUrl}/api/v1/status`);
  t.ok(typeof status.counters?.['broker_sessions'] === 'number' && status.counters['broker_sessions'] >= 1, 'broker_sessions in the status counters');
});

t.test('#6 a NUL in a PUBLISH topic closes the connection, like mosquitto', async (t) => {
  const c = await RawClient.open(agent.mqttPort);
  t.teardown(() => c.destroy());
  c.send(connectPacket({ clientId: 'nul', username: 'dev', password: 'dev-pw' }));
  t.equal((await connack(c)).returnCode, 0);
  c.send(publishPacket('bal/raw/pmu\u00009', '{"freq":50}', 1, 9));
  await c.waitClosed(10_000, 'the agent to close the connection');
  t.notOk(c.packets.some((p) => p.cmd === 'puback'), 'not acknowledged');
  t.equal(await counter('broker_refused', 'reason=bad_topic'), 1);
});

t.test('#10 a rejected payload published retained on bal/raw/x reaches no subscriber and is not retained', async (t) => {
  const sub = await connect({ clientId: 'raw-sub', username: 'admin', password: 'admin-pw' });
  await sub.subscribeAsync('bal/raw/#', { qos: 1 });
  const seen: string[] = [];
  const good = new Promise<void>((resolve) =>
    sub.on('message', (topic) => {
      seen.push(topic);
      if (topic === 'bal/raw/good') resolve();
    }),
  );
  const dev = await connect({ clientId: 'bad-dev', username: 'dev', password: 'dev-pw' });
  await dev.publishAsync('bal/raw/x', '{"this is": not json', { qos: 1, retain: true }); // acknowledged
  t.ok(await counter('rejected', 'reason=bad_json') >= 1, 'the pipeline rejected it');
  const ts = Date.now() * 1000;
  await dev.publishAsync('bal/raw/good', JSON.stringify({ ts, freq: 50 }), { qos: 1 });
  await within(good, 10_000, 'the good message on bal/raw/good');
  t.same(seen, ['bal/raw/good'], 'the rejected payload was relayed to no one');
  t.equal(await counter('broker_dropped', 'reason=payload_rejected'), 1);

  const late = await connect({ clientId: 'late', username: 'admin', password: 'admin-pw' });
  const retained: string[] = [];
  late.on('message', (topic, _p, packet) => packet.retain && retained.push(topic));
  await dev.publishAsync('bal/raw/marker', JSON.stringify({ ts, freq: 50 }), { qos: 1, retain: true });
  const marker = new Promise<void>((resolve) => late.on('message', (topic) => topic === 'bal/raw/marker' && resolve()));
  await late.subscribeAsync('bal/raw/#', { qos: 1 });
  await within(marker, 10_000, 'the retained marker');
  t.same(retained, ['bal/raw/marker'], 'no retained message on bal/raw/x');
});
