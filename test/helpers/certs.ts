/**
 * Test PKI made with Debian's `openssl` in a temp dir: a CA, a server certificate for 127.0.0.1,
 * localhost and a fake IoT hub name, two client certificates signed by the CA, and a "rogue" client
 * certificate signed by a second CA nobody trusts; and CRLs (`makeCrl`) made by `openssl ca`.
 * EC P-256 keys (quick to make).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const FAKE_HUB = 'myhub.azure-devices.net';

export interface TestCerts {
  dir: string;
  /** File paths (PEM). */
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A second client certificate of the CA (common name `<clientCn>-2`). */
  client2Cert: string;
  client2Key: string;
  rogueCa: string;
  rogueClientCert: string;
  rogueClientKey: string;
  /** Common name of the client certificate. */
  clientCn: string;
  read(path: string): Buffer;
  remove(): void;
}

function openssl(cwd: string, args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`openssl ${args.join(' ')} failed: ${err.stderr?.toString() ?? err.message}`);
  }
}

function makeCa(dir: string, name: string, cn: string): void {
  openssl(dir, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '61', '-subj', `/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

function makeLeaf(dir: string, ca: string, name: string, cn: string, ext: string, days = 60): void {
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, [
    'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial',
    '-out', `${name}.crt`, '-days', String(days), '-extfile', `${name}.ext`,
  ]);
}

/**
 * Certificates last 60 days (past the agent's 14-day expiry warning), the server's `serverDays` when
 * given (a test of that warning).
 */
export function makeCerts(clientCn = 'gridedge-test-client', opts: { serverDays?: number } = {}): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'gridedge-certs-'));
  makeCa(dir, 'ca', 'gridedge test CA');
  makeLeaf(
    dir,
    'ca',
    'server',
    'localhost',
    `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,DNS:${FAKE_HUB},IP:127.0.0.1\n`,
    opts.serverDays,
  );
  makeLeaf(dir, 'ca', 'client', clientCn, 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n');
  makeLeaf(dir, 'ca', 'client2', `${clientCn}-2`, 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n');
  makeCa(dir, 'rogue-ca', 'rogue CA');
  makeLeaf(dir, 'rogue-ca', 'rogue-client', clientCn, 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n');
  const p = (f: string): string => join(dir, f);
  return {
    dir,
    ca: p('ca.crt'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    clientCert: p('client.crt'),
    clientKey: p('client.key'),
    client2Cert: p('client2.crt'),
    client2Key: p('client2.key'),
    rogueCa: p('rogue-ca.crt'),
    rogueClientCert: p('rogue-client.crt'),
    rogueClientKey: p('rogue-client.key'),
    clientCn,
    read: (path) => readFileSync(path),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * A self-signed server certificate (no CA) for 127.0.0.1 and localhost, as a technician makes one for
 * http.tls: `cert` is both the server's certificate and what a client must trust.
 */
export function makeSelfSigned(): { dir: string; cert: string; key: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'gridedge-self-signed-'));
  openssl(dir, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', 'self.key', '-out', 'self.crt', '-days', '60', '-subj', '/CN=gridedge-self-signed',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-addext', 'basicConstraints=critical,CA:FALSE',
    '-addext', 'keyUsage=critical,digitalSignature', '-addext', 'extendedKeyUsage=serverAuth',
  ]);
  return { dir, cert: join(dir, 'self.crt'), key: join(dir, 'self.key'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

let crlCount = 0;

/** openssl's time format for -crl_lastupdate / -crl_nextupdate. */
const opensslTime = (d: Date): string => d.toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');

/**
 * A CRL (PEM file in `certs.dir`) made by `openssl ca -gencrl` with its own index, revoking the given
 * certificate files; signed by the test CA, or by the rogue CA with `signer: 'rogue-ca'`. Dates:
 * lastUpdate now and nextUpdate in 7 days unless given. Returns the file's path.
 */
export function makeCrl(certs: TestCerts, revoke: string[], opts: { signer?: 'ca' | 'rogue-ca'; lastUpdate?: Date; nextUpdate?: Date } = {}): string {
  const signer = opts.signer ?? 'ca';
  const dir = join(certs.dir, `crl-${++crlCount}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'crlnumber'), '1000\n');
  writeFileSync(
    join(dir, 'ca.cnf'),
    '[ ca ]\ndefault_ca = CA_default\n[ CA_default ]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 7\n',
  );
  const key = ['-config', 'ca.cnf', '-cert', join(certs.dir, `${signer}.crt`), '-keyfile', join(certs.dir, `${signer}.key`)];
  for (const cert of revoke) openssl(dir, ['ca', ...key, '-revoke', cert]);
  const dates = [
    ...(opts.lastUpdate ? ['-crl_lastupdate', opensslTime(opts.lastUpdate)] : []),
    ...(opts.nextUpdate ? ['-crl_nextupdate', opensslTime(opts.nextUpdate)] : []),
  ];
  const out = join(dir, 'crl.pem');
  openssl(dir, ['ca', ...key, '-gencrl', ...dates, '-out', out]);
  return out;
}
