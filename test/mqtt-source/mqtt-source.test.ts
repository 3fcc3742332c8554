/**
 * mqtt-source against Debian's mosquitto (the external broker) and the real agent process:
 * topic-to-device mapping with `+` captures and a fields map, the gateway's own format passed
 * through, missing and non-numeric fields marked invalid, refused payloads counted, a QoS 1
 * message published while the agent is down delivered after its restart (persistent session), a
 * reconnect after a broker restart, TLS with a client certificate (and a wrong CA refused), and
 * messages taken in together (none held back for the next message's PUBACK) and then cut short by
 * SIGKILL: each one mosquitto got a PUBACK for is in the buffer, every other one is delivered again.
 */
import t from 'tap';
import mqtt, { type MqttClient } from 'mqtt';
import { startAgent, tempDir, type AgentProcess } from '../helpers/agent-process.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';
import { makeCerts } from '../helpers/certs.js';

interface Got {
  topic: string;
  m: Record<string, unknown>;
}

/** A subscriber on the agent's broker collecting everything on bal/processed/<device>. */
async function listen(agent: AgentProcess): Promise<{ client: MqttClient; got: Got[] }> {
  const client = await mqtt.connectAsync(agent.mqttUrl, { reconnectPeriod: 0 });
  const got: Got[] = [];
  client.on('message', (topic, payload) => {
    if (topic.split('/').length === 3) got.push({ topic, m: JSON.parse(payload.toString()) as Record<string, unknown> });
  });
  await client.subscribeAsync('bal/processed/+', { qos: 0 });
  return { client, got };
}

async function status(agent: AgentProcess): Promise<Record<string, unknown>> {
  const r = await fetch(`${agent.httpUrl}/api/v1/status`);
  return (await r.json()) as Record<string, unknown>;
}

function counter(s: Record<string, unknown>, name: string, key: string): number {
  const c = (s['counters'] as Record<string, number | Record<string, number>>)[name];
  if (c === undefined || typeof c === 'number') return c ?? 0;
  return c[key] ?? 0;
}

const nowS = (): number => Math.floor(Date.now() / 1000);

function sourceConfig(broker: Mosquitto, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'mqtt-source',
    id: 'legacy',
    url: broker.url,
    reconnectMinMs: 100,
    reconnectMaxMs: 1000,
    topics: [
      { filter: 'meters/+/data', device: 'meter-+', fields: { 'v.a.mag': '$.Ua', 'p.total': '$.P', soc: '$.bat.soc[0]', 'breaker.q1': '$.closed', mode: '$.mode' }, ts: '$.time' },
      { filter: 'gw/+/+/meas', device: '+_+' },
      { filter: 'plant/#', device: 'plant' },
    ],
    ...extra,
  };
}

/** Wait until the source is subscribed on mosquitto (its log names the client id and filter). */
async function subscribed(broker: Mosquitto, times = 1): Promise<void> {
  await waitFor(`mqtt-source to subscribe ${times} time(s)`, () => (broker.log().match(/gridedge-gw-test-src-legacy 1 meters\/\+\/data/g)?.length ?? 0) >= times, {
    on: [],
    intervalMs: 20,
    detail: () => broker.log().slice(-1500),
  });
}

