/**
 * The Azure IoT Hub forwarder: connection strings, SAS tokens, telemetry topics and packing, then
 * end to end against real brokers posing as the hub on TLS with a CA made in the test (SAN
 * myhub.azure-devices.net): mosquitto for delivery (topic, properties, payload), and an Aedes
 * broker on a node:tls server for what mosquitto cannot show (the CONNECT's username, client id,
 * SAS token, TLS server name, client certificate).
 */
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { Aedes } from 'aedes';
import { azureIotForwarder, validateAzureIot, type AzureIotConfig } from '../../agent/forwarders/azure-iot/index.js';
import { parseConnectionString } from '../../agent/forwarders/azure-iot/connection-string.js';
import { resourceUri, sasToken } from '../../agent/forwarders/azure-iot/sas.js';
import { eventsTopic, eventsTopicBase, packRows } from '../../agent/forwarders/azure-iot/telemetry.js';
import { ForwarderRunner } from '../../agent/forwarders/runner.js';
import type { MessageBuffer } from '../../agent/core/buffer-types.js';
import type { Counters } from '../../agent/core/counters.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { FAKE_HUB, makeCerts, type TestCerts } from '../helpers/certs.js';
import { collect, makeCtx, openTestBuffer, processedPayload, TEST_RUNNER, until } from './harness.js';
import { withDefaults } from '../helpers/plugin-config.js';

const KEY = Buffer.from('gridedge test device key, 32 b!!').toString('base64');
const CONN = `HostName=${FAKE_HUB};DeviceId=dev1;SharedAccessKey=${KEY}`;

function config(over: Partial<AzureIotConfig>): AzureIotConfig {
  return withDefaults<AzureIotConfig>(azureIotForwarder, {
    id: 'hub',
    type: 'azure-iot',
    connectionString: CONN,
    maxRate: 1000,
    ...TEST_RUNNER,
    ...over,
  });
}

function startRunner(buffer: MessageBuffer, counters: Counters, cfg: AzureIotConfig): ForwarderRunner {
  const runner = new ForwarderRunner({ id: cfg.id, type: 'azure-iot', forwarder: azureIotForwarder.create(cfg), buffer, config: { ...cfg } });
  runner.start(makeCtx(cfg.id, counters).ctx);
  return runner;
}

t.test('connection strings: parsed, and every problem names the part', async (t) => {
  t.same(parseConnectionString(CONN), { hostName: FAKE_HUB, deviceId: 'dev1', sharedAccessKey: KEY, x509: false });
  t.same(parseConnectionString(`HostName=h.azure-devices.net;DeviceId=d;ModuleId=m;SharedAccessKey=${KEY}`).moduleId, 'm');
  t.same(parseConnectionString('HostName=h.azure-devices.net;DeviceId=d;x509=true').x509, true);
  t.throws(() => parseConnectionString(`HostName=${FAKE_HUB};SharedAccessKey=${KEY}`), /missing DeviceId/);
  t.throws(() => parseConnectionString(`DeviceId=d;SharedAccessKey=${KEY}`), /missing HostName/);
  t.throws(() => parseConnectionString(`HostName=${FAKE_HUB};DeviceId=d`), /missing SharedAccessKey/);
  t.throws(() => parseConnectionString(`HostName=${FAKE_HUB};DeviceId=d;SharedAccessKey=not base64!`), /not base64/);
  t.throws(() => parseConnectionString(`HostName=${FAKE_HUB};DeviceId=d;Key=${KEY}`), /unknown part "Key"/);
  t.throws(() => parseConnectionString(`HostName=${FAKE_HUB};SharedAccessKeyName=iothubowner;DeviceId=d;SharedAccessKey=${KEY}`), /policy/);
  t.throws(() => parseConnectionString('garbage'), /without "Name=value"/);

  t.same(validateAzureIot(config({})), []);
  t.match(validateAzureIot(config({ connectionString: `HostName=${FAKE_HUB}` })).join('\n'), /^connectionString: .*missing DeviceId/);
  t.match(validateAzureIot(config({ connectionString: '' })).join('\n'), /hostName: must be set[\s\S]*deviceId: must be set[\s\S]*x509.cert: must be set/);
  t.match(validateAzureIot(config({ x509: { cert: 'c.pem', key: '' } })).join('\n'), /x509.key: must be set/);
  t.same(validateAzureIot(config({ connectionString: '', hostName: FAKE_HUB, deviceId: 'd', x509: { cert: 'c.pem', key: 'k.pem' } })), []);
  t.throws(() => azureIotForwarder.create(config({ connectionString: 'HostName=x' })), /forwarder hub: connectionString/);
});

