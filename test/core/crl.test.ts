/**
 * The CRL reader (agent/core/crl.ts) against CRLs made by `openssl ca`: every field it reads is
 * compared with what `openssl crl -text -noout` prints (an independent decoder), the signature is
 * checked with the right and a wrong CA key, and truncated or garbled input ends in a CrlError,
 * never in another exception.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CrlError, certificateNames, crlSignatureValid, normalizeSerial, parseCrl, pemCrls, type ParsedCrl } from '../../agent/core/crl.js';
import { makeCerts, makeCrl } from '../helpers/certs.js';

const certs = makeCerts('crl-reader');
t.teardown(() => certs.remove());

/** What `openssl crl -text -noout` prints about a CRL file. */
function opensslView(file: string): { version: number; algorithm: string; issuer: string; lastUpdate: number; nextUpdate: number | null; serials: string[] } {
  const text = execFileSync('openssl', ['crl', '-in', file, '-text', '-noout']).toString();
  const field = (re: RegExp): string => {
    const m = re.exec(text);
    if (!m) throw new Error(`openssl crl -text printed no ${re}: ${text}`);
    return m[1]!.trim();
  };
  const next = /Next Update: (.+)/.exec(text)?.[1]?.trim();
  return {
    version: Number(field(/Version (\d+)/)),
    algorithm: field(/Signature Algorithm: (\S+)/),
    issuer: field(/Issuer: (.+)/).replace(/ = /g, '='),
    lastUpdate: Date.parse(field(/Last Update: (.+)/)),
    nextUpdate: next && next !== 'NONE' ? Date.parse(next) : null,
    serials: [...text.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => normalizeSerial(m[1]!)),
  };
}

const serialOf = (file: string): string => normalizeSerial(execFileSync('openssl', ['x509', '-in', file, '-noout', '-serial']).toString().trim().replace(/^serial=/, ''));
const parseFile = (file: string): ParsedCrl => parseCrl(pemCrls(readFileSync(file))[0]!);

t.test('fields and revoked serials as openssl reads them', async (t) => {
  const file = makeCrl(certs, [certs.clientCert, certs.client2Cert]);
  const crl = parseFile(file);
  const o = opensslView(file);
  t.equal(crl.version, o.version);
  t.equal(crl.signatureAlgorithmName, o.algorithm);
  t.equal(crl.signatureAlgorithm, '1.2.840.10045.4.3.2');
  t.equal(crl.issuerText, o.issuer);
  t.equal(crl.thisUpdate.getTime(), o.lastUpdate);
  t.equal(crl.nextUpdate?.getTime(), o.nextUpdate ?? undefined);
  t.same(crl.revoked.map((r) => r.serial).sort(), [...o.serials].sort(), 'the revoked serials openssl lists');
  t.same(crl.revoked.map((r) => r.serial).sort(), [serialOf(certs.clientCert), serialOf(certs.client2Cert)].sort(), 'the two certificates revoked');
  t.equal(crl.revoked.length, 2);

  const none = makeCrl(certs, []);
  t.same(parseFile(none).revoked, [], 'a CRL revoking nothing (no revokedCertificates)');
  t.same(opensslView(none).serials, []);
});

t.test('dates: UTCTime before 2050, GeneralizedTime from 2050 on', async (t) => {
  const lastUpdate = new Date('2049-12-31T23:59:58Z');
  const nextUpdate = new Date('2051-03-04T05:06:07Z');
  const file = makeCrl(certs, [certs.clientCert], { lastUpdate, nextUpdate });
  const crl = parseFile(file);
  const o = opensslView(file);
  t.equal(crl.thisUpdate.toISOString(), lastUpdate.toISOString());
  t.equal(crl.nextUpdate?.toISOString(), nextUpdate.toISOString());
  t.equal(crl.thisUpdate.getTime(), o.lastUpdate, 'as openssl reads it');
  t.equal(crl.nextUpdate?.getTime(), o.nextUpdate ?? undefined, 'as openssl reads it');
});

t.test('the signature verifies with the issuing CA key only; the issuer is the CA subject', async (t) => {
  const crl = parseFile(makeCrl(certs, [certs.clientCert]));
  const ca = new X509Certificate(readFileSync(certs.ca));
  const rogue = new X509Certificate(readFileSync(certs.rogueCa));
  t.equal(crlSignatureValid(crl, ca.publicKey), true);
  t.equal(crlSignatureValid(crl, rogue.publicKey), false);
  t.ok(crl.issuer.equals(certificateNames(ca.raw).subject), 'issuer Name DER = the CA subject DER');
  t.notOk(crl.issuer.equals(certificateNames(rogue.raw).subject));
  const tampered = { ...crl, tbs: Buffer.from(crl.tbs) };
  tampered.tbs[tampered.tbs.length - 1]! ^= 1;
  t.equal(crlSignatureValid(tampered, ca.publicKey), false, 'a changed signed part does not verify');

  const byRogue = parseFile(makeCrl(certs, [], { signer: 'rogue-ca' }));
  t.equal(byRogue.issuerText, 'CN=rogue CA');
  t.equal(crlSignatureValid(byRogue, rogue.publicKey), true);
  t.equal(crlSignatureValid(byRogue, ca.publicKey), false);
});