t.test('mqtt-source: mapping, fields, own format, bad payloads', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const agent = await startAgent({ config: { drivers: [sourceConfig(broker)] } });
  t.teardown(() => agent.stop());
  const { client: sub, got } = await listen(agent);
  t.teardown(() => sub.endAsync());
  await subscribed(broker);
  const pub = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  t.teardown(() => pub.endAsync());
  const next = (device: string, n: number) =>
    waitFor(`measurement ${n} of ${device} on bal/processed`, () => got.filter((g) => g.m['device'] === device)[n - 1]?.m, { on: [[sub, 'message']], detail: () => JSON.stringify(got.slice(-3)) });

  const ts = nowS() - 1;
  await pub.publishAsync('meters/7/data', JSON.stringify({ Ua: 231.5, P: '1200.5', bat: { soc: [55, 1] }, closed: true, mode: 'auto', time: ts }), { qos: 1 });
  const m1 = await next('meter-7', 1);
  t.equal(got.find((g) => g.m['device'] === 'meter-7')!.topic, 'bal/processed/meter-7', 'the + capture named the device');
  t.same((m1['v'] as { a: { mag: number } }).a.mag, 231.5, 'v.a.mag from $.Ua');
  t.equal((m1['p'] as { total: number }).total, 1200.5, 'p.total from $.P (a numeric string)');
  t.equal(m1['soc'], 55, 'soc from $.bat.soc[0]');
  t.same(m1['breaker'], { q1: true }, 'a boolean value (breaker position) kept as a boolean');
  t.equal(m1['mode'], 'auto', 'a string value (a mode) kept as a string');
  t.equal(m1['ts'], ts * 1e6, 'ts from $.time (seconds) in µs');
  t.equal(m1['quality'], 'good');

  await pub.publishAsync('meters/7/data', JSON.stringify({ P: 900, Ua: 'n/a', time: ts + 1 }), { qos: 1 });
  const m2 = await next('meter-7', 2);
  t.equal(m2['quality'], 'invalid', 'a bad field makes the message invalid');
  t.match(m2['field_quality'], { 'v.a.mag': 'invalid', soc: 'invalid' }, 'the non-numeric and the missing field are invalid');
  t.notOk((m2['field_quality'] as Record<string, string>)['p.total'], 'the good field is not named');
  t.same(new Set(m2['reasons'] as string[]), new Set(['mqtt-source:not_numeric', 'mqtt-source:missing']), 'with their reasons');
  t.equal((m2['v'] as { a: { mag: number } }).a.mag, 231.5, 'an invalid field carries the last good value');
  t.equal((m2['p'] as { total: number }).total, 900, 'the good field is the new value');

  // Nothing readable in a payload: nothing published, not the last values again under a new time.
  await pub.publishAsync('meters/7/data', JSON.stringify({ Ua: 'n/a', P: null, time: ts + 2 }), { qos: 1 });
  await pub.publishAsync('meters/7/data', JSON.stringify({ P: 901, time: ts + 3 }), { qos: 1 });
  const m2b = await next('meter-7', 3);
  t.equal(m2b['ts'], (ts + 3) * 1e6, 'the payload with no readable field published nothing: the next measurement is the one after it');
  t.equal((m2b['p'] as { total: number }).total, 901);

  await pub.publishAsync('meters/9/data', JSON.stringify({ P: 5, time: ts }), { qos: 1 });
  const m3 = await next('meter-9', 1);
  t.notOk(m3['v'], 'a field never seen is left out');
  t.equal(m3['quality'], 'good', 'the fields present stay good');
  t.same(m3['reasons'], ['mqtt-source:missing'], 'the missing ones are named in reasons');

  // The gateway's own format: processed like any measurement; the device comes from the topic.
  const own = { device: 'ignored', ts: Date.now() * 1000, quality: 'good', v: { a: { mag: 230, ang: 0 } }, i: { a: { mag: 10, ang: -30 } }, mode: 'auto' };
  await pub.publishAsync('gw/site1/m4/meas', JSON.stringify(own), { qos: 1 });
  const m4 = await next('site1_m4', 1);
  t.equal(m4['mode'], 'auto', 'own format: extra values kept');
  t.ok(Math.abs((m4['p'] as { a: number }).a - 230 * 10 * Math.cos(Math.PI / 6)) < 1e-6, 'own format: processed (p.a computed)');
  t.equal(m4['ts'], own.ts, 'own format: its ts kept');

  // Bad payloads: counted by reason, acknowledged (they do not block what follows).
  await pub.publishAsync('meters/7/data', 'not json', { qos: 1 });
  await pub.publishAsync('gw/site1/m4/meas', JSON.stringify({ ts: 1 }), { qos: 1 });
  await pub.publishAsync('plant/x', JSON.stringify({ device: 'plant', ts: Date.now() * 1000, soc: 12 }), { qos: 1 });
  const m5 = await next('plant', 1);
  t.equal(m5['soc'], 12, 'a fixed device name over a # filter');
  // PUBACKs go out once the commits are done (several messages may wait on one).
  const s = await waitFor('the refused payloads to be counted and every message acknowledged', async () => {
    const st = await status(agent);
    const info = (st['drivers'] as { info: Record<string, unknown> }[])[0]?.info;
    return counter(st, 'mqtt_source_rejected', 'driver=legacy,reason=bad_json') === 1 && counter(st, 'rejected', 'reason=missing_field') >= 1 && info?.['awaitingCommit'] === 0
      ? st
      : undefined;
  }, { intervalMs: 50, detail: () => '' });
  t.equal(counter(s, 'mqtt_source_received', 'driver=legacy'), 9, 'every message was received');
  t.equal(counter(s, 'mqtt_source_rejected', 'driver=legacy,reason=no_values'), 1, 'the payload with no readable field counted as no_values');
  t.ok(counter(s, 'mqtt_source_invalid_fields', 'driver=legacy,reason=missing') >= 2, 'missing fields counted');
  const drivers = s['drivers'] as { id: string; state: string; info: Record<string, unknown> }[];
  t.equal(drivers[0]!.state, 'running');
  t.equal(drivers[0]!.info['connected'], true);
  t.equal(drivers[0]!.info['awaitingCommit'], 0, 'every QoS 1 message was acknowledged');
});