t.test('SAS token: the same signature as openssl computes (independent HMAC-SHA256)', async (t) => {
  const uri = resourceUri(FAKE_HUB, 'dev1');
  t.equal(uri, `${FAKE_HUB}/devices/dev1`);
  t.equal(resourceUri(FAKE_HUB, 'dev1', 'mod'), `${FAKE_HUB}/devices/dev1/modules/mod`);
  const expiry = 1764003600;
  const token = sasToken(uri, KEY, expiry);
  const m = /^SharedAccessSignature sr=([^&]+)&sig=([^&]+)&se=(\d+)$/.exec(token);
  t.ok(m, token);
  t.equal(m![1], 'myhub.azure-devices.net%2Fdevices%2Fdev1', 'sr is the URL-encoded resource URI');
  t.equal(m![3], String(expiry));
  const hexKey = Buffer.from(KEY, 'base64').toString('hex');
  const sig = execFileSync('openssl', ['dgst', '-sha256', '-mac', 'HMAC', '-macopt', `hexkey:${hexKey}`, '-binary'], {
    input: `${m![1]}\n${expiry}`,
  }).toString('base64');
  t.equal(decodeURIComponent(m![2]!), sig, 'sig is the base64 HMAC of "<encoded uri>\\n<expiry>" keyed by the decoded key');
});

t.test('telemetry topic and packing up to the size limit', async (t) => {
  t.equal(eventsTopicBase('dev1'), 'devices/dev1/messages/events/');
  t.equal(eventsTopicBase('dev1', 'm1'), 'devices/dev1/modules/m1/messages/events/');
  t.equal(eventsTopic('devices/d/messages/events/', 'gw-1:5-9'), 'devices/d/messages/events/$.mid=gw-1%3A5-9&$.ct=application%2Fjson&$.ce=utf-8');
  const rows = Array.from({ length: 40 }, (_, k) => ({ seq: 100 + k, topic: 'bal/processed/pmu1', payload: processedPayload('pmu1', k) }));
  rows.push({ seq: 200, topic: 'bal/processed/big', payload: JSON.stringify({ blob: 'x'.repeat(3000) }) });
  const max = 2048;
  const { messages, tooLarge } = packRows(rows, { gw: 'gw-1', maxMessageBytes: max, maxRowsPerMessage: 500, includeTopic: true });
  t.same(tooLarge.map((x) => x.seq), [200], 'a row that cannot fit alone is reported');
  t.ok(messages.length > 1, `${messages.length} messages`);
  for (const m of messages) {
    t.ok(Buffer.byteLength(m.body) <= max, `${Buffer.byteLength(m.body)} bytes <= ${max}`);
    const arr = JSON.parse(m.body) as { gw: string; seq: number; topic: string }[];
    t.same(arr.map((x) => x.seq), m.seqs);
    t.ok(arr.every((x) => x.gw === 'gw-1' && x.topic === 'bal/processed/pmu1'));
    t.equal(m.messageId, m.seqs.length === 1 ? `gw-1:${m.seqs[0]}` : `gw-1:${m.seqs[0]}-${m.seqs[m.seqs.length - 1]}`);
  }
  t.same(messages.flatMap((m) => m.seqs), rows.slice(0, 40).map((r) => r.seq), 'every row once, in order');
  const single = packRows(rows.slice(0, 3), { gw: 'g', maxMessageBytes: max, maxRowsPerMessage: 1, includeTopic: false });
  t.equal(single.messages.length, 3);
  t.same(JSON.parse(single.messages[0]!.body).seq, 100, 'maxRowsPerMessage 1 sends plain objects');
  t.equal(single.messages[0]!.messageId, 'g:100');
});

