/**
 * The PEM files of a TLS server (`mqtt.tls`, `http.tls`): read and checked in one place, for
 * `gridedge config check` (every problem, each naming its option) and for the listeners at start
 * (the first problem thrown, naming its option). Also how close the certificate is to expiring,
 * for the status problems a technician sees before clients start failing.
 */
import { readFileSync } from 'node:fs';
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { certificateNames, crlSignatureValid, parseCrl, pemCrls, type ParsedCrl } from './crl.js';

export interface TlsFiles {
  cert: string;
  key: string;
  /** CA bundle for client certificates; '' or absent: none. */
  ca?: string;
  /** PEM file of CRLs of the CAs in `ca` (only with `ca`); '' or absent: none. */
  crl?: string;
}

/** One CRL of the `crl` file, as the listener uses it (revoked serials by issuer) and the status shows it. */
export interface LoadedCrl {
  /** The issuer Name's DER (a certificate it covers has this as its issuer), and as text. */
  issuer: Buffer;
  issuerText: string;
  thisUpdate: Date;
  /** When the CA promises the next CRL; past it OpenSSL calls the CRL expired. Null: the CRL names none. */
  nextUpdate: Date | null;
  /** Revoked serial numbers (normalizeSerial form). */
  revoked: ReadonlySet<string>;
}

export interface LoadedTls {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  /** The CRL file's bytes and what it says, with `crl`. */
  crl?: Buffer;
  crls?: LoadedCrl[];
  /** The certificates of the `ca` bundle, with `ca`. */
  cas?: X509Certificate[];
  /** When the (first) certificate stops being valid. */
  notAfter: Date;
}

export interface TlsProblem {
  /** `mqtt.tls.cert` and the like. */
  path: string;
  message: string;
}

/** Certificates closer than this to their end are a status problem. */
export const CERT_WARN_DAYS = 14;

const DAY_MS = 86_400_000;

type Read = { ok: true; data: Buffer } | { ok: false; unreadable: boolean; message: string };

function read(file: string): Read {
  try {
    return { ok: true, data: readFileSync(file) };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    // Not readable by whoever runs the check (config check as another user than the service): not decided here.
    return { ok: false, unreadable: err.code === 'EACCES' || err.code === 'EPERM', message: `cannot read ${file}: ${err.message}` };
  }
}

/** Every X.509 certificate of a PEM bundle, in order; throws when there is none or one is not one. */
function certificatesOf(pem: Buffer): X509Certificate[] {
  const blocks = pem.toString('latin1').match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
  if (!blocks) throw new Error('holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (e) {
      throw new Error(`certificate ${i + 1} of the file is not a valid X.509 certificate (${(e as Error).message})`);
    }
  });
}

/**
 * What is wrong with files already read (`reads`): the certificate and key parse and belong
 * together, the CA bundle holds certificates; a file not read is reported with its reason unless the
 * checking user may not read it. Also the first certificate, when it parses.
 */
function inspect(
  prefix: string,
  files: TlsFiles,
  reads: { cert: Read; key: Read; ca: Read | null; crl: Read | null },
): { problems: TlsProblem[]; cert: X509Certificate | null; cas: X509Certificate[] | null; crls: LoadedCrl[] | null } {
  const problems: TlsProblem[] = [];
  const add = (what: string, message: string): void => void problems.push({ path: `${prefix}.${what}`, message });
  let cert: X509Certificate | null = null;
  let key: KeyObject | null = null;
  const { cert: c, key: k, ca: a } = reads;
  if (c.ok) {
    try {
      cert = certificatesOf(c.data)[0]!;
    } catch (e) {
      add('cert', `${(e as Error).message} (${files.cert})`);
    }
  } else if (!c.unreadable) add('cert', c.message);
  if (k.ok) {
    try {
      key = createPrivateKey(k.data);
    } catch (e) {
      add('key', `is not a PEM private key (${(e as Error).message}) (${files.key})`);
    }
  } else if (!k.unreadable) add('key', k.message);
  if (cert && key && !cert.checkPrivateKey(key)) add('key', `does not belong to the certificate ${prefix}.cert (${files.key} against ${files.cert})`);
  let cas: X509Certificate[] | null = null;
  if (a) {
    if (a.ok) {
      try {
        cas = certificatesOf(a.data);
      } catch (e) {
        add('ca', `${(e as Error).message} (${files.ca})`);
      }
    } else if (!a.unreadable) add('ca', a.message);
  }
  let crls: LoadedCrl[] | null = null;
  const r = reads.crl;
  if (r) {
    if (r.ok) {
      try {
        crls = crlsOf(r.data, cas, prefix);
      } catch (e) {
        add('crl', `${(e as Error).message} (${files.crl})`);
      }
    } else if (!r.unreadable) add('crl', r.message);
  }
  return { problems, cert, cas, crls };
}

