/**
 * Local accounts of the page and the API (`http.users`): scrypt password hashes, three roles,
 * sessions that serve both as the page's cookie and as the API's bearer token.
 *
 * - A session id is 32 random bytes (base64url), kept in memory only: a restart logs everyone out.
 *   It expires `sessionHours` after login; expired ones are forgotten on their next use and by a
 *   sweep at each login.
 * - Failed logins are rate limited per remote address (a token bucket: `FAILURE_BURST` failures,
 *   then one more every `FAILURE_REFILL_MS`); over the limit a login is refused (429) without running
 *   scrypt, whatever the password. Each check takes its token before scrypt runs and gives it back
 *   when the password was right, so checks in flight at once hold a token each: at most
 *   `FAILURE_BURST` scrypt checks run from one address however many requests arrive together (a
 *   right password sent while the bucket is held by checks in flight is refused too). Unknown users
 *   cost one scrypt like known ones, so timing does not tell which names exist.
 * - Plain passwords from the config are hashed once when the server starts, and dropped.
 * - HTTP Basic (what pymfm's clients send): `basic()` checks the user name and password like a login
 *   (same rate limit, same scrypt) and keeps the outcome of a good pair for `BASIC_CACHE_MS`, keyed
 *   by the SHA-256 of the pair, so a client sending it with every request costs one scrypt per
 *   period, not one per request. Requests with the same pair that arrive while it is being checked
 *   wait for that check and share its outcome (one scrypt, one token). Nothing of it outlives this object (a config reload builds a new one).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { HttpUser } from '../core/config-types.js';
import { hashPassword, parseHash, verifyPasswordAsync, type ParsedHash } from '../broker/passwords.js';
import { RateLimiter } from '../core/rate-limiter.js';

export type Role = HttpUser['role'];

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** Whether `have` may do what needs `need`. */
export function roleAllows(have: Role, need: Role): boolean {
  return RANK[have] >= RANK[need];
}

export interface Session {
  id: string;
  username: string;
  role: Role;
  /** Wall-clock ms. */
  expiresAt: number;
}

/** `ended`: sessions of the same user ended to make room for this one (MAX_SESSIONS_PER_USER). */
export type LoginResult = { ok: true; session: Session; ended?: number } | { ok: false; reason: 'bad_credentials' | 'rate_limited' };

/**
 * Open sessions one account may hold; a login past it ends that account's oldest session (a script
 * logging in every few seconds without logging out would otherwise pile sessions up for sessionHours).
 */
export const MAX_SESSIONS_PER_USER = 100;

/** Failed logins allowed from one address at once, and the time to earn one more. */
export const FAILURE_BURST = 5;
export const FAILURE_REFILL_MS = 10_000;

/** Addresses whose failed logins are remembered at most (the oldest is forgotten first). */
const MAX_ADDRESSES = 10_000;

/** How long a checked HTTP Basic pair is trusted without checking it again, and how many are kept. */
export const BASIC_CACHE_MS = 5 * 60_000;
const MAX_BASIC = 1000;

export type BasicResult = { ok: true; session: Session; checked: boolean } | { ok: false; reason: 'bad_credentials' | 'rate_limited' };

export class Accounts {
  private readonly users = new Map<string, { hash: ParsedHash; role: Role }>();
  private readonly sessions = new Map<string, Session>();
  private readonly failures = new Map<string, RateLimiter>();
  /** SHA-256 (base64url) of the user name and password, NUL between them → the session they stand for, until its expiresAt. */
  private readonly basicPairs = new Map<string, Session>();
  /** The same key → the check of that pair in flight. */
  private readonly basicChecks = new Map<string, Promise<LoginResult>>();
  private readonly dummy: ParsedHash;

  constructor(
    users: readonly HttpUser[],
    private readonly sessionMs: number,
    private readonly now: () => number = Date.now,
  ) {
    for (const u of users) {
      const text = u.passwordHash ?? hashPassword(u.password ?? '');
      this.users.set(u.username, { hash: parseHash(text), role: u.role });
    }
    const first = this.users.values().next().value;
    this.dummy = first ? first.hash : parseHash(hashPassword(randomBytes(16).toString('hex')));
  }

