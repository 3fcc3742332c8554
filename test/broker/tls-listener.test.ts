/**
 * MQTT over TLS (`mqtt.tls`): a real broker with its TLS listener beside the plain one, reached by
 * mqtt.js and by Debian's `mosquitto_sub` (an independent TLS/MQTT client), with certificates made by
 * `openssl` (test/helpers/certs.ts). Client certificates (`mqtt.tls.ca`): none, an untrusted one and a
 * good one; usernames, passwords and ACLs apply on the TLS listener as on the plain one.
 */
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { makeCerts } from '../helpers/certs.js';
import { startBroker, testHash } from './helpers.js';
import { until, within } from './raw-client.js';
import { connect, refusedConnect } from './tls-clients.js';

const certs = makeCerts();
t.teardown(() => certs.remove());

const users = [
  { username: 'dev', passwordHash: testHash('dev-pw'), publish: ['bal/raw/#', 'site/#'], subscribe: ['site/#'] },
];


/** The end date openssl reads from a certificate, as ms (an independent reading of notAfter). */
function opensslNotAfter(file: string): number {
  const line = execFileSync('openssl', ['x509', '-enddate', '-noout', '-in', file]).toString().trim();
  return Date.parse(line.replace(/^notAfter=/, ''));
}

t.test('server certificate only: TLS clients and plain clients share one broker; status names the listener', async (t) => {
  const b = await startBroker({ users, tls: { cert: certs.serverCert, key: certs.serverKey, ca: '', host: '', port: 0 } });
  t.teardown(() => b.broker.close());
  const st = b.broker.status();
  t.ok(st.tls, 'status has the TLS listener');
  t.equal(st.tls!.host, '127.0.0.1', 'empty mqtt.tls.host binds mqtt.host');
  t.not(st.tls!.port, b.port, 'its own port');
  t.equal(st.tls!.clientCertificates, false);
  t.equal(Date.parse(st.tls!.certificateExpires), opensslNotAfter(certs.serverCert), 'certificateExpires is the notAfter openssl reads');

  const tlsUrl = `mqtts://127.0.0.1:${st.tls!.port}`;
  const sub = await connect(tlsUrl, { ca: certs.read(certs.ca), username: 'dev', password: 'dev-pw' });
  t.teardown(() => sub.end(true));
  await sub.subscribeAsync('site/#', { qos: 1 });
  const pub = await connect(b.url, { username: 'dev', password: 'dev-pw' });
  t.teardown(() => pub.end(true));
  const got = new Promise<[string, Buffer]>((resolve) => sub.once('message', (topic, payload) => resolve([topic, payload])));
  await pub.publishAsync('site/a', 'over-plain', { qos: 1 });
  const [topic, payload] = await within(got, 10_000, 'the TLS subscriber to get the plain publish');
  t.equal(topic, 'site/a');
  t.equal(payload.toString(), 'over-plain');

  // An independent client: mosquitto_sub over TLS, trusting the test CA.
  const ms = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(st.tls!.port), '--cafile', certs.ca, '-u', 'dev', '-P', 'dev-pw', '-t', 'site/#', '-C', '1', '-q', '1', '-i', 'mosq-tls']);
  t.teardown(() => ms.kill());
  let out = '';
  let err = '';
  ms.stdout.on('data', (d: Buffer) => (out += d.toString()));
  ms.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = once(ms, 'exit');
  // Publish until mosquitto_sub has subscribed and taken one (its subscription time is not observable here).
  await until(() => b.broker.status().clients >= 3, 20_000, 'mosquitto_sub to connect over TLS');
  await until(() => b.broker.status().subscriptions >= 2, 20_000, 'mosquitto_sub to subscribe');
  await pub.publishAsync('site/b', 'to-mosquitto', { qos: 1 });
  const [code] = (await within(exited, 20_000, `mosquitto_sub to exit (stderr: ${err})`)) as [number];
  t.equal(code, 0, `mosquitto_sub exit code (stderr: ${err})`);
  t.equal(out.trim(), 'to-mosquitto', 'mosquitto_sub received the message over TLS');

  // Usernames still apply on the TLS listener.
  const bad = await refusedConnect(tlsUrl, { ca: certs.read(certs.ca), username: 'dev', password: 'wrong' });
  t.match(String(bad.message), /Bad username or password|Not authorized|closed/i, 'a wrong password is refused over TLS too');
  t.ok(b.counters.get('broker_refused', { reason: 'bad_credentials' }) >= 1, 'counted as bad_credentials');

  // A plain MQTT client on the TLS port fails the handshake: counted, nothing else happens.
  const before = b.counters.get('broker_refused', { reason: 'tls_handshake' });
  await refusedConnect(`mqtt://127.0.0.1:${st.tls!.port}`, { username: 'dev', password: 'dev-pw', connectTimeout: 5_000 });
  await until(() => b.counters.get('broker_refused', { reason: 'tls_handshake' }) > before, 10_000, 'the failed handshake to be counted');
});

