/**
 * `mqtt.tls` and `http.tls` in `gridedge config check`: the pairs, the client CA, what is inside the
 * files (checked against certificates and keys made by `openssl`), the exposure and port rules; and
 * the certificate-expiry problem, with the clock injected.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { loadConfig } from '../../agent/config/load.js';
import { certificateProblem, certificateWarning, tlsProblems } from '../../agent/core/tls-files.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../cli/run-cli.js';
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
  t.same(r.config.mqtt.tls, { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, crl: '', identityAsUsername: false, host: '', port: 8883 });
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

t.test('expiry: checked against the end date openssl reads; a warning (not an error) and a status problem from 14 days before', async (t) => {
  const end = Date.parse(execFileSync('openssl', ['x509', '-enddate', '-noout', '-in', certs.serverCert]).toString().trim().replace(/^notAfter=/, ''));
  const start = Date.parse(execFileSync('openssl', ['x509', '-startdate', '-noout', '-in', certs.serverCert]).toString().trim().replace(/^notBefore=/, ''));
  const day = 86_400_000;
  t.equal(certificateWarning('mqtt.tls', certs.serverCert, end - 15 * day), null, '15 days before its end: nothing to say');
  t.equal(
    certificateWarning('mqtt.tls', certs.serverCert, end - 13.5 * day),
    `mqtt.tls.cert expires in 13 day(s), on ${new Date(end).toISOString()} (${certs.serverCert})`,
  );
  t.match(certificateWarning('mqtt.tls', certs.serverCert, end + 1000) ?? '', `mqtt.tls.cert expired on ${new Date(end).toISOString()}`);
  t.match(certificateWarning('mqtt.tls', certs.serverCert, start - 60_000) ?? '', /^mqtt\.tls\.cert: the certificate is valid only from .* is the clock right\?/);
  t.equal(certificateWarning('mqtt.tls', certs.serverKey, end + 1000), null, 'a file that is no certificate: tlsProblems says so, not this');
  t.same(tlsProblems('mqtt.tls', { cert: certs.serverCert, key: certs.serverKey }), [], 'the files themselves are fine');

  t.equal(certificateProblem('mqtt.tls', new Date(end), end - 15 * day), null, '15 days before: no status problem');
  t.equal(certificateProblem('mqtt.tls', new Date(end), end - 13.5 * day), `mqtt.tls.cert expires in 13 day(s), on ${new Date(end).toISOString()}`);
  t.match(certificateProblem('http.tls', new Date(end), end + 1) ?? '', /^http\.tls\.cert expired on /);
});

t.test('config check: a certificate ending soon is a warning; the config is valid (exit 0)', async (t) => {
  const short = makeCerts(undefined, { serverDays: 2 });
  t.teardown(() => short.remove());
  const dir = mkdtempSync(join(tmpdir(), 'gridedge-tls-check-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'gridedge.yaml');
  writeFileSync(file, `version: 1\nmqtt:\n  tls: { cert: ${short.serverCert}, key: ${short.serverKey} }\n`);
  const r = await runCli(['config', 'check', file]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, `${file}: ok (1 warning above)\n`);
  t.match(r.stderr, /^warning: mqtt\.tls\.cert expires in 1 day\(s\), on .* \(.*server\.crt\)\n$/);
  t.equal(errorsOf({ version: 1, mqtt: { tls: { cert: short.serverCert, key: short.serverKey } } }).length, 0, 'the agent would start with it');
  // Three days on, the certificate has expired: still no config error (the agent starts and reloads
  // with it; a gateway must not stop collecting data for a certificate), but a warning.
  const realNow = Date.now;
  Date.now = () => realNow() + 3 * 86_400_000;
  try {
    t.same(errorsOf({ version: 1, http: { tls: { cert: short.serverCert, key: short.serverKey } } }), [], 'an expired certificate is no config error');
    t.match(certificateWarning('http.tls', short.serverCert, Date.now()) ?? '', /^http\.tls\.cert expired on /);
  } finally {
    Date.now = realNow;
  }
});

t.test('identityAsUsername needs client certificates', async (t) => {
  const errs = errorsOf({ version: 1, mqtt: { tls: { cert: certs.serverCert, key: certs.serverKey, identityAsUsername: true } } });
  t.ok(errs.some((e) => /^mqtt\.tls\.identityAsUsername: needs mqtt\.tls\.ca/.test(e)), errs.join(' | '));
  t.same(errorsOf({ version: 1, mqtt: { tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, identityAsUsername: true } } }), []);
});