interface Connect {
  clientId: string;
  username: string | undefined;
  password: string | undefined;
  servername: string | undefined;
  peerCn: string | undefined;
}

/** Aedes on a node:tls server posing as the hub; records every CONNECT. */
async function fakeHub(t: Test, certs: TestCerts, requestCert = false): Promise<{ port: number; connects: Connect[]; topics: string[] }> {
  const connects: Connect[] = [];
  const topics: string[] = [];
  const broker = await Aedes.createBroker({
    authenticate: (client, username, password, done) => {
      const sock = (client as unknown as { conn: TLSSocket }).conn;
      const peer = requestCert ? sock.getPeerCertificate() : undefined;
      connects.push({
        clientId: client.id,
        username,
        password: password?.toString(),
        servername: (sock as TLSSocket & { servername?: string }).servername,
        peerCn: peer?.subject?.CN as string | undefined,
      });
      done(null, true);
    },
  });
  broker.on('publish', (packet, client) => {
    if (client) topics.push(packet.topic);
  });
  const server = createTlsServer(
    { key: certs.read(certs.serverKey), cert: certs.read(certs.serverCert), ca: certs.read(certs.ca), requestCert, rejectUnauthorized: requestCert },
    broker.handle,
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => broker.close(() => server.close(() => r()))));
  return { port: (server.address() as AddressInfo).port, connects, topics };
}

t.test('CONNECT as IoT Hub expects it: client id, username, SAS token, TLS name; renewed before expiry', async (t) => {
  const certs = makeCerts();
  t.teardown(() => certs.remove());
  const hub = await fakeHub(t, certs);
  const tb = openTestBuffer();
  t.teardown(() => tb.close());
  const ttl = 4;
  const runner = startRunner(tb.buffer, tb.counters, config({ url: `mqtts://127.0.0.1:${hub.port}`, ca: certs.ca, sasTtlS: ttl }));
  t.teardown(() => runner.stop());
  await until(() => hub.connects.length >= 1, 'the first CONNECT');
  const c1 = hub.connects[0]!;
  t.equal(c1.clientId, 'dev1', 'client id = device id');
  t.equal(c1.username, `${FAKE_HUB}/dev1/?api-version=2021-04-12`, 'username = {HostName}/{deviceId}/?api-version=…');
  t.equal(c1.servername, FAKE_HUB, 'TLS server name = HostName, even with the url override');

  const parse = (pw: string): { sr: string; sig: string; se: number } => {
    const m = /^SharedAccessSignature sr=([^&]+)&sig=([^&]+)&se=(\d+)$/.exec(pw);
    if (!m) throw new Error(`not a SAS token: ${pw}`);
    return { sr: m[1]!, sig: decodeURIComponent(m[2]!), se: Number(m[3]) };
  };
  const hmac = (sr: string, se: number): string => {
    const hexKey = Buffer.from(KEY, 'base64').toString('hex');
    return execFileSync('openssl', ['dgst', '-sha256', '-mac', 'HMAC', '-macopt', `hexkey:${hexKey}`, '-binary'], { input: `${sr}\n${se}` }).toString('base64');
  };
  const tok1 = parse(c1.password!);
  t.equal(tok1.sr, encodeURIComponent(`${FAKE_HUB}/devices/dev1`));
  t.equal(tok1.sig, hmac(tok1.sr, tok1.se), 'the signature verifies with the device key');
  const now = Math.floor(Date.now() / 1000);
  t.ok(tok1.se > now - 5 && tok1.se <= now + ttl + 1, `expiry ${tok1.se} is about now + ${ttl} s`);

  // Renewal: a second CONNECT with a later expiry, before the first token expires.
  await until(() => hub.connects.length >= 2, 'a reconnect with a fresh token');
  const tok2 = parse(hub.connects[1]!.password!);
  t.ok(tok2.se > tok1.se, `fresh token expires later (${tok2.se} > ${tok1.se})`);
  t.equal(tok2.sig, hmac(tok2.sr, tok2.se), 'and verifies too');
  t.equal(hub.connects[1]!.clientId, 'dev1');

  // Data still flows after the renewal.
  await tb.buffer.append([{ topic: 'bal/processed/pmu1', payload: processedPayload('pmu1', 1) }]);
  await until(() => hub.topics.length >= 1, 'a telemetry publish');
  t.match(hub.topics[0], /^devices\/dev1\/messages\/events\/\$\.mid=gw-1%3A\d+&\$\.ct=application%2Fjson&\$\.ce=utf-8$/);
  t.equal(tb.counters.total('forward_errors'), 0, 'renewing is not an error');
});