/**
 * Every CRL of a PEM file, each checked against the CA bundle (`cas`; null: not readable here, so
 * not checked): its issuer must be the subject of one of the CAs, whose public key must verify its
 * signature (a signature algorithm this reader does not know, like RSA-PSS, is left to OpenSSL).
 * OpenSSL must take the file too. Throws an Error saying which CRL is wrong and why.
 */
function crlsOf(pem: Buffer, cas: X509Certificate[] | null, prefix: string): LoadedCrl[] {
  const parsed: ParsedCrl[] = pemCrls(pem).map((der, i) => {
    try {
      return parseCrl(der);
    } catch (e) {
      throw new Error(`CRL ${i + 1} of the file is not a valid X.509 CRL (${(e as Error).message})`);
    }
  });
  if (cas) {
    const subjects = cas.map((c) => ({ cert: c, subject: certificateNames(c.raw).subject }));
    parsed.forEach((crl, i) => {
      const issuer = subjects.find((s) => s.subject.equals(crl.issuer));
      if (!issuer) throw new Error(`CRL ${i + 1} of the file was issued by "${crl.issuerText}", which is no CA of ${prefix}.ca`);
      if (crlSignatureValid(crl, issuer.cert.publicKey) === false)
        throw new Error(`the signature of CRL ${i + 1} of the file does not verify with the key of the CA "${crl.issuerText}" of ${prefix}.ca (a CRL of another CA of that name?)`);
    });
  }
  try {
    createSecureContext({ crl: pem });
  } catch (e) {
    throw new Error(`OpenSSL does not take the file as CRLs (${(e as Error).message})`);
  }
  return parsed.map((c) => ({ issuer: c.issuer, issuerText: c.issuerText, thisUpdate: c.thisUpdate, nextUpdate: c.nextUpdate, revoked: new Set(c.revoked.map((e) => e.serial)) }));
}

/**
 * The CRL that revokes a certificate (DER) among `crls`, or null. Throws (certificateNames' error)
 * when the certificate's serial and issuer cannot be read: the caller decides what that means.
 */
export function revokedBy(crls: readonly LoadedCrl[], certDer: Buffer): LoadedCrl | null {
  const names = certificateNames(certDer);
  return crls.find((c) => c.issuer.equals(names.issuer) && c.revoked.has(names.serial)) ?? null;
}

/** The CRL whose nextUpdate comes first (the first one to go out of date); null when none names one. */
export function firstDueCrl(crls: readonly LoadedCrl[]): (LoadedCrl & { nextUpdate: Date }) | null {
  let first: (LoadedCrl & { nextUpdate: Date }) | null = null;
  for (const c of crls) if (c.nextUpdate && (!first || c.nextUpdate < first.nextUpdate)) first = c as LoadedCrl & { nextUpdate: Date };
  return first;
}

const readAll = (files: TlsFiles): { cert: Read; key: Read; ca: Read | null; crl: Read | null } => ({
  cert: read(files.cert),
  key: read(files.key),
  ca: files.ca ? read(files.ca) : null,
  crl: files.crl ? read(files.crl) : null,
});

/**
 * Check the files as the server would load them: each readable, the certificate and key parse and
 * belong together, the CA bundle holds certificates, the CRL file holds CRLs of those CAs (issuer
 * and signature). Not the validity dates (see certificateWarning, crlWarnings): the agent starts
 * and reloads with an expired certificate or CRL, as the data path must not stop for it.
 * Files the checking user may not read are skipped (the service's user may). Returns every problem.
 */
export function tlsProblems(prefix: string, files: TlsFiles): TlsProblem[] {
  return inspect(prefix, files, readAll(files)).problems;
}

/**
 * What `gridedge config check` warns about a certificate file at `nowMs`: expired, not yet valid (a
 * wrong clock?), or ending within CERT_WARN_DAYS; null when none of these, or when the file cannot be
 * read or parsed (tlsProblems reports that).
 */
export function certificateWarning(prefix: string, certFile: string, nowMs: number): string | null {
  const c = read(certFile);
  if (!c.ok) return null;
  let cert: X509Certificate;
  try {
    cert = certificatesOf(c.data)[0]!;
  } catch {
    return null;
  }
  const from = Date.parse(cert.validFrom);
  if (from > nowMs) return `${prefix}.cert: the certificate is valid only from ${new Date(from).toISOString()} (${certFile}); is the clock right?`;
  const p = certificateProblem(prefix, new Date(Date.parse(cert.validTo)), nowMs);
  return p ? `${p} (${certFile})` : null;
}

/**
 * Read the files for a listener; throws an Error naming the first problem's option. An expired or
 * not yet valid certificate is not such a problem: the listener comes up (the data path must not stop
 * for it) and the status says so (`certificateProblem`).
 */