t.test('mqtt-source: persistent session and no PUBACK before the commit', async (t) => {
  const broker = await startMosquitto({ persistence: true, debugLog: true });
  t.teardown(() => broker.stop());
  const dir = tempDir();
  const drivers = [sourceConfig(broker)];
  let agent = await startAgent({ dir, config: { drivers } });
  await subscribed(broker, 1);
  await agent.stop();

  // Published while the agent is down: mosquitto queues it for the persistent session.
  const pub = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  t.teardown(() => pub.endAsync());
  await pub.publishAsync('meters/1/data', JSON.stringify({ P: 111, time: nowS() }), { qos: 1 });

  agent = await startAgent({ dir, config: { drivers } });
  let sub = await listen(agent);
  // The queued message may arrive before the subscriber: read it from the buffer-backed device API too.
  const arrived = await waitFor('the message queued while the agent was down', async () => {
    const r = await fetch(`${agent.httpUrl}/api/v1/devices/meter-1`);
    if (r.status !== 200) return undefined;
    const d = (await r.json()) as { latest?: { p?: { total?: number } } };
    return d.latest?.p?.total === 111 ? d : undefined;
  }, { intervalMs: 50 });
  t.ok(arrived, 'a QoS 1 message published while the agent was down arrived after the restart');
  await sub.client.endAsync();
  await agent.stop();

  // An agent that commits late takes in several messages before any commit (their PUBACKs held
  // back, not the next message) and is killed. commitIntervalMs 10 s makes the kill come before the
  // commit as a rule, but the buffer's 1 s tick also commits what is queued, so a slow run may commit
  // (and acknowledge) some first. What must hold either way, read from mosquitto's debug log: a
  // message whose PUBACK reached mosquitto is in the buffer the next agent opens; every other one is
  // sent again, in order, to the next agent.
  agent = await startAgent({ dir, config: { drivers, storage: { commitIntervalMs: 10_000 } } });
  sub = await listen(agent);
  await subscribed(broker, 3);
  const logFrom = broker.log().length;
  for (const k of [2, 3, 4]) await pub.publishAsync(`meters/${k}/data`, JSON.stringify({ P: k * 111, time: nowS() }), { qos: 1 });
  await waitFor('the agent to take in the 3 messages (published locally before their commit)', () => (['meter-2', 'meter-3', 'meter-4'].every((d) => sub.got.some((g) => g.m['device'] === d)) ? true : undefined), {
    on: [[sub.client, 'message']],
    detail: () => JSON.stringify(sub.got.map((g) => g.m['device'])),
  });
  const st = await status(agent);
  const d = (st['drivers'] as { info: Record<string, unknown> }[])[0]!;
  t.equal(d.info['received'], 3, 'all 3 taken in before mqtt.js got a PUBACK for the first');
  sub.client.end(true);
  const killed = await agent.stop('SIGKILL');
  t.equal(killed.signal, 'SIGKILL');
  // Once mosquitto has seen the connection close, it has read every PUBACK the agent wrote.
  await waitFor('mosquitto to see the killed agent go', () => (/Client gridedge-gw-test-src-legacy (closed its connection|disconnected)/.test(broker.log().slice(logFrom)) ? true : undefined), {
    intervalMs: 20,
    detail: () => broker.log().slice(logFrom).slice(-2000),
  });
  const acked = pubackedTopics(broker.log().slice(logFrom), 'gridedge-gw-test-src-legacy');
  const k3 = [2, 3, 4];
  const wasAcked = (k: number) => acked.has(`meters/${k}/data`);
  t.comment(`acknowledged before the kill: ${[...acked].join(', ') || 'none'}`);

  agent = await startAgent({ dir, config: { drivers } });
  t.teardown(() => agent.stop());
  for (const k of k3.filter(wasAcked)) {
    const h = await history(agent, `meter-${k}`);
    t.ok(h.max.includes(k * 111), `meter-${k}: acknowledged before the kill, so it is in the buffer`);
  }
  const again = k3.filter((k) => !wasAcked(k));
  const latest = await waitFor('the messages cut short by SIGKILL, delivered again', async () => {
    const got = new Map<number, number | undefined>();
    for (const k of again) {
      const r = await fetch(`${agent.httpUrl}/api/v1/devices/meter-${k}`);
      if (r.status !== 200) return undefined;
      got.set(k, ((await r.json()) as { latest?: { p?: { total?: number } } }).latest?.p?.total);
    }
    const s2 = await status(agent);
    const i = (s2['drivers'] as { info: Record<string, unknown> }[])[0]!.info;
    return i['awaitingCommit'] === 0 && i['received'] === again.length && again.every((k) => got.get(k) !== undefined) ? { got, info: i } : undefined;
  }, { intervalMs: 50, detail: () => `expected again: ${again.join(',')}; broker log: ${broker.log().slice(logFrom).slice(-3000)}` });
  for (const k of again) t.equal(latest.got.get(k), k * 111, `meter-${k}: not acknowledged before the kill, delivered again`);
  t.equal(latest.info['received'], again.length, 'exactly the unacknowledged messages came again, and were acknowledged');
});

