/**
 * `mqtt.tls` and `http.tls` in `gridedge config check`: the pairs, the client CA, what is inside the
 * files (checked against certificates and keys made by `openssl`), the exposure and port rules; and
 * the certificate-expiry problem, with the clock injected.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { loadConfig } from '../../agent/config/load.js';
import { certificateProblem, tlsProblems } from '../../agent/core/tls-files.js';
import { makeCerts } from '../helpers/certs.js';

const certs = makeCerts();
t.teardown(() => certs.remove());

function errorsOf(document: unknown): string[] {
  const r = loadConfig({ document });
  return r.ok ? [] : r.errors;
}

const USERS = [{ username: 'dev', password: 'pw', publish: ['bal/raw/#'], subscribe: [] }];

t.test('a good pair (and CA) is accepted and reaches the config', async (t) => {
  const r = loadConfig({ document: { version: 1, mqtt: { tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca } } } });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  t.same(r.config.mqtt.tls, { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, identityAsUsername: false, host: '', port: 8883 });
});

t.test('every problem at once, each naming its option', async (t) => {
  const errs = errorsOf({
    version: 1,
    mqtt: { tls: { cert: certs.serverCert, key: certs.clientKey } },
    http: { tls: { key: certs.serverKey } },
  });
  t.ok(errs.some((e) => /^mqtt\.tls\.key: does not belong to the certificate mqtt\.tls\.cert/.test(e)), `a key of another certificate: ${errs.join(' | ')}`);
  t.ok(errs.some((e) => /^http\.tls\.cert: must be given with the other http\.tls file/.test(e)), 'a key without a certificate');

  const ca = errorsOf({ version: 1, mqtt: { tls: { ca: certs.ca } } });
  t.ok(ca.some((e) => /^mqtt\.tls\.ca: needs mqtt\.tls\.cert and mqtt\.tls\.key/.test(e)), `a client CA without a listener: ${ca.join(' | ')}`);

  const notPem = errorsOf({ version: 1, mqtt: { tls: { cert: certs.serverKey, key: certs.serverKey, ca: certs.clientKey } } });
  t.ok(notPem.some((e) => /^mqtt\.tls\.cert: holds no PEM certificate/.test(e)), `a key given as the certificate: ${notPem.join(' | ')}`);
  t.ok(notPem.some((e) => /^mqtt\.tls\.ca: holds no PEM certificate/.test(e)), 'a key given as the CA');

  const keyNotKey = errorsOf({ version: 1, mqtt: { tls: { cert: certs.serverCert, key: certs.serverCert } } });
  t.ok(keyNotKey.some((e) => /^mqtt\.tls\.key: is not a PEM private key/.test(e)), `a certificate given as the key: ${keyNotKey.join(' | ')}`);
});

t.test('a TLS listener off loopback needs users; its port must not clash', async (t) => {
  const exposed = errorsOf({ version: 1, mqtt: { tls: { cert: certs.serverCert, key: certs.serverKey, host: '0.0.0.0' } } });
  t.ok(exposed.some((e) => /^mqtt\.allowAnonymous: .*mqtt\.tls\.host "0\.0\.0\.0"/.test(e)), `anonymous TLS on the network: ${exposed.join(' | ')}`);
  t.same(errorsOf({ version: 1, mqtt: { users: USERS, tls: { cert: certs.serverCert, key: certs.serverKey, host: '0.0.0.0' } } }), [], 'with users it is fine');
  t.same(errorsOf({ version: 1, mqtt: { tls: { host: '0.0.0.0' } } }), [], 'no certificate: no TLS listener, its host does not matter');

  const clash = errorsOf({ version: 1, mqtt: { tls: { cert: certs.serverCert, key: certs.serverKey, port: 1883 } } });
  t.ok(clash.some((e) => /^mqtt\.tls\.port: must differ from mqtt\.port on the same address, got 1883/.test(e)), `same port as plain MQTT: ${clash.join(' | ')}`);
  const http = errorsOf({ version: 1, http: { port: 8883 }, mqtt: { tls: { cert: certs.serverCert, key: certs.serverKey, host: '0.0.0.0' }, users: USERS } });
  t.ok(http.some((e) => /^http\.port: must differ from mqtt\.tls\.port on the same address, got 8883/.test(e)), `same port as HTTP: ${http.join(' | ')}`);
  t.same(errorsOf({ version: 1, mqtt: { tls: { cert: certs.serverCert, key: certs.serverKey, host: '127.0.0.2', port: 1883 } } }), [], 'the same port on another address is fine');
});

t.test('expiry: checked against the end date openssl reads; the status problem from 14 days before', async (t) => {
  const end = Date.parse(execFileSync('openssl', ['x509', '-enddate', '-noout', '-in', certs.serverCert]).toString().trim().replace(/^notAfter=/, ''));
  const start = Date.parse(execFileSync('openssl', ['x509', '-startdate', '-noout', '-in', certs.serverCert]).toString().trim().replace(/^notBefore=/, ''));
  const files = { cert: certs.serverCert, key: certs.serverKey };
  t.same(tlsProblems('mqtt.tls', files, end - 1000), [], 'valid a second before its end');
  const after = tlsProblems('mqtt.tls', files, end + 1000);
  t.equal(after.length, 1);
  t.equal(after[0]!.path, 'mqtt.tls.cert');
  t.match(after[0]!.message, `the certificate expired on ${new Date(end).toISOString()}`);
  const before = tlsProblems('mqtt.tls', files, start - 60_000);
  t.match(before[0]!.message, /is valid only from .* is the clock right\?/);

  const day = 86_400_000;
  t.equal(certificateProblem('mqtt.tls', new Date(end), end - 15 * day), null, '15 days before: no problem');
  t.equal(certificateProblem('mqtt.tls', new Date(end), end - 13.5 * day), `mqtt.tls.cert expires in 13 day(s), on ${new Date(end).toISOString()}`);
  t.match(certificateProblem('http.tls', new Date(end), end + 1) ?? '', /^http\.tls\.cert expired on /);
});

t.test('identityAsUsername needs client certificates', async (t) => {
  const errs = errorsOf({ version: 1, mqtt: { tls: { cert: certs.serverCert, key: certs.serverKey, identityAsUsername: true } } });
  t.ok(errs.some((e) => /^mqtt\.tls\.identityAsUsername: needs mqtt\.tls\.ca/.test(e)), errs.join(' | '));
  t.same(errorsOf({ version: 1, mqtt: { tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, identityAsUsername: true } } }), []);
});