  /** Whether any account is configured (no accounts: the server is open, on loopback only). */
  get enabled(): boolean {
    return this.users.size > 0;
  }

  /** Check a password; on success open a session (`keep` false: the session is not stored, for `basic`). */
  async login(username: string, password: string, address: string, keep = true): Promise<LoginResult> {
    const bucket = this.failureBucket(address);
    if (bucket.available() < 1) return { ok: false, reason: 'rate_limited' };
    bucket.take(1); // held while scrypt runs: requests in flight at once cannot pass the limit together
    const user = this.users.get(username);
    const ok = await verifyPasswordAsync(password, user?.hash ?? this.dummy);
    if (!ok || !user) return { ok: false, reason: 'bad_credentials' };
    bucket.refund(1);
    this.sweep();
    const session: Session = { id: randomBytes(32).toString('base64url'), username, role: user.role, expiresAt: this.now() + this.sessionMs };
    if (!keep) return { ok: true, session };
    const ended = this.makeRoomFor(username);
    this.sessions.set(session.id, session);
    return ended > 0 ? { ok: true, session, ended } : { ok: true, session };
  }

  /**
   * An HTTP Basic user name and password: a session valid for this request (not stored as a login;
   * no cookie, no token). `checked`: scrypt ran for it (the first time, or after BASIC_CACHE_MS).
   */
  async basic(username: string, password: string, address: string): Promise<BasicResult> {
    const key = createHash('sha256').update(`${username}\u0000${password}`).digest('base64url');
    const known = this.basicPairs.get(key);
    if (known && known.expiresAt > this.now()) return { ok: true, session: known, checked: false };
    if (known) this.basicPairs.delete(key);
    const inFlight = this.basicChecks.get(key);
    if (inFlight) {
      const shared = await inFlight;
      return shared.ok ? { ok: true, session: this.basicPairs.get(key) ?? shared.session, checked: false } : shared;
    }
    const check = this.login(username, password, address, false);
    this.basicChecks.set(key, check);
    let r: LoginResult;
    try {
      r = await check;
    } finally {
      this.basicChecks.delete(key);
    }
    if (!r.ok) return r;
    if (this.basicPairs.size >= MAX_BASIC) this.basicPairs.delete(this.basicPairs.keys().next().value!);
    const session: Session = { ...r.session, expiresAt: Math.min(r.session.expiresAt, this.now() + BASIC_CACHE_MS) };
    this.basicPairs.set(key, session);
    return { ok: true, session, checked: true };
  }

  /** The live session with this id, if any (constant-time compare of the id). */
  session(id: string | undefined): Session | undefined {
    if (!id || id.length > 128) return undefined;
    const s = this.sessions.get(id);
    if (!s) return undefined;
    if (!timingSafeEqual(Buffer.from(s.id), Buffer.from(id))) return undefined;
    if (s.expiresAt <= this.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    return s;
  }

  logout(id: string): boolean {
    return this.sessions.delete(id);
  }

  /** Open sessions (for the status). */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** End `username`'s oldest sessions (the map keeps login order) until one more fits; returns how many. */
  private makeRoomFor(username: string): number {
    let open = 0;
    for (const s of this.sessions.values()) if (s.username === username) open++;
    let ended = 0;
    for (const [id, s] of this.sessions) {
      if (open < MAX_SESSIONS_PER_USER) break;
      if (s.username !== username) continue;
      this.sessions.delete(id);
      open--;
      ended++;
    }
    return ended;
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(id);
    for (const [key, s] of this.basicPairs) if (s.expiresAt <= now) this.basicPairs.delete(key);
    for (const [addr, b] of this.failures) if (b.available() >= FAILURE_BURST) this.failures.delete(addr);
  }

  /** The failed-login bucket of an address, made full on first use (the oldest address is forgotten beyond MAX_ADDRESSES). */
  private failureBucket(address: string): RateLimiter {
    let b = this.failures.get(address);
    if (!b) {
      if (this.failures.size >= MAX_ADDRESSES) this.failures.delete(this.failures.keys().next().value!);
      b = new RateLimiter(1000 / FAILURE_REFILL_MS, FAILURE_BURST, this.now);
      this.failures.set(address, b);
    }
    return b;
  }
}