/** The topics of the QoS 1 messages mosquitto sent `client` and got a PUBACK for, from its debug log. */
function pubackedTopics(log: string, client: string): Set<string> {
  const topicOfMid = new Map<string, string>();
  const acked = new Set<string>();
  for (const line of log.split('\n')) {
    const sent = new RegExp(`Sending PUBLISH to ${client} \\(d\\d, q1, r\\d, m(\\d+), '([^']*)'`).exec(line);
    if (sent) topicOfMid.set(sent[1]!, sent[2]!);
    const ack = new RegExp(`Received PUBACK from ${client} \\(Mid: (\\d+)`).exec(line);
    if (ack && topicOfMid.has(ack[1]!)) acked.add(topicOfMid.get(ack[1]!)!);
  }
  return acked;
}

/** The device's p.total history from the buffer (GET /api/v1/devices/{id}/history). */
async function history(agent: AgentProcess, device: string): Promise<{ max: number[]; n: number[] }> {
  const r = await fetch(`${agent.httpUrl}/api/v1/devices/${device}/history?field=p.total&from=0`);
  if (r.status !== 200) throw new Error(`history of ${device}: HTTP ${r.status} ${await r.text()}`);
  return (await r.json()) as { max: number[]; n: number[] };
}

t.test('mqtt-source: reconnects with backoff after the broker restarts', async (t) => {
  let broker = await startMosquitto({ persistence: true });
  const { port, dir } = broker;
  t.teardown(() => broker.stop());
  const agent = await startAgent({ config: { drivers: [sourceConfig(broker)] } });
  t.teardown(() => agent.stop());
  await subscribed(broker);
  const driverInfo = async () => {
    const st = await status(agent);
    const d = (st['drivers'] as { state: string; info: Record<string, unknown>; driverHealth?: Record<string, unknown> }[])[0]!;
    return { st, d };
  };
  await broker.stop();
  const down = await waitFor('the driver to see the broker gone', async () => {
    const x = await driverInfo();
    return x.d.info['connected'] === false ? x : undefined;
  }, { intervalMs: 50 });
  t.equal(down.d.state, 'degraded', 'degraded while the broker is down');
  t.match(down.d.driverHealth, { connected: false }, 'driver health: not connected');

  broker = await startMosquitto({ persistence: true, dir, port });
  const up = await waitFor('the driver to reconnect', async () => {
    const x = await driverInfo();
    return x.d.info['connected'] === true ? x : undefined;
  }, { intervalMs: 50 });
  t.equal(up.d.state, 'running');
  t.equal(up.d.info['reconnects'], 1, 'one reconnect');
  t.equal(counter(up.st, 'mqtt_source_reconnects', 'driver=legacy'), 1, 'mqtt_source_reconnects counted');
  const generic = await waitFor('driver_reconnects from the health sweep', async () => {
    const x = await driverInfo();
    return counter(x.st, 'driver_reconnects', 'driver=legacy') === 1 ? x : undefined;
  }, { intervalMs: 100 });
  t.ok(generic, 'the generic driver_reconnects counter follows the driver');
  const pub = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  t.teardown(() => pub.endAsync());
  await pub.publishAsync('meters/3/data', JSON.stringify({ P: 333, time: nowS() }), { qos: 1 });
  const got = await waitFor('a message after the reconnect', async () => {
    const r = await fetch(`${agent.httpUrl}/api/v1/devices/meter-3`);
    return r.status === 200 ? ((await r.json()) as { latest: { p: { total: number } } }) : undefined;
  }, { intervalMs: 50 });
  t.equal(got.latest.p.total, 333, 'the session works after the reconnect');
});

