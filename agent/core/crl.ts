/**
 * A small DER reader for X.509 CRLs (RFC 5280 §5) and for the names and serial of a certificate:
 * node:crypto parses certificates but not CRLs. It reads what the agent needs (`mqtt.tls.crl`):
 * version, signature algorithm, issuer, thisUpdate, nextUpdate and the revoked serials, and checks
 * the CRL's signature with a CA's public key. Every malformed input (truncated, garbled, not DER)
 * ends in a `CrlError` saying what is wrong and at which byte; nothing else is thrown.
 */
import { verify as cryptoVerify, type KeyObject } from 'node:crypto';

export class CrlError extends Error {
  override name = 'CrlError';
}

/** One DER element: its tag byte, where its value starts and where the element ends. */
interface Tlv {
  tag: number;
  start: number;
  valueStart: number;
  end: number;
}

const TAG = {
  integer: 0x02,
  bitString: 0x03,
  null: 0x05,
  oid: 0x06,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
  context0: 0xa0,
} as const;

/** Read the element at `at`, which must end by `limit`. */
function tlv(buf: Buffer, at: number, limit: number, what: string): Tlv {
  if (at >= limit) throw new CrlError(`${what}: missing (the data ends at byte ${at})`);
  const tag = buf[at]!;
  if ((tag & 0x1f) === 0x1f) throw new CrlError(`${what}: multi-byte tag at byte ${at} is not used by X.509`);
  if (at + 1 >= limit) throw new CrlError(`${what}: truncated length at byte ${at + 1}`);
  const first = buf[at + 1]!;
  let len: number;
  let valueStart: number;
  if (first < 0x80) {
    len = first;
    valueStart = at + 2;
  } else {
    const n = first & 0x7f;
    if (n === 0) throw new CrlError(`${what}: indefinite length at byte ${at + 1} is not DER`);
    if (n > 4) throw new CrlError(`${what}: length of ${n} bytes at byte ${at + 1} is too large`);
    if (at + 2 + n > limit) throw new CrlError(`${what}: truncated length at byte ${at + 1}`);
    len = 0;
    for (let k = 0; k < n; k++) len = len * 256 + buf[at + 2 + k]!;
    valueStart = at + 2 + n;
  }
  const end = valueStart + len;
  if (end > limit) throw new CrlError(`${what}: ${len} bytes announced at byte ${at}, only ${limit - valueStart} left`);
  return { tag, start: at, valueStart, end };
}

function expect(buf: Buffer, at: number, limit: number, tag: number, what: string): Tlv {
  const t = tlv(buf, at, limit, what);
  if (t.tag !== tag) throw new CrlError(`${what}: expected tag 0x${tag.toString(16)} at byte ${at}, got 0x${t.tag.toString(16)}`);
  return t;
}

/** Dotted text of an OBJECT IDENTIFIER's value. */
function oidText(buf: Buffer, t: Tlv, what: string): string {
  if (t.end === t.valueStart) throw new CrlError(`${what}: empty object identifier at byte ${t.start}`);
  const parts: number[] = [];
  let v = 0;
  for (let k = t.valueStart; k < t.end; k++) {
    const b = buf[k]!;
    if (v === 0 && b === 0x80) throw new CrlError(`${what}: object identifier not minimally encoded at byte ${k}`);
    v = v * 128 + (b & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 128) throw new CrlError(`${what}: object identifier component too large at byte ${k}`);
    if (b & 0x80) continue;
    if (parts.length === 0) parts.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
    else parts.push(v);
    v = 0;
  }
  if (buf[t.end - 1]! & 0x80) throw new CrlError(`${what}: object identifier truncated at byte ${t.end - 1}`);
  return parts.join('.');
}

/** An INTEGER (a serial number) as upper-case hex without leading zeros, as node:crypto shows serials. */
function integerHex(buf: Buffer, t: Tlv, what: string): string {
  if (t.end === t.valueStart) throw new CrlError(`${what}: empty integer at byte ${t.start}`);
  return normalizeSerial(buf.subarray(t.valueStart, t.end).toString('hex'));
}

/** A serial number as hex in one form: upper case, no leading zeros ("0" for zero). */
export function normalizeSerial(hex: string): string {
  return hex.toUpperCase().replace(/^0+/, '') || '0';
}

