/**
 * `mqtt.tls.crl` in `gridedge config check` and at start: it needs `mqtt.tls.ca`; a file that is no
 * PEM CRL, a garbled one, one another CA issued, or one signed with another key than the CA's of
 * that name is an error naming the option; one past its nextUpdate (or within 14 days of it, or not
 * yet valid) is only a warning (exit 0), as for certificates; and the status problem from 14 days
 * before its nextUpdate.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../agent/config/load.js';
import { crlProblem, crlWarnings, loadTls } from '../../agent/core/tls-files.js';
import { runCli } from '../cli/run-cli.js';
import { makeCerts, makeCrl } from '../helpers/certs.js';

const certs = makeCerts('crl-config');
t.teardown(() => certs.remove());
const dir = mkdtempSync(join(tmpdir(), 'gridedge-crl-config-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const DAY = 86_400_000;

function errorsOf(document: unknown): string[] {
  const r = loadConfig({ document });
  return r.ok ? [] : r.errors;
}
const tls = (crl: string, ca = certs.ca) => ({ version: 1, mqtt: { tls: { cert: certs.serverCert, key: certs.serverKey, ca, crl } } });

t.test('a good CRL is accepted and reaches the config', async (t) => {
  const crl = makeCrl(certs, [certs.client2Cert]);
  const r = loadConfig({ document: tls(crl) });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  t.equal(r.config.mqtt.tls?.crl, crl);
  const plain = loadConfig({ document: { version: 1 } });
  if (!plain.ok) throw new Error(plain.errors.join('\n'));
  t.equal(plain.config.mqtt.tls?.crl, '', 'default: none');
});

t.test('a CRL without mqtt.tls.ca is an error naming both', async (t) => {
  const crl = makeCrl(certs, []);
  const errs = errorsOf(tls(crl, ''));
  t.same(errs.filter((e) => e.startsWith('mqtt.tls.crl')), [
    `mqtt.tls.crl: needs mqtt.tls.ca (a CRL revokes client certificates, which are asked for only with mqtt.tls.ca), got ${JSON.stringify(crl)}`,
  ]);
});

t.test('each bad CRL file is an error naming mqtt.tls.crl and the file', async (t) => {
  const missing = errorsOf(tls(join(dir, 'nope.pem')));
  t.ok(missing.some((e) => /^mqtt\.tls\.crl: must be a file path .*no such file/.test(e)), `a path that does not exist: ${missing.join(' | ')}`);
  const folder = errorsOf(tls(dir));
  t.ok(folder.some((e) => /^mqtt\.tls\.crl: must be a file path .*not a regular file/.test(e)), `a folder: ${folder.join(' | ')}`);

  const notCrl = errorsOf(tls(certs.ca));
  t.same(notCrl, [`mqtt.tls.crl: holds no PEM CRL (-----BEGIN X509 CRL-----) (${certs.ca})`], 'a certificate given as the CRL');

  const good = readFileSync(makeCrl(certs, [certs.clientCert])).toString();
  const body = good.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
  const der = Buffer.from(body, 'base64');
  const garbledFile = join(dir, 'garbled.pem');
  writeFileSync(garbledFile, `-----BEGIN X509 CRL-----\n${der.subarray(0, der.length - 10).toString('base64')}\n-----END X509 CRL-----\n`);
  const garbled = errorsOf(tls(garbledFile));
  t.equal(garbled.length, 1, garbled.join(' | '));
  t.match(garbled[0], /^mqtt\.tls\.crl: CRL 1 of the file is not a valid X\.509 CRL \(CRL: \d+ bytes announced at byte 0, only \d+ left\) \(.*garbled\.pem\)$/);

  const rogue = makeCrl(certs, [], { signer: 'rogue-ca' });
  t.same(errorsOf(tls(rogue)), [`mqtt.tls.crl: CRL 1 of the file was issued by "CN=rogue CA", which is no CA of mqtt.tls.ca (${rogue})`], 'a CRL of another CA');
  // The same name as the CA, another key: the signature tells.
  const twin = mkdtempSync(join(tmpdir(), 'gridedge-twin-ca-'));
  t.teardown(() => rmSync(twin, { recursive: true, force: true }));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '5', '-subj', '/CN=gridedge test CA'], { cwd: twin, stdio: 'pipe' });
  const forged = makeCrl({ ...certs, dir: twin }, []);
  t.same(errorsOf(tls(forged)), [
    `mqtt.tls.crl: the signature of CRL 1 of the file does not verify with the key of the CA "CN=gridedge test CA" of mqtt.tls.ca (a CRL of another CA of that name?) (${forged})`,
  ]);
  // Two CRLs, the second bad: named by its place.
  const two = join(dir, 'two.pem');
  writeFileSync(two, good + readFileSync(rogue).toString());
  t.same(errorsOf(tls(two)), [`mqtt.tls.crl: CRL 2 of the file was issued by "CN=rogue CA", which is no CA of mqtt.tls.ca (${two})`]);
  // The listener refuses to start with it too.
  t.throws(() => loadTls('mqtt.tls', { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, crl: rogue }), /^mqtt\.tls\.crl: CRL 1 of the file was issued by "CN=rogue CA"/);
});

t.test('nextUpdate: past it or within 14 days a warning (exit 0), never an error; a status problem', async (t) => {
  const now = Date.now();
  const expired = makeCrl(certs, [], { lastUpdate: new Date(now - 10 * DAY), nextUpdate: new Date(now - DAY) });
  const soon = makeCrl(certs, [], { lastUpdate: new Date(now - 20 * DAY), nextUpdate: new Date(now + 3.5 * DAY) });
  // A PKI publishing CRLs valid for a week: a problem only from half-way.
  const weeklyFresh = makeCrl(certs, [], { lastUpdate: new Date(now - DAY), nextUpdate: new Date(now + 6 * DAY) });
  const weeklyLate = makeCrl(certs, [], { lastUpdate: new Date(now - 5 * DAY), nextUpdate: new Date(now + 2.5 * DAY) });
  const later = makeCrl(certs, [], { lastUpdate: new Date(now), nextUpdate: new Date(now + 30 * DAY) });
  const future = makeCrl(certs, [], { lastUpdate: new Date(now + 2 * DAY), nextUpdate: new Date(now + 30 * DAY) });
  const iso = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString();
  t.same(errorsOf(tls(expired)), [], 'an expired CRL is no config error');
  t.same(crlWarnings('mqtt.tls', expired, now), [
    `mqtt.tls.crl is out of date since ${iso(now - DAY)} (its nextUpdate): certificates revoked since are not known; install the CA's current CRL and reload (systemctl reload gridedge) (CRL of "CN=gridedge test CA", ${expired})`,
  ]);
  t.same(crlWarnings('mqtt.tls', soon, now), [`mqtt.tls.crl must be replaced within 3 day(s): its nextUpdate is ${iso(now + 3.5 * DAY)} (CRL of "CN=gridedge test CA", ${soon})`]);
  t.same(crlWarnings('mqtt.tls', later, now), [], '30 days ahead: nothing to say');
  t.same(crlWarnings('mqtt.tls', weeklyFresh, now), [], 'a weekly CRL 6 days before its nextUpdate: nothing to say');
  t.same(crlWarnings('mqtt.tls', weeklyLate, now), [`mqtt.tls.crl must be replaced within 2 day(s): its nextUpdate is ${iso(now + 2.5 * DAY)} (CRL of "CN=gridedge test CA", ${weeklyLate})`]);
  t.match(crlWarnings('mqtt.tls', future, now), [/^mqtt\.tls\.crl: the CRL is valid only from .* is the clock right\?$/]);
  t.same(crlWarnings('mqtt.tls', certs.ca, now), [], 'a file that is no CRL: tlsProblems says so, not this');
  // A CA bundle with a second CA and no CRL of it: OpenSSL would refuse the clients it signed.
  const bundle = join(dir, 'two-cas.pem');
  writeFileSync(bundle, readFileSync(certs.ca).toString() + readFileSync(certs.rogueCa).toString());
  t.same(crlWarnings('mqtt.tls', later, now, certs.ca), [], 'one CA, its CRL: nothing to say');
  t.same(crlWarnings('mqtt.tls', later, now, bundle), [`mqtt.tls.crl holds no CRL of the CA "CN=rogue CA" of mqtt.tls.ca: the clients it signed are refused (${later})`]);

  const issued = new Date(now - 30 * DAY);
  t.equal(crlProblem('mqtt.tls', new Date(now + 15 * DAY), issued, now), null);
  t.match(crlProblem('mqtt.tls', new Date(now + 13.5 * DAY), issued, now), /^mqtt\.tls\.crl must be replaced within 13 day\(s\)/);
  t.match(crlProblem('mqtt.tls', new Date(now - 1), issued, now), /^mqtt\.tls\.crl is out of date since /);
  t.equal(crlProblem('mqtt.tls', new Date(now + 4 * DAY), new Date(now - 3 * DAY), now), null, 'a weekly CRL with 4 days left');
  t.match(crlProblem('mqtt.tls', new Date(now + 3 * DAY), new Date(now - 4 * DAY), now), /within 3 day\(s\)/, 'with 3 days left (past half-way)');

  const file = join(dir, 'gridedge.yaml');
  writeFileSync(file, `version: 1\nmqtt:\n  tls: { cert: ${certs.serverCert}, key: ${certs.serverKey}, ca: ${certs.ca}, crl: ${expired} }\n`);
  const r = await runCli(['config', 'check', file]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, `${file}: ok (1 warning above)\n`);
  t.match(r.stderr, /^warning: mqtt\.tls\.crl is out of date since .*\n$/);
});
