/**
 * Password hashes for MQTT users: scrypt (RFC 7914) from node:crypto, stored as
 * `scrypt$N$r$p$saltB64$hashB64`. Comparisons are constant-time.
 */
import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

/** Cost parameters used for new hashes (Node's scrypt defaults: N=2^14, r=8, p=1; about 16 MiB per hash). */
export const SCRYPT_DEFAULTS = { N: 16384, r: 8, p: 1, saltBytes: 16, keyBytes: 32 } as const;

export interface ParsedHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** scrypt needs 128·N·r bytes; give it room so large N from a config does not fail with "memory limit exceeded". */
const maxmemFor = (N: number, r: number): number => 128 * N * r * 2 + 1024 * 1024;

/** Parse `scrypt$N$r$p$salt$hash`; throws an Error naming the part that is wrong. */
export function parseHash(text: string): ParsedHash {
  const parts = text.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt')
    throw new Error('must have the form scrypt$N$r$p$saltBase64$hashBase64');
  const [, nS, rS, pS, saltS, hashS] = parts as [string, string, string, string, string, string];
  const N = Number(nS);
  const r = Number(rS);
  const p = Number(pS);
  if (!Number.isInteger(N) || N < 2 || N > 2 ** 24 || (N & (N - 1)) !== 0)
    throw new Error(`N must be a power of two between 2 and 2^24, got "${nS}"`);
  if (!Number.isInteger(r) || r < 1 || r > 64) throw new Error(`r must be an integer between 1 and 64, got "${rS}"`);
  if (!Number.isInteger(p) || p < 1 || p > 16) throw new Error(`p must be an integer between 1 and 16, got "${pS}"`);
  if (!B64.test(saltS)) throw new Error('salt must be base64');
  if (!B64.test(hashS)) throw new Error('hash must be base64');
  const salt = Buffer.from(saltS, 'base64');
  const hash = Buffer.from(hashS, 'base64');
  if (hash.length < 16 || hash.length > 128) throw new Error(`hash must be 16 to 128 bytes, got ${hash.length}`);
  return { N, r, p, salt, hash };
}

/** Hash a password with a fresh random salt (synchronous: for start-up and the CLI). */
export function hashPassword(plain: string): string {
  const { N, r, p, saltBytes, keyBytes } = SCRYPT_DEFAULTS;
  const salt = randomBytes(saltBytes);
  const key = scryptSync(plain.normalize('NFC'), salt, keyBytes, { N, r, p, maxmem: maxmemFor(N, r) });
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** True when `plain` matches `hash` (constant-time compare). A malformed hash verifies nothing. */
export function verifyPassword(plain: string, hash: string | ParsedHash): boolean {
  let h: ParsedHash;
  try {
    h = typeof hash === 'string' ? parseHash(hash) : hash;
  } catch {
    return false;
  }
  const key = scryptSync(plain.normalize('NFC'), h.salt, h.hash.length, { N: h.N, r: h.r, p: h.p, maxmem: maxmemFor(h.N, h.r) });
  return timingSafeEqual(key, h.hash);
}

/** Like verifyPassword, on libuv's thread pool so the event loop keeps serving while scrypt works. */
export function verifyPasswordAsync(plain: string, h: ParsedHash): Promise<boolean> {
  return new Promise((resolve) => {
    scrypt(plain.normalize('NFC'), h.salt, h.hash.length, { N: h.N, r: h.r, p: h.p, maxmem: maxmemFor(h.N, h.r) }, (err, key) => {
      resolve(!err && timingSafeEqual(key, h.hash));
    });
  });
}