function smallInteger(buf: Buffer, t: Tlv, what: string): number {
  const len = t.end - t.valueStart;
  if (len < 1 || len > 4) throw new CrlError(`${what}: integer of ${len} bytes at byte ${t.start}`);
  let v = 0;
  for (let k = t.valueStart; k < t.end; k++) v = v * 256 + buf[k]!;
  return v;
}

/** UTCTime (YYMMDDHHMMSSZ, years 1950-2049) or GeneralizedTime (YYYYMMDDHHMMSSZ), as RFC 5280 §4.1.2.5 allows them. */
function timeOf(buf: Buffer, t: Tlv, what: string): Date {
  const s = buf.subarray(t.valueStart, t.end).toString('latin1');
  const m = t.tag === TAG.utcTime ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s) : t.tag === TAG.generalizedTime ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s) : null;
  if (t.tag !== TAG.utcTime && t.tag !== TAG.generalizedTime) throw new CrlError(`${what}: expected a time (UTCTime or GeneralizedTime) at byte ${t.start}, got tag 0x${t.tag.toString(16)}`);
  if (!m) throw new CrlError(`${what}: bad time ${JSON.stringify(s)} at byte ${t.start}`);
  let year = Number(m[1]);
  if (t.tag === TAG.utcTime) year += year >= 50 ? 1900 : 2000;
  const [mo, d, h, mi, se] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number];
  const ms = Date.UTC(year, mo - 1, d, h, mi, se);
  const back = new Date(ms);
  if (mo < 1 || mo > 12 || back.getUTCDate() !== d || back.getUTCMonth() !== mo - 1 || h > 23 || mi > 59 || se > 59)
    throw new CrlError(`${what}: bad time ${JSON.stringify(s)} at byte ${t.start}`);
  return back;
}

const isTime = (tag: number): boolean => tag === TAG.utcTime || tag === TAG.generalizedTime;

/** Short names of the attributes seen in certificate and CRL issuer names. */
const ATTRIBUTES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '1.2.840.113549.1.9.1': 'emailAddress',
  '0.9.2342.19200300.100.1.25': 'DC',
};

/** A Name (SEQUENCE OF SET OF {type, value}) as text, "CN=x, O=y", for messages. */
function nameText(buf: Buffer, name: Tlv, what: string): string {
  const out: string[] = [];
  for (let at = name.valueStart; at < name.end; ) {
    const rdn = expect(buf, at, name.end, TAG.set, `${what} (relative name)`);
    for (let a = rdn.valueStart; a < rdn.end; ) {
      const atv = expect(buf, a, rdn.end, TAG.sequence, `${what} (attribute)`);
      const type = expect(buf, atv.valueStart, atv.end, TAG.oid, `${what} (attribute type)`);
      const value = tlv(buf, type.end, atv.end, `${what} (attribute value)`);
      const raw = buf.subarray(value.valueStart, value.end);
      // BMPString is UTF-16BE; the other string types are read as UTF-8 (ASCII is a subset).
      const text = value.tag === 0x1e ? bmpText(raw) : raw.toString('utf8');
      const oid = oidText(buf, type, `${what} (attribute type)`);
      out.push(`${ATTRIBUTES[oid] ?? oid}=${text}`);
      a = atv.end;
    }
    at = rdn.end;
  }
  return out.join(', ');
}

/** A BMPString (UTF-16BE) as text; an odd last byte (malformed) is left out. */
function bmpText(raw: Buffer): string {
  const even = Buffer.from(raw.subarray(0, raw.length - (raw.length % 2)));
  return even.swap16().toString('utf16le');
}

/** An AlgorithmIdentifier's OID (its parameters are not read). */
function algorithmOf(buf: Buffer, at: number, limit: number, what: string): { oid: string; end: number; der: Buffer } {
  const seq = expect(buf, at, limit, TAG.sequence, what);
  const oid = expect(buf, seq.valueStart, seq.end, TAG.oid, `${what} (algorithm)`);
  return { oid: oidText(buf, oid, what), end: seq.end, der: buf.subarray(seq.start, seq.end) };
}