t.test('mqtt.tls.ca: a client certificate the CA signed is required', async (t) => {
  const b = await startBroker({ users, tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, host: '127.0.0.1', port: 0 } });
  t.teardown(() => b.broker.close());
  const st = b.broker.status();
  t.equal(st.tls!.clientCertificates, true);
  const tlsUrl = `mqtts://127.0.0.1:${st.tls!.port}`;
  const ca = certs.read(certs.ca);

  const none = await refusedConnect(tlsUrl, { ca, username: 'dev', password: 'dev-pw' });
  t.ok(none, `no client certificate: refused (${none.message})`);
  await until(() => b.counters.get('broker_refused', { reason: 'tls_handshake' }) >= 1, 10_000, 'the refusal without a certificate to be counted');

  const rogue = await refusedConnect(tlsUrl, { ca, cert: certs.read(certs.rogueClientCert), key: certs.read(certs.rogueClientKey), username: 'dev', password: 'dev-pw' });
  t.ok(rogue, `a certificate another CA signed: refused (${rogue.message})`);
  await until(() => b.counters.get('broker_refused', { reason: 'tls_handshake' }) >= 2, 10_000, 'the refusal of the rogue certificate to be counted');

  const good = await connect(tlsUrl, { ca, cert: certs.read(certs.clientCert), key: certs.read(certs.clientKey), username: 'dev', password: 'dev-pw' });
  t.teardown(() => good.end(true));
  t.ok(good.connected, 'the CA-signed client certificate with a good password connects');
  // The ACL applies over TLS: a subscription outside it is refused.
  await t.rejects(good.subscribeAsync('secret/#', { qos: 0 }), 'a subscription outside the ACL is refused over TLS');
  t.equal(b.counters.get('broker_refused', { reason: 'tls_handshake' }), 2, 'the good client was not counted as a refusal');
});

t.test('a bad TLS file fails listen() naming its option, and nothing is left listening', async (t) => {
  const { createBroker } = await import('../../agent/broker/index.js');
  const { Counters } = await import('../../agent/core/counters.js');
  const { createLogger } = await import('../../agent/core/logger.js');
  const { mqttConfig } = await import('./helpers.js');
  const broker = createBroker(mqttConfig({ tls: { cert: certs.serverCert, key: certs.clientKey, ca: '', host: '', port: 0 } }), {
    log: createLogger('silent'),
    counters: new Counters(),
    onRawPublish: () => Promise.resolve('accepted'),
  });
  t.teardown(() => broker.close());
  await t.rejects(broker.listen(), /mqtt\.tls\.key: does not belong to the certificate mqtt\.tls\.cert/);
  t.equal(broker.status().port, 0, 'the plain listener did not open either');
});

t.test('mqtt.tls.identityAsUsername: the client certificate names the user; no password is asked for', async (t) => {
  const cn = certs.clientCn;
  const asCert = [{ username: cn, passwordHash: testHash('unused-pw'), publish: ['site/#'], subscribe: ['site/#'] }];
  const b = await startBroker({ users: [...users, ...asCert], tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, identityAsUsername: true, host: '', port: 0 } });
  t.teardown(() => b.broker.close());
  const tlsUrl = `mqtts://127.0.0.1:${b.broker.status().tls!.port}`;
  const tlsOpts = { ca: certs.read(certs.ca), cert: certs.read(certs.clientCert), key: certs.read(certs.clientKey) };

  const dev = await connect(tlsUrl, { ...tlsOpts, clientId: 'by-cert' });
  t.teardown(() => dev.end(true));
  t.ok(dev.connected, 'the certificate alone logs in');
  await dev.subscribeAsync('site/#', { qos: 1 });
  await t.rejects(dev.subscribeAsync('bal/#', { qos: 0 }), `the ACL of user ${cn} applies (bal/# is outside it)`);
  const got = new Promise<string>((resolve) => dev.once('message', (topic) => resolve(topic)));
  await dev.publishAsync('site/cert', 'x', { qos: 1 });
  t.equal(await within(got, 10_000, 'its own publish back'), 'site/cert', 'it publishes and receives within its ACL');

  const same = await connect(tlsUrl, { ...tlsOpts, clientId: 'by-cert-2', username: cn, password: 'anything' });
  t.ok(same.connected, 'a username equal to the certificate name is accepted; the password is not checked');
  same.end(true);

  const before = b.counters.get('broker_refused', { reason: 'bad_credentials' });
  const other = await refusedConnect(tlsUrl, { ...tlsOpts, clientId: 'as-dev', username: 'dev', password: 'dev-pw' });
  t.match(String(other.message), /Bad username or password|Not authorized/i, 'another username than the certificate name is refused, even with its right password');
  t.equal(b.counters.get('broker_refused', { reason: 'bad_credentials' }), before + 1, 'counted as bad_credentials');

  // Plain MQTT: passwords as always (the certificate's user has one too).
  const plain = await connect(b.url, { username: 'dev', password: 'dev-pw', clientId: 'plain-dev' });
  t.ok(plain.connected, 'the plain listener still logs in by password');
  plain.end(true);
  const noCert = await refusedConnect(b.url, { username: cn, clientId: 'plain-nopw' });
  t.ok(noCert, 'on the plain listener the certificate user needs its password');
});

t.test('identityAsUsername: a certificate whose name is not a user is refused', async (t) => {
  const b = await startBroker({ users, tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, identityAsUsername: true, host: '', port: 0 } });
  t.teardown(() => b.broker.close());
  const tlsUrl = `mqtts://127.0.0.1:${b.broker.status().tls!.port}`;
  const e = await refusedConnect(tlsUrl, { ca: certs.read(certs.ca), cert: certs.read(certs.clientCert), key: certs.read(certs.clientKey) });
  t.match(String(e.message), /Bad username or password|Not authorized/i);
  t.equal(b.counters.get('broker_refused', { reason: 'bad_credentials' }), 1);
});