t.test('a token lifetime beyond what one timer can wait (sasTtlS 3 000 000 s, 34.7 days): one connection, no overflow', async (t) => {
  const certs = makeCerts();
  t.teardown(() => certs.remove());
  const hub = await fakeHub(t, certs);
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.name);
  process.on('warning', onWarning);
  t.teardown(() => void process.off('warning', onWarning));
  const tb = openTestBuffer();
  t.teardown(() => tb.close());
  const runner = startRunner(tb.buffer, tb.counters, config({ url: `mqtts://127.0.0.1:${hub.port}`, ca: certs.ca, sasTtlS: 3_000_000, maxRowsPerMessage: 1 }));
  t.teardown(() => runner.stop());
  // Rows one after the other, each waited for: the link stays up meanwhile.
  for (let k = 0; k < 5; k++) {
    await tb.buffer.append([{ topic: 'bal/processed/pmu1', payload: processedPayload('pmu1', k) }]);
    await until(() => hub.topics.length >= k + 1, `telemetry message ${k + 1}`);
  }
  t.equal(hub.connects.length, 1, 'one CONNECT: the renewal is 27.8 days away, not 1 ms');
  t.notOk(warnings.includes('TimeoutOverflowWarning'), 'no TimeoutOverflowWarning');
});

t.test('X.509: no password, the device certificate is presented', async (t) => {
  const certs = makeCerts('dev-x509');
  t.teardown(() => certs.remove());
  const hub = await fakeHub(t, certs, true);
  const tb = openTestBuffer();
  t.teardown(() => tb.close());
  const runner = startRunner(
    tb.buffer,
    tb.counters,
    config({
      connectionString: '',
      hostName: FAKE_HUB,
      deviceId: 'dev-x509',
      x509: { cert: certs.clientCert, key: certs.clientKey },
      url: `mqtts://127.0.0.1:${hub.port}`,
      ca: certs.ca,
    }),
  );
  t.teardown(() => runner.stop());
  await until(() => hub.connects.length >= 1, 'the CONNECT');
  const c = hub.connects[0]!;
  t.equal(c.clientId, 'dev-x509');
  t.equal(c.username, `${FAKE_HUB}/dev-x509/?api-version=2021-04-12`);
  t.equal(c.password, undefined, 'no password with X.509');
  t.equal(c.peerCn, 'dev-x509', 'the device certificate was presented');
});