/** Digest for node:crypto's verify, by signature algorithm OID; null: the key type decides (Ed25519, Ed448). */
const SIGNATURE_DIGESTS: Record<string, { name: string; digest: string | null }> = {
  '1.2.840.113549.1.1.5': { name: 'sha1WithRSAEncryption', digest: 'sha1' },
  '1.2.840.113549.1.1.11': { name: 'sha256WithRSAEncryption', digest: 'sha256' },
  '1.2.840.113549.1.1.12': { name: 'sha384WithRSAEncryption', digest: 'sha384' },
  '1.2.840.113549.1.1.13': { name: 'sha512WithRSAEncryption', digest: 'sha512' },
  '1.2.840.10045.4.1': { name: 'ecdsa-with-SHA1', digest: 'sha1' },
  '1.2.840.10045.4.3.2': { name: 'ecdsa-with-SHA256', digest: 'sha256' },
  '1.2.840.10045.4.3.3': { name: 'ecdsa-with-SHA384', digest: 'sha384' },
  '1.2.840.10045.4.3.4': { name: 'ecdsa-with-SHA512', digest: 'sha512' },
  '1.3.101.112': { name: 'ED25519', digest: null },
  '1.3.101.113': { name: 'ED448', digest: null },
};

export interface RevokedEntry {
  /** Upper-case hex without leading zeros (see normalizeSerial), as X509Certificate.serialNumber after normalizeSerial. */
  serial: string;
  revoked: Date;
}

export interface ParsedCrl {
  /** 1 or 2 (the version field is absent in a v1 CRL). */
  version: 1 | 2;
  /** The signature algorithm's OID, and its name when known (else the OID). */
  signatureAlgorithm: string;
  signatureAlgorithmName: string;
  /** The issuer Name's DER (compare with a certificate's subject), and as text. */
  issuer: Buffer;
  issuerText: string;
  thisUpdate: Date;
  /** Absent in the CRL (optional in RFC 5280): null. */
  nextUpdate: Date | null;
  revoked: RevokedEntry[];
  /** The signed part (tbsCertList, with its header) and the signature's bytes. */
  tbs: Buffer;
  signature: Buffer;
}

/** Read one DER CRL; throws CrlError naming what is malformed. */
export function parseCrl(der: Buffer): ParsedCrl {
  const outer = expect(der, 0, der.length, TAG.sequence, 'CRL');
  if (outer.end !== der.length) throw new CrlError(`CRL: ${der.length - outer.end} bytes after its end`);
  const tbs = expect(der, outer.valueStart, outer.end, TAG.sequence, 'CRL tbsCertList');
  let at = tbs.valueStart;
  let version: 1 | 2 = 1;
  const first = tlv(der, at, tbs.end, 'CRL version or signature');
  if (first.tag === TAG.integer) {
    const v = smallInteger(der, first, 'CRL version');
    if (v !== 1) throw new CrlError(`CRL version: must be 1 (v2) when present, got ${v}`);
    version = 2;
    at = first.end;
  }
  const sig = algorithmOf(der, at, tbs.end, 'CRL signature algorithm');
  const issuer = expect(der, sig.end, tbs.end, TAG.sequence, 'CRL issuer');
  const issuerText = nameText(der, issuer, 'CRL issuer');
  const thisT = tlv(der, issuer.end, tbs.end, 'CRL thisUpdate');
  const thisUpdate = timeOf(der, thisT, 'CRL thisUpdate');
  at = thisT.end;
  let nextUpdate: Date | null = null;
  if (at < tbs.end) {
    const t = tlv(der, at, tbs.end, 'CRL nextUpdate');
    if (isTime(t.tag)) {
      nextUpdate = timeOf(der, t, 'CRL nextUpdate');
      at = t.end;
    }
  }
  const revoked: RevokedEntry[] = [];
  if (at < tbs.end) {
    const t = tlv(der, at, tbs.end, 'CRL revokedCertificates');
    if (t.tag === TAG.sequence) {
      for (let e = t.valueStart; e < t.end; ) {
        const entry = expect(der, e, t.end, TAG.sequence, `CRL revoked entry ${revoked.length + 1}`);
        const serial = expect(der, entry.valueStart, entry.end, TAG.integer, `CRL revoked entry ${revoked.length + 1} serial`);
        const when = tlv(der, serial.end, entry.end, `CRL revoked entry ${revoked.length + 1} date`);
        revoked.push({ serial: integerHex(der, serial, 'CRL revoked serial'), revoked: timeOf(der, when, `CRL revoked entry ${revoked.length + 1} date`) });
        e = entry.end;
      }
      at = t.end;
    }
  }
  if (at < tbs.end) {
    const ext = tlv(der, at, tbs.end, 'CRL extensions');
    if (ext.tag !== TAG.context0) throw new CrlError(`CRL: unexpected tag 0x${ext.tag.toString(16)} at byte ${at} in tbsCertList`);
    if (ext.end !== tbs.end) throw new CrlError(`CRL: unexpected data after the extensions at byte ${ext.end}`);
  }
  const outerSig = algorithmOf(der, tbs.end, outer.end, 'CRL signatureAlgorithm');
  if (!outerSig.der.equals(sig.der)) throw new CrlError('CRL: the signature algorithm inside and outside the signed part differ');
  const bits = expect(der, outerSig.end, outer.end, TAG.bitString, 'CRL signatureValue');
  if (bits.end !== outer.end) throw new CrlError(`CRL: unexpected data after the signature at byte ${bits.end}`);
  if (bits.end === bits.valueStart || der[bits.valueStart] !== 0) throw new CrlError('CRL signatureValue: not a whole number of bytes');
  return {
    version,
    signatureAlgorithm: sig.oid,
    signatureAlgorithmName: SIGNATURE_DIGESTS[sig.oid]?.name ?? sig.oid,
    issuer: Buffer.from(der.subarray(issuer.start, issuer.end)),
    issuerText,
    thisUpdate,
    nextUpdate,
    revoked,
    tbs: Buffer.from(der.subarray(tbs.start, tbs.end)),
    signature: Buffer.from(der.subarray(bits.valueStart + 1, bits.end)),
  };
}

