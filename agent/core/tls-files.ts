/**
 * The PEM files of a TLS server (`mqtt.tls`, `http.tls`): read and checked in one place, for
 * `gridedge config check` (every problem, each naming its option) and for the listeners at start
 * (the first problem thrown, naming its option). Also how close the certificate is to expiring,
 * for the status problems a technician sees before clients start failing.
 */
import { readFileSync } from 'node:fs';
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';

export interface TlsFiles {
  cert: string;
  key: string;
  /** CA bundle for client certificates; '' or absent: none. */
  ca?: string;
}

export interface LoadedTls {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
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
function inspect(prefix: string, files: TlsFiles, reads: { cert: Read; key: Read; ca: Read | null }): { problems: TlsProblem[]; cert: X509Certificate | null } {
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
  if (a) {
    if (a.ok) {
      try {
        certificatesOf(a.data);
      } catch (e) {
        add('ca', `${(e as Error).message} (${files.ca})`);
      }
    } else if (!a.unreadable) add('ca', a.message);
  }
  return { problems, cert };
}

const readAll = (files: TlsFiles): { cert: Read; key: Read; ca: Read | null } => ({
  cert: read(files.cert),
  key: read(files.key),
  ca: files.ca ? read(files.ca) : null,
});

/**
 * Check the files as the server would load them: each readable, the certificate and key parse and
 * belong together, the CA bundle holds certificates. Not the validity dates (see certificateWarning):
 * the agent starts and reloads with an expired certificate, as the data path must not stop for it.
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
  for (const what of ['cert', 'key', 'ca'] as const) {
    const r = reads[what];
    if (r && !r.ok) throw new Error(`${prefix}.${what}: ${r.message}`);
  }
  const { problems, cert } = inspect(prefix, files, reads);
  const bad = problems[0];
  if (bad) throw new Error(`${bad.path}: ${bad.message}`);
  const data = (r: Read | null): Buffer | undefined => (r?.ok ? r.data : undefined);
  const ca = data(reads.ca);
  // Every file was read and parsed without a problem: the certificate is there.
  return { cert: data(reads.cert)!, key: data(reads.key)!, ...(ca ? { ca } : {}), notAfter: new Date(cert!.validTo) };
}

/** Whether two loads hold the same bytes (a reload found nothing renewed). */
export function sameTls(a: LoadedTls, b: LoadedTls): boolean {
  const same = (x?: Buffer, y?: Buffer): boolean => (x && y ? x.equals(y) : x === y);
  return same(a.cert, b.cert) && same(a.key, b.key) && same(a.ca, b.ca);
}

/** A status problem when the certificate has ended or ends within CERT_WARN_DAYS; null otherwise. */
export function certificateProblem(prefix: string, notAfter: Date, nowMs: number): string | null {
  const left = notAfter.getTime() - nowMs;
  if (left < 0) return `${prefix}.cert expired on ${notAfter.toISOString()}: TLS clients refuse it; install a new certificate and reload (systemctl reload gridedge)`;
  if (left < CERT_WARN_DAYS * DAY_MS) return `${prefix}.cert expires in ${Math.floor(left / DAY_MS)} day(s), on ${notAfter.toISOString()}`;
  return null;
}
