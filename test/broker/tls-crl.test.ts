/**
 * Certificate revocation on the MQTT over TLS listener (`mqtt.tls.crl`), with a real broker, mqtt.js
 * clients and a PKI and CRLs made by `openssl` (test/helpers/certs.ts): a revoked client certificate
 * fails the handshake and is counted as certificate_revoked (logged once a minute per address), the
 * other certificate connects; a CRL past its nextUpdate locks no one out but still refuses what it
 * revokes; a new CRL put in force (renewTls, as a reload does) disconnects connected clients whose
 * certificate it revokes and refuses their new connections.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { loadTls } from '../../agent/core/tls-files.js';
import { capturingLogger } from '../helpers/capturing-logger.js';
import { makeCerts, makeCrl } from '../helpers/certs.js';
import { startBroker, testHash } from './helpers.js';
import { until, within } from './raw-client.js';
import { connect, refusedConnect } from './tls-clients.js';

const certs = makeCerts('crl-device');
t.teardown(() => certs.remove());

const users = [{ username: 'dev', passwordHash: testHash('dev-pw'), publish: ['site/#'], subscribe: ['site/#'] }];
const DAY = 86_400_000;


const nextUpdateOf = (file: string): string =>
  new Date(Date.parse(execFileSync('openssl', ['crl', '-in', file, '-noout', '-nextupdate']).toString().trim().replace(/^nextUpdate=/, ''))).toISOString();

const good = { cert: certs.read(certs.clientCert), key: certs.read(certs.clientKey) };
const revoked = { cert: certs.read(certs.client2Cert), key: certs.read(certs.client2Key) };
const ca = certs.read(certs.ca);
const tlsOf = (crl: string) => ({ cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, crl, host: '', port: 0 });

t.test('a revoked client certificate fails the handshake (certificate_revoked, logged per address); the other connects', async (t) => {
  const crl = makeCrl(certs, [certs.client2Cert]);
  const { log, lines } = capturingLogger('info');
  const b = await startBroker({ users, tls: tlsOf(crl) }, { log });
  t.teardown(() => b.broker.close());
  const st = b.broker.status().tls!;
  t.equal(st.crlNextUpdate, nextUpdateOf(crl), 'status: the nextUpdate openssl reads');
  t.equal(st.revokedCertificates, 1);
  const url = `mqtts://127.0.0.1:${st.port}`;

  const ok = await connect(url, { ca, ...good, username: 'dev', password: 'dev-pw' });
  t.teardown(() => ok.end(true));
  t.ok(ok.connected, 'the certificate the CRL does not list connects');

  const e = await refusedConnect(url, { ca, ...revoked, username: 'dev', password: 'dev-pw' });
  t.ok(e, `the revoked certificate is refused (${e.message})`);
  await until(() => b.counters.get('broker_refused', { reason: 'certificate_revoked' }) === 1, 10_000, 'the revoked certificate to be counted');
  t.equal(b.counters.get('broker_refused', { reason: 'tls_handshake' }), 0, 'not counted as another handshake failure');
  const logged = lines.filter((l) => l['reason'] === 'certificate_revoked');
  t.equal(logged.length, 1);
  t.equal(logged[0]!['address'], '127.0.0.1', 'the log names the address');
  t.match(String(logged[0]!['msg']), /mqtt: refused \(certificate_revoked\) connection from 127\.0\.0\.1/);

  await refusedConnect(url, { ca, ...revoked, username: 'dev', password: 'dev-pw' });
  await until(() => b.counters.get('broker_refused', { reason: 'certificate_revoked' }) === 2, 10_000, 'the second attempt to be counted');
  t.equal(lines.filter((l) => l['reason'] === 'certificate_revoked').length, 1, 'logged once a minute per address');

  // The other refusals are as before.
  await refusedConnect(url, { ca, cert: certs.read(certs.rogueClientCert), key: certs.read(certs.rogueClientKey), username: 'dev', password: 'dev-pw' });
  await refusedConnect(url, { ca, username: 'dev', password: 'dev-pw' });
  await until(() => b.counters.get('broker_refused', { reason: 'tls_handshake' }) === 2, 10_000, 'a rogue and a missing certificate counted as tls_handshake');
  t.equal(b.counters.get('broker_refused', { reason: 'certificate_revoked' }), 2);
});

t.test('a CRL past its nextUpdate locks no one out; what it revokes is still refused', async (t) => {
  const now = Date.now();
  const crl = makeCrl(certs, [certs.client2Cert], { lastUpdate: new Date(now - 10 * DAY), nextUpdate: new Date(now - DAY) });
  const cn = certs.clientCn;
  const b = await startBroker({ users: [...users, { username: cn, passwordHash: testHash('x'), publish: ['site/#'], subscribe: ['site/#'] }], tls: { ...tlsOf(crl), identityAsUsername: true } });
  t.teardown(() => b.broker.close());
  const st = b.broker.status().tls!;
  t.ok(Date.parse(st.crlNextUpdate!) < now, 'status shows the nextUpdate in the past');
  const url = `mqtts://127.0.0.1:${st.port}`;

  const ok = await connect(url, { ca, ...good, clientId: 'by-cert' });
  t.teardown(() => ok.end(true));
  t.ok(ok.connected, 'a good certificate still connects (OpenSSL alone would refuse it: CRL has expired)');
  await ok.subscribeAsync('site/#', { qos: 1 });
  const got = new Promise<string>((resolve) => ok.once('message', (topic) => resolve(topic)));
  await ok.publishAsync('site/x', 'v', { qos: 1 });
  t.equal(await within(got, 10_000, 'the publish back'), 'site/x', `its certificate name is its username (${cn}) and its ACL applies`);

  await refusedConnect(url, { ca, ...revoked });
  await until(() => b.counters.get('broker_refused', { reason: 'certificate_revoked' }) === 1, 10_000, 'the revoked certificate to be refused');
  await refusedConnect(url, { ca, cert: certs.read(certs.rogueClientCert), key: certs.read(certs.rogueClientKey) });
  await refusedConnect(url, { ca });
  await until(() => b.counters.get('broker_refused', { reason: 'tls_handshake' }) === 2, 10_000, 'a rogue and a missing certificate still refused');
});

t.test('a new CRL put in force disconnects the connected clients it revokes; their new connections are refused', async (t) => {
  const first = makeCrl(certs, []);
  const { log, lines } = capturingLogger('info');
  const b = await startBroker({ users, tls: tlsOf(first) }, { log });
  t.teardown(() => b.broker.close());
  t.equal(b.broker.status().tls!.revokedCertificates, 0);
  const url = `mqtts://127.0.0.1:${b.broker.status().tls!.port}`;
  const keeps = await connect(url, { ca, ...good, username: 'dev', password: 'dev-pw', clientId: 'keeps' });
  t.teardown(() => keeps.end(true));
  const goes = await connect(url, { ca, ...revoked, username: 'dev', password: 'dev-pw', clientId: 'goes' });
  t.teardown(() => goes.end(true));
  const closed = new Promise<void>((resolve) => goes.once('close', () => resolve()));
  await keeps.subscribeAsync('site/#', { qos: 1 });

  t.equal(b.broker.renewTls(loadTls('mqtt.tls', tlsOf(first))), null, 'the same files: nothing to do');
  const second = makeCrl(certs, [certs.client2Cert]);
  const r = b.broker.renewTls(loadTls('mqtt.tls', tlsOf(second)));
  t.same(r, { certificate: false, crl: true, disconnected: 1 });
  await within(closed, 10_000, 'the client with the now revoked certificate to be closed');
  t.equal(b.counters.get('broker_disconnects', { reason: 'certificate_revoked' }), 1);
  const line = lines.find((l) => /certificate is revoked/.test(String(l['msg'])));
  t.match(String(line?.['msg']), /disconnecting client "goes" from 127\.0\.0\.1: its certificate is revoked by the CRL of "CN=gridedge test CA"/);
  t.equal(b.broker.status().tls!.revokedCertificates, 1);

  // The other client stays and receives.
  t.ok(keeps.connected, 'the client whose certificate is not revoked stays connected');
  const got = new Promise<string>((resolve) => keeps.once('message', (topic) => resolve(topic)));
  await keeps.publishAsync('site/after', 'v', { qos: 1 });
  t.equal(await within(got, 10_000, 'the kept client to receive'), 'site/after');

  await refusedConnect(url, { ca, ...revoked, username: 'dev', password: 'dev-pw', clientId: 'goes' });
  await until(() => b.counters.get('broker_refused', { reason: 'certificate_revoked' }) === 1, 10_000, 'the new connection to be refused as revoked');
});

t.test('a CRL not yet valid (a wrong clock) locks no one out either; what it revokes is refused', async (t) => {
  const now = Date.now();
  const crl = makeCrl(certs, [certs.client2Cert], { lastUpdate: new Date(now + DAY), nextUpdate: new Date(now + 8 * DAY) });
  const b = await startBroker({ users, tls: tlsOf(crl) });
  t.teardown(() => b.broker.close());
  const url = `mqtts://127.0.0.1:${b.broker.status().tls!.port}`;
  const ok = await connect(url, { ca, ...good, username: 'dev', password: 'dev-pw' });
  t.teardown(() => ok.end(true));
  t.ok(ok.connected, 'a good certificate connects (OpenSSL alone: CRL is not yet valid)');
  await refusedConnect(url, { ca, ...revoked, username: 'dev', password: 'dev-pw' });
  await until(() => b.counters.get('broker_refused', { reason: 'certificate_revoked' }) === 1, 10_000, 'the revoked certificate to be refused');
});

t.test('a CA of mqtt.tls.ca without a CRL in the file: the clients it signed are refused (tls_handshake)', async (t) => {
  const bundle = join(certs.dir, 'two-cas.pem');
  writeFileSync(bundle, Buffer.concat([readFileSync(certs.ca), readFileSync(certs.rogueCa)]));
  const b = await startBroker({ users, tls: { ...tlsOf(makeCrl(certs, [])), ca: bundle } });
  t.teardown(() => b.broker.close());
  const url = `mqtts://127.0.0.1:${b.broker.status().tls!.port}`;
  const ok = await connect(url, { ca, ...good, username: 'dev', password: 'dev-pw' });
  t.teardown(() => ok.end(true));
  t.ok(ok.connected, 'a client of the CA with a CRL connects');
  await refusedConnect(url, { ca, cert: certs.read(certs.rogueClientCert), key: certs.read(certs.rogueClientKey), username: 'dev', password: 'dev-pw' });
  await until(() => b.counters.get('broker_refused', { reason: 'tls_handshake' }) === 1, 10_000, 'the client of the CA without a CRL to be refused');
});