t.test('delivery through mosquitto on TLS: topic with properties, JSON array payload with gw, seq and topic', async (t) => {
  const certs = makeCerts();
  t.teardown(() => certs.remove());
  const m = await startMosquitto({ tls: { cafile: certs.ca, certfile: certs.serverCert, keyfile: certs.serverKey }, plainPort: true });
  t.teardown(() => m.stop());
  const tb = openTestBuffer();
  t.teardown(() => tb.close());
  const sub = await collect(`mqtt://127.0.0.1:${m.plainPort}`, 'devices/#');
  t.teardown(() => sub.close());
  const runner = startRunner(
    tb.buffer,
    tb.counters,
    config({ url: `mqtts://127.0.0.1:${m.port}`, ca: certs.ca, maxMessageBytes: 4096, map: [{ from: 'bal/processed/#', to: 'gridedge/#' }] }),
  );
  t.teardown(() => runner.stop());
  await until(() => runner.status().connected, 'connected');
  const rows = Array.from({ length: 30 }, (_, k) => ({ topic: 'bal/processed/pmu1', payload: processedPayload('pmu1', k) }));
  rows.push({ topic: 'bal/raw/pmu1', payload: '{}' });
  const seqs = await tb.buffer.append(rows);
  await until(() => runner.cursor === seqs[seqs.length - 1], 'every row acknowledged');
  await until(() => sub.messages.flatMap((r) => JSON.parse(r.text) as unknown[]).length >= 30, 'all rows upstream');

  const got: number[] = [];
  for (const msg of sub.messages) {
    const [base, bag] = [msg.topic.slice(0, msg.topic.lastIndexOf('/') + 1), msg.topic.slice(msg.topic.lastIndexOf('/') + 1)];
    t.equal(base, 'devices/dev1/messages/events/');
    const props = new Map(bag.split('&').map((kv) => kv.split('=').map(decodeURIComponent) as [string, string]));
    t.equal(props.get('$.ct'), 'application/json');
    t.equal(props.get('$.ce'), 'utf-8');
    t.ok(Buffer.byteLength(msg.text) <= 4096, 'within maxMessageBytes');
    const arr = JSON.parse(msg.text) as { gw: string; seq: number; topic: string; device: string }[];
    t.ok(Array.isArray(arr) && arr.length >= 1);
    t.equal(props.get('$.mid'), arr.length === 1 ? `gw-1:${arr[0]!.seq}` : `gw-1:${arr[0]!.seq}-${arr[arr.length - 1]!.seq}`, 'message id gw:first-last');
    for (const x of arr) {
      t.equal(x.gw, 'gw-1');
      t.equal(x.topic, 'gridedge/pmu1', 'the mapped source topic');
      t.equal(x.device, 'pmu1');
      got.push(x.seq);
    }
  }
  t.ok(sub.messages.length > 1, `packed into ${sub.messages.length} messages of at most 4096 bytes`);
  t.same(got, seqs.slice(0, 30), 'every routed row once, in order');
});

t.test('maxRate holds the message rate (lower bound on the time taken)', async (t) => {
  const certs = makeCerts();
  t.teardown(() => certs.remove());
  const m = await startMosquitto({ tls: { cafile: certs.ca, certfile: certs.serverCert, keyfile: certs.serverKey }, plainPort: true });
  t.teardown(() => m.stop());
  const tb = openTestBuffer();
  t.teardown(() => tb.close());
  const sub = await collect(`mqtt://127.0.0.1:${m.plainPort}`, 'devices/#');
  t.teardown(() => sub.close());
  const rate = 10;
  const runner = startRunner(tb.buffer, tb.counters, config({ url: `mqtts://127.0.0.1:${m.port}`, ca: certs.ca, maxRate: rate, maxRowsPerMessage: 1 }));
  t.teardown(() => runner.stop());
  await until(() => runner.status().connected, 'connected');
  const n = 25;
  const t0 = performance.now();
  await tb.buffer.append(Array.from({ length: n }, (_, k) => ({ topic: 'bal/processed/pmu1', payload: processedPayload('pmu1', k) })));
  await sub.waitFor(n);
  const elapsed = performance.now() - t0;
  // A bucket of `rate` tokens refilled at `rate`/s: n messages need at least (n - rate) / rate seconds.
  t.ok(elapsed >= ((n - rate) / rate) * 1000 * 0.9, `${n} messages at ${rate}/s took ${Math.round(elapsed)} ms`);
  t.ok(sub.messages.every((r) => !JSON.parse(r.text).length), 'maxRowsPerMessage 1: plain objects');
});