t.test('mqtt-source: TLS with a CA and a client certificate; a wrong CA is refused', async (t) => {
  const certs = makeCerts();
  t.teardown(() => certs.remove());
  const broker = await startMosquitto({ tls: { cafile: certs.ca, certfile: certs.serverCert, keyfile: certs.serverKey, requireCertificate: true }, plainPort: true });
  t.teardown(() => broker.stop());
  const topics = [{ filter: 'tls/+', device: 'tls-+', fields: { 'p.total': '$.P' } }];
  const agent = await startAgent({
    config: {
      drivers: [
        { type: 'mqtt-source', id: 'legacy', url: broker.url, ca: certs.ca, cert: certs.clientCert, key: certs.clientKey, topics },
        { type: 'mqtt-source', id: 'rogue', url: broker.url, ca: certs.rogueCa, cert: certs.clientCert, key: certs.clientKey, reconnectMinMs: 100, topics },
      ],
    },
  });
  t.teardown(() => agent.stop());
  await broker.waitForLog(/gridedge-gw-test-src-legacy 1 tls\/\+/, 'the TLS subscription');
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.plainPort}`, { reconnectPeriod: 0 });
  t.teardown(() => pub.endAsync());
  await pub.publishAsync('tls/1', JSON.stringify({ P: 42 }), { qos: 1 });
  const got = await waitFor('a message over TLS', async () => {
    const r = await fetch(`${agent.httpUrl}/api/v1/devices/tls-1`);
    return r.status === 200 ? ((await r.json()) as { latest: { p: { total: number } } }) : undefined;
  }, { intervalMs: 50 });
  t.equal(got.latest.p.total, 42, 'received over mqtts with a client certificate');
  const rogue = await waitFor('the driver with the wrong CA to report its error', async () => {
    const st = await status(agent);
    const d = (st['drivers'] as { id: string; state: string; lastError?: string; info: Record<string, unknown> }[]).find((x) => x.id === 'rogue')!;
    return d.lastError ? d : undefined;
  }, { intervalMs: 50 });
  t.equal(rogue.info['connected'], false, 'a broker certificate from another CA is not accepted');
  t.not(rogue.state, 'running');
  t.match(rogue.lastError, /certificate|self.signed|verify/i, `names the certificate problem (${rogue.lastError})`);
});

t.test('mqtt-source: config check prints every problem with its path', async (t) => {
  const { runCli } = await import('../cli/run-cli.js');
  const dir = tempDir();
  const { writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const file = join(dir, 'bad.yaml');
  writeFileSync(
    file,
    [
      'drivers:',
      '  - type: mqtt-source',
      '    id: src',
      '    url: "http://x"',
      '    topics:',
      '      - { filter: "a/#/b", device: "+" }',
      '      - { filter: "meters/+/data", device: "m-+-+" }',
      '      - { filter: "x/+", device: "+", fields: { "v.a": "$.U", "soc": "$.a[" } }',
      '      - { filter: "y/+", device: "+", fields: { "i.c.ang": "$.phi", "i.a.mag": "$.I" } }',
      '  - { type: mqtt-source, id: src2, url: "mqtt://h:1883", topics: [] }',
    ].join('\n'),
  );
  const r = await runCli(['config', 'check', file]);
  t.equal(r.code, 1, 'exit 1');
  const out = r.stdout + r.stderr;
  for (const want of [
    /drivers\[0\]\.url: must use mqtt:\/\/, mqtts:\/\/, ws:\/\/ or wss:\/\//,
    /drivers\[0\]\.topics\[0\]\.filter: must be an MQTT topic filter: '#' must be a whole level and the last one/,
    /drivers\[0\]\.topics\[1\]\.device: has 2 "\+" but the filter has 1 "\+" level/,
    /drivers\[0\]\.topics\[2\]\.fields: the field "v\.a" must be v\.<a\|b\|c>\.<mag\|ang>/,
    /drivers\[0\]\.topics\[2\]\.fields: the JSON path of "soc" at column 4 of "\$\.a\[": "\[" without "\]"/,
    /drivers\[0\]\.topics\[0\]\.device: has 1 "\+" but the filter has 0/,
    /drivers\[0\]\.topics\[3\]\.fields: the field "i\.c\.ang" has no "i\.c\.mag" beside it: a phasor is published with its magnitude/,
    /drivers\[1\]\.topics: must list at least one/,
  ])
    t.match(out, want, `names ${want.source}`);
});
