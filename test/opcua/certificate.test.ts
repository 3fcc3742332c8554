/**
 * Certificates that expire. The client's own certificate: checked before each connection attempt;
 * near its end it is reported (health `certificateDaysLeft`), expired it is moved aside and the
 * client makes a new one from the same private key on that attempt, counted and logged with what
 * the server's operator must do (checked with certificates made by openssl, one with validity dates
 * in the past through `openssl ca -startdate/-enddate`, and through the real driver against a real
 * node-opcua server). A server certificate outside its validity period gets its own message.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import t from 'tap';
import { Counters } from '../../agent/core/counters.js';
import type { Measurement } from '../../algorithms/common/measurement.js';
import { checkOwnCertificate, diagnose, ensurePki, pkiPaths } from '../../drivers/opcua/client.js';
import { opcuaDriver, type OpcuaConfig, type OpcuaDriver } from '../../drivers/opcua/index.js';
import { abortedDeadline, ctxFor } from '../conformance/suites.js';
import { withDefaults } from '../helpers/plugin-config.js';
import { waitFor } from '../helpers/wait.js';
import { startOpcuaServer } from './server.js';

/** Debian's openssl, with the environment of the test minus OPENSSL_CONF (node-opcua sets it to a value of its own). */
function openssl(args: string[], cwd?: string): void {
  const env = { ...process.env };
  delete env['OPENSSL_CONF'];
  execFileSync('openssl', args, { stdio: 'pipe', cwd, env });
}

/** A self-signed certificate for `key` (made when missing) valid from now for `days` days. */
function freshCert(out: string, key: string, days: number): void {
  if (!existsSync(key)) openssl(['genrsa', '-out', key, '2048']);
  openssl(['req', '-x509', '-new', '-key', key, '-out', out, '-days', String(days), '-subj', '/CN=gridedge-test']);
}

/** A self-signed certificate for `key` valid only in 2020 (openssl ca accepts explicit dates). */
function expiredCert(out: string, key: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'gridedge-ca-'));
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '01\n');
  writeFileSync(join(dir, 'ca.cnf'), '[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nserial = serial\nnew_certs_dir = .\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n');
  openssl(['req', '-new', '-key', key, '-out', 'req.csr', '-subj', '/CN=gridedge-test'], dir);
  openssl(['ca', '-batch', '-config', 'ca.cnf', '-selfsign', '-keyfile', key, '-in', 'req.csr', '-out', out, '-startdate', '20200101000000Z', '-enddate', '20201231000000Z'], dir);
}

t.test('checkOwnCertificate: none, valid, expiring, expired, unreadable', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'gridedge-pki-'));
  ensurePki(root);
  const { ownCert, ownKey } = pkiPaths(root);
  t.same(checkOwnCertificate(root, Date.now()), { state: 'none' }, 'no certificate yet');

  freshCert(ownCert, ownKey, 400);
  const ok = checkOwnCertificate(root, Date.now());
  t.match(ok, { state: 'ok' });
  if (ok.state === 'ok') t.ok(ok.daysLeft >= 398 && ok.daysLeft <= 400, `about 400 days left: ${ok.daysLeft}`);

  freshCert(ownCert, ownKey, 10);
  const soon = checkOwnCertificate(root, Date.now());
  t.match(soon, { state: 'expiring' }, 'within 30 days of its end');
  const validTo = new Date(new X509Certificate(readFileSync(ownCert)).validTo).getTime();
  const after = checkOwnCertificate(root, validTo + 1000);
  t.match(after, { state: 'expired' }, 'the same certificate a second after its end');
  t.notOk(existsSync(ownCert), 'moved away, so the client makes a new one');
  if (after.state === 'expired') t.ok(existsSync(after.movedTo) && after.movedTo.startsWith(`${ownCert}.expired-`), `kept as ${after.movedTo}`);

  expiredCert(ownCert, ownKey);
  t.match(checkOwnCertificate(root, Date.now()), { state: 'expired' }, 'a certificate that ended in 2020');
  writeFileSync(ownCert, 'not a certificate');
  t.match(checkOwnCertificate(root, Date.now()), { state: 'expired' }, 'an unreadable file is replaced too');
  t.equal(readdirSync(dirname(ownCert)).filter((f) => f.includes('.expired-')).length, 3, 'each old file kept beside');
});