/** Whether `publicKey` (a CA's) verifies the CRL's signature; null when the algorithm is not one this reader knows (RSA-PSS ...). */
export function crlSignatureValid(crl: ParsedCrl, publicKey: KeyObject): boolean | null {
  const alg = SIGNATURE_DIGESTS[crl.signatureAlgorithm];
  if (!alg) return null;
  try {
    return cryptoVerify(alg.digest, crl.tbs, publicKey, crl.signature);
  } catch {
    return false; // a key of another type than the signature's (an RSA CA and an ECDSA CRL)
  }
}

/** The serial number and the issuer and subject Names (DER) of a DER certificate. */
export function certificateNames(der: Buffer): { serial: string; issuer: Buffer; subject: Buffer } {
  const cert = expect(der, 0, der.length, TAG.sequence, 'certificate');
  const tbs = expect(der, cert.valueStart, cert.end, TAG.sequence, 'certificate tbsCertificate');
  let at = tbs.valueStart;
  const first = tlv(der, at, tbs.end, 'certificate version or serial');
  if (first.tag === TAG.context0) at = first.end;
  const serial = expect(der, at, tbs.end, TAG.integer, 'certificate serial');
  const sig = algorithmOf(der, serial.end, tbs.end, 'certificate signature algorithm');
  const issuer = expect(der, sig.end, tbs.end, TAG.sequence, 'certificate issuer');
  const validity = expect(der, issuer.end, tbs.end, TAG.sequence, 'certificate validity');
  const subject = expect(der, validity.end, tbs.end, TAG.sequence, 'certificate subject');
  return {
    serial: integerHex(der, serial, 'certificate serial'),
    issuer: Buffer.from(der.subarray(issuer.start, issuer.end)),
    subject: Buffer.from(der.subarray(subject.start, subject.end)),
  };
}

/** The DER of each `-----BEGIN X509 CRL-----` block of a PEM text; throws CrlError when there is none or one is not base64. */
export function pemCrls(pem: Buffer | string): Buffer[] {
  const text = typeof pem === 'string' ? pem : pem.toString('latin1');
  const blocks = [...text.matchAll(/-----BEGIN X509 CRL-----([\s\S]*?)-----END X509 CRL-----/g)];
  if (blocks.length === 0) throw new CrlError('holds no PEM CRL (-----BEGIN X509 CRL-----)');
  return blocks.map((b, i) => {
    const body = b[1]!.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0 || body.length === 0) throw new CrlError(`CRL ${i + 1} of the file is not base64`);
    return Buffer.from(body, 'base64');
  });
}