export function loadTls(prefix: string, files: TlsFiles): LoadedTls {
  const reads = readAll(files);
  // Each file is read once; one the service cannot read is a failure here (not skipped as in a check).
  for (const what of ['cert', 'key', 'ca', 'crl'] as const) {
    const r = reads[what];
    if (r && !r.ok) throw new Error(`${prefix}.${what}: ${r.message}`);
  }
  const { problems, cert, cas, crls } = inspect(prefix, files, reads);
  const bad = problems[0];
  if (bad) throw new Error(`${bad.path}: ${bad.message}`);
  const data = (r: Read | null): Buffer | undefined => (r?.ok ? r.data : undefined);
  const ca = data(reads.ca);
  const crl = data(reads.crl);
  // Every file was read and parsed without a problem: the certificate is there.
  return { cert: data(reads.cert)!, key: data(reads.key)!, ...(ca && cas ? { ca, cas } : {}), ...(crl && crls ? { crl, crls } : {}), notAfter: new Date(cert!.validTo) };
}

/** Whether two loads hold the same bytes (a reload found nothing renewed). */
export function sameTls(a: LoadedTls, b: LoadedTls): boolean {
  const same = (x?: Buffer, y?: Buffer): boolean => (x && y ? x.equals(y) : x === y);
  return same(a.cert, b.cert) && same(a.key, b.key) && same(a.ca, b.ca) && same(a.crl, b.crl);
}

/** A status problem when the certificate has ended or ends within CERT_WARN_DAYS; null otherwise. */
export function certificateProblem(prefix: string, notAfter: Date, nowMs: number): string | null {
  const left = notAfter.getTime() - nowMs;
  if (left < 0) return `${prefix}.cert expired on ${notAfter.toISOString()}: TLS clients refuse it; install a new certificate and reload (systemctl reload gridedge)`;
  if (left < CERT_WARN_DAYS * DAY_MS) return `${prefix}.cert expires in ${Math.floor(left / DAY_MS)} day(s), on ${notAfter.toISOString()}`;
  return null;
}

/**
 * A status problem when a CRL is past its nextUpdate, or close to it: within CERT_WARN_DAYS, or
 * within half its validity (nextUpdate - thisUpdate) when that is shorter, so that a PKI publishing
 * CRLs valid for a week is not a problem all the time (it is from half-way, 3.5 days before). Null
 * otherwise. Past it, clients are still let in (the revocations it lists still apply): see
 * agent/broker/README.md, "Revoking client certificates".
 */
export function crlProblem(prefix: string, nextUpdate: Date, thisUpdate: Date, nowMs: number): string | null {
  const left = nextUpdate.getTime() - nowMs;
  if (left < 0)
    return `${prefix}.crl is out of date since ${nextUpdate.toISOString()} (its nextUpdate): certificates revoked since are not known; install the CA's current CRL and reload (systemctl reload gridedge)`;
  const window = Math.min(CERT_WARN_DAYS * DAY_MS, (nextUpdate.getTime() - thisUpdate.getTime()) / 2);
  if (left < window) return `${prefix}.crl must be replaced within ${Math.floor(left / DAY_MS)} day(s): its nextUpdate is ${nextUpdate.toISOString()}`;
  return null;
}

/**
 * What `gridedge config check` warns about a CRL file at `nowMs`, one line per CRL: past its
 * nextUpdate or close to it (see crlProblem), or not yet valid (a wrong clock?); and, given the CA
 * bundle, each CA of it with no CRL in the file (OpenSSL refuses the clients it signed: "unable to
 * get certificate CRL"). Empty when none of these, or when a file cannot be read or parsed
 * (tlsProblems reports that).
 */
export function crlWarnings(prefix: string, crlFile: string, nowMs: number, caFile?: string): string[] {
  const r = read(crlFile);
  if (!r.ok) return [];
  let crls: LoadedCrl[];
  try {
    crls = crlsOf(r.data, null, prefix);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const c of crls) {
    const of = `(CRL of "${c.issuerText}", ${crlFile})`;
    if (c.thisUpdate.getTime() > nowMs) out.push(`${prefix}.crl: the CRL is valid only from ${c.thisUpdate.toISOString()} ${of}; is the clock right?`);
    else if (c.nextUpdate) {
      const p = crlProblem(prefix, c.nextUpdate, c.thisUpdate, nowMs);
      if (p) out.push(`${p} ${of}`);
    }
  }
  const a = caFile ? read(caFile) : null;
  if (a?.ok) {
    let cas: X509Certificate[] = [];
    try {
      cas = certificatesOf(a.data);
    } catch {
      return out;
    }
    for (const ca of cas)
      if (!crls.some((c) => c.issuer.equals(certificateNames(ca.raw).subject)))
        out.push(`${prefix}.crl holds no CRL of the CA "${ca.subject.replace(/\n/g, ', ')}" of ${prefix}.ca: the clients it signed are refused (${crlFile})`);
  }
  return out;
}