t.test('a server certificate outside its validity period has its own message', async (t) => {
  for (const status of ['BadCertificateTimeInvalid', 'BadCertificateIssuerTimeInvalid']) {
    const d = diagnose(new Error(`The connection may have been rejected by server, Err = (${status} (0x80140000))`), 'opc.tcp://10.0.0.9:4840', { mode: 'SignAndEncrypt' });
    t.equal(d.reason, 'server_certificate_expired', status);
    t.match(d.message, /outside its validity period.*renew the certificate on the server, or check this gateway's clock/);
  }
});

t.test('the driver replaces its expired certificate and connects with the new one', async (t) => {
  const srv = await startOpcuaServer({ vars: { Va: { type: 'Double', value: 231 } } });
  t.teardown(() => srv.stop());
  const cfg = withDefaults(opcuaDriver, {
    type: 'opcua',
    id: 'rtu-cert',
    endpoint: srv.url,
    reconnectMinMs: 100,
    reconnectMaxMs: 400,
    nodes: [{ nodeId: 'ns=1;s=Va', field: 'v.a.mag', samplingInterval: 50 }],
  }) as unknown as OpcuaConfig;
  const storageDir = mkdtempSync(join(tmpdir(), 'gridedge-opcua-cert-'));

  async function runOnce(counters: Counters): Promise<{ first: Measurement; health: ReturnType<OpcuaDriver['health']> }> {
    const driver = opcuaDriver.create(cfg) as OpcuaDriver;
    const { ctx, abort } = ctxFor('rtu-cert', counters);
    ctx.storageDir = storageDir;
    const got: Measurement[] = [];
    await driver.start(ctx, (m) => got.push(m));
    try {
      const first = await waitFor('a value from the server', () => got.find((m) => m.v !== undefined), { timeoutMs: 30_000, detail: () => `lastError: ${driver.health().lastError}` });
      return { first, health: driver.health() };
    } finally {
      abort.abort();
      await driver.stop(abortedDeadline());
    }
  }

  const c1 = new Counters();
  c1.define(opcuaDriver.metrics!);
  const one = await runOnce(c1);
  t.same(one.first.v, { a: { mag: 231 } }, 'first run: connected');
  const pki = pkiPaths(join(storageDir, 'pki'));
  t.ok(existsSync(pki.ownCert) && existsSync(pki.ownKey), 'the client made its certificate and key');
  t.ok(Number(one.health.info?.['certificateDaysLeft'] ?? 0) > 30, `health shows the days left: ${one.health.info?.['certificateDaysLeft']}`);

  // The certificate ran out while the gateway was off.
  expiredCert(pki.ownCert, pki.ownKey);
  const c2 = new Counters();
  c2.define(opcuaDriver.metrics!);
  const two = await runOnce(c2);
  t.same(two.first.v, { a: { mag: 231 } }, 'second run: connected again');
  t.equal(c2.total('opcua_certificates_renewed'), 1, 'the renewal is counted');
  const fresh = new X509Certificate(readFileSync(pki.ownCert));
  t.ok(new Date(fresh.validTo).getTime() > Date.now(), `a new certificate, valid until ${fresh.validTo}`);
  t.ok(fresh.checkPrivateKey(await import('node:crypto').then((c) => c.createPrivateKey(readFileSync(pki.ownKey)))), 'made from the same private key');
  t.ok(readdirSync(dirname(pki.ownCert)).some((f) => f.startsWith('client_certificate.pem.expired-')), 'the expired one kept beside it');
});