t.test('an RSA CA (sha256WithRSAEncryption)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gridedge-rsa-crl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/O=Grid DSO/CN=RSA test CA'], { cwd: dir, stdio: 'pipe' });
  // Reuse the helper with this CA: it signs with <dir>/<signer>.crt/.key.
  const file = makeCrl({ ...certs, dir }, [], { signer: 'ca' });
  const crl = parseFile(file);
  const o = opensslView(file);
  t.equal(crl.signatureAlgorithmName, 'sha256WithRSAEncryption');
  t.equal(crl.signatureAlgorithmName, o.algorithm);
  t.equal(crl.issuerText, o.issuer, 'two attributes, in order');
  t.equal(crlSignatureValid(crl, new X509Certificate(readFileSync(join(dir, 'ca.crt'))).publicKey), true);
  t.equal(crlSignatureValid(crl, new X509Certificate(readFileSync(certs.ca)).publicKey), false, 'an EC key does not verify an RSA signature');
});

t.test('certificateNames: the serial node:crypto and openssl show', async (t) => {
  for (const file of [certs.clientCert, certs.client2Cert, certs.serverCert, certs.ca]) {
    const x = new X509Certificate(readFileSync(file));
    const names = certificateNames(x.raw);
    t.equal(names.serial, normalizeSerial(x.serialNumber), `${file}: as node:crypto`);
    t.equal(names.serial, serialOf(file), `${file}: as openssl`);
  }
  t.equal(normalizeSerial('00ab'), 'AB');
  t.equal(normalizeSerial('000'), '0');
});

t.test('PEM: several CRLs in one file; no CRL or bad base64 is a CrlError', async (t) => {
  const both = Buffer.concat([readFileSync(makeCrl(certs, [certs.clientCert])), readFileSync(makeCrl(certs, [], { signer: 'rogue-ca' }))]);
  const ders = pemCrls(both);
  t.equal(ders.length, 2);
  t.same(ders.map((d) => parseCrl(d).issuerText), ['CN=gridedge test CA', 'CN=rogue CA']);
  t.throws(() => pemCrls(readFileSync(certs.ca)), new CrlError('holds no PEM CRL (-----BEGIN X509 CRL-----)'));
  t.throws(() => pemCrls('-----BEGIN X509 CRL-----\n@@@@\n-----END X509 CRL-----\n'), /CRL 1 of the file is not base64/);
  t.throws(() => parseCrl(readFileSync(certs.ca)), CrlError, 'a PEM text is not DER');
  t.throws(() => parseCrl(new X509Certificate(readFileSync(certs.ca)).raw), CrlError, 'a certificate is not a CRL');
});

/** A small seeded PRNG (mulberry32): the same garbling on every run. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs f; fails the test on any exception but a CrlError. */
function onlyCrlErrors(t: { fail(message: string): unknown }, f: () => unknown, what: string): 'parsed' | 'refused' {
  try {
    f();
    return 'parsed';
  } catch (e) {
    if (!(e instanceof CrlError)) t.fail(`${what}: threw ${String(e)} (${(e as Error)?.constructor?.name}), not a CrlError`);
    else if (!/\S/.test(e.message)) t.fail(`${what}: an empty message`);
    return 'refused';
  }
}

t.test('fuzz: truncated and garbled CRLs and certificates end in a CrlError, never another exception', async (t) => {
  const der = pemCrls(readFileSync(makeCrl(certs, [certs.clientCert, certs.client2Cert])))[0]!;
  const cert = new X509Certificate(readFileSync(certs.clientCert)).raw;
  let refused = 0;
  for (let n = 0; n < der.length; n++) if (onlyCrlErrors(t, () => parseCrl(der.subarray(0, n)), `CRL cut at ${n}`) === 'refused') refused++;
  t.equal(refused, der.length, 'every truncation is refused');
  for (let n = 0; n < cert.length; n++) onlyCrlErrors(t, () => certificateNames(cert.subarray(0, n)), `certificate cut at ${n}`);
  const rand = prng(20261130);
  const outcomes = { parsed: 0, refused: 0 };
  for (let k = 0; k < 5000; k++) {
    const g = Buffer.from(der);
    const flips = 1 + Math.floor(rand() * 4);
    for (let f = 0; f < flips; f++) g[Math.floor(rand() * g.length)] = Math.floor(rand() * 256);
    outcomes[onlyCrlErrors(t, () => parseCrl(g), `garbled CRL #${k}`)]++;
    const c = Buffer.from(cert);
    c[Math.floor(rand() * c.length)] = Math.floor(rand() * 256);
    onlyCrlErrors(t, () => certificateNames(c), `garbled certificate #${k}`);
  }
  t.ok(outcomes.refused > 1000, `garbled CRLs are refused (${JSON.stringify(outcomes)})`);
  for (let k = 0; k < 2000; k++) {
    const len = Math.floor(rand() * 64);
    const junk = Buffer.from(Array.from({ length: len }, () => Math.floor(rand() * 256)));
    onlyCrlErrors(t, () => parseCrl(junk), `random bytes #${k}`);
    onlyCrlErrors(t, () => pemCrls(`-----BEGIN X509 CRL-----\n${junk.toString('latin1')}\n-----END X509 CRL-----`), `random PEM body #${k}`);
  }
  // Lengths that announce more than there is, or indefinite length.
  t.throws(() => parseCrl(Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff])), /announced/);
  t.throws(() => parseCrl(Buffer.from([0x30, 0x80, 0x00, 0x00])), /indefinite length/);
  t.throws(() => parseCrl(Buffer.concat([der, Buffer.from([0])])), /1 bytes after its end/);
});
