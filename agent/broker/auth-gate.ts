/**
 * Password checks for MQTT CONNECTs with a bounded cost. One scrypt run takes tens of milliseconds of
 * a libuv thread, so without bounds a flood of bad logins delays every legitimate client behind it.
 *
 * For each check, in this order:
 * 1. **Cache.** A credential verified earlier is accepted at once. The cache key is an HMAC-SHA256 of
 *    (username, password) under a random key made at start, so the cache holds no password. Entries
 *    expire `cacheTtlMs` after their verification; at most `cacheMax` are kept (oldest dropped). Only
 *    successes are cached, so only someone who knows the password gets the fast answer: a wrong
 *    password costs the same for a known and an unknown username.
 * 2. **Failure budget per remote address** (token bucket): `failureBurst` tokens, one back every
 *    `failureRefillMs`. A scrypt run takes a token from the address when it starts and gives it
 *    back when the password was right, so only failures use the budget up (and runs in flight never
 *    overshoot it). A check from an address with no token left is refused without scrypt, both when
 *    it arrives and when its turn comes in the queue. At most `maxAddresses` buckets are kept
 *    (least recently used dropped).
 * 3. **Identical checks run once.** A check with the same username and password as one already
 *    waiting or running joins it and takes its result (2 000 devices sharing a login after an
 *    outage cost one scrypt); joining costs no token.
 * 4. **Concurrency.** At most `maxConcurrent` scrypt runs at a time; up to `maxQueued` wait, served
 *    round-robin by remote address (so one address cannot push others to the back); beyond that the
 *    check is refused at once (busy). A waiting check whose connection closed is skipped.
 * Unknown usernames run scrypt against a dummy hash with the first user's cost parameters.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Counters } from '../core/counters.js';
import { verifyPasswordAsync, type ParsedHash, SCRYPT_DEFAULTS } from './passwords.js';
import type { BrokerUser } from './users.js';

export interface AuthLimits {
  /** scrypt runs at a time (the libuv pool has 4 threads by default; file I/O needs some too). */
  maxConcurrent: number;
  /** Checks waiting for a scrypt slot; beyond this a CONNECT is refused at once (busy). */
  maxQueued: number;
  /** How long a verified credential is accepted without scrypt. */
  cacheTtlMs: number;
  /** Verified credentials kept. */
  cacheMax: number;
  /** scrypt checks one address may have failed (or have in flight) before it is refused without scrypt. */
  failureBurst: number;
  /** One failure token returns to an address every this many milliseconds. */
  failureRefillMs: number;
  /** Address buckets kept. */
  maxAddresses: number;
}

export const AUTH_DEFAULTS: Readonly<AuthLimits> = {
  maxConcurrent: 2,
  maxQueued: 256,
  cacheTtlMs: 12 * 3600_000,
  cacheMax: 10_000,
  failureBurst: 10,
  failureRefillMs: 6_000,
  maxAddresses: 10_000,
};

export type AuthRefusal = 'bad_credentials' | 'auth_rate_limited' | 'auth_busy';

export type AuthOutcome =
  | { ok: true; user: BrokerUser; cached: boolean }
  | { ok: false; reason: AuthRefusal }
  /** The connection closed while its check waited: nothing was verified, nothing is counted as refused. */
  | { ok: false; reason: 'abandoned' };

export type VerifyFn = (plain: string, hash: ParsedHash) => Promise<boolean>;

type JobResult = 'ok' | 'bad' | 'abandoned' | 'limited';

interface Job {
  key: string;
  address: string;
  username: string;
  plain: string;
  /** One per check waiting on this job: true once that check's connection is gone. */
  gone: (() => boolean)[];
  promise: Promise<JobResult>;
  resolve(r: JobResult): void;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class AuthGate {
  private readonly limits: AuthLimits;
  private readonly secret = randomBytes(32);
  private readonly cache = new Map<string, { username: string; expires: number }>();
  /** Jobs waiting or running, by credential key. */
  private readonly jobs = new Map<string, Job>();
  /** Waiting jobs per address; Map order is the round-robin order. */
  private readonly queues = new Map<string, Job[]>();
  private readonly buckets = new Map<string, Bucket>();
  private readonly dummy: ParsedHash;
  private queued = 0;
  private running = 0;

  constructor(
    private readonly users: ReadonlyMap<string, BrokerUser>,
    private readonly counters: Counters,
    limits: Partial<AuthLimits> = {},
    private readonly now: () => number = Date.now,
    private readonly verify: VerifyFn = verifyPasswordAsync,
  ) {
    this.limits = { ...AUTH_DEFAULTS, ...limits };
    const first = users.values().next().value?.hash;
    // Never matches (random bytes), costs what the first configured user's hash costs.
    this.dummy = {
      N: first?.N ?? SCRYPT_DEFAULTS.N,
      r: first?.r ?? SCRYPT_DEFAULTS.r,
      p: first?.p ?? SCRYPT_DEFAULTS.p,
      salt: randomBytes(16),
      hash: randomBytes(first?.hash.length ?? SCRYPT_DEFAULTS.keyBytes),
    };
    counters.set('broker_auth_pending', 0);
  }

  /** Checks waiting or running now. */
  get pending(): number {
    return this.queued + this.running;
  }

  /**
   * Check one CONNECT's credentials. `gone()` tells whether the connection closed meanwhile (its
   * check is then skipped). Never rejects.
   */
  async check(address: string, username: string, password: Buffer | undefined, gone: () => boolean): Promise<AuthOutcome> {
    const plain = password ? password.toString('utf8') : '';
    if (this.users.size === 0) return { ok: false, reason: 'bad_credentials' }; // nothing to guess or enumerate
    const key = this.keyOf(username, plain);
    const now = this.now();
    const hit = this.cache.get(key);
    if (hit) {
      const user = this.users.get(hit.username);
      if (hit.expires > now && user) {
        this.counters.inc('broker_auth', { result: 'cache_hit' });
        return { ok: true, user, cached: true };
      }
      this.cache.delete(key);
    }
    let job = this.jobs.get(key);
    if (job) {
      job.gone.push(gone);
      this.counters.inc('broker_auth', { result: 'joined' });
    } else {
      if (this.tokens(address, now) < 1) return { ok: false, reason: 'auth_rate_limited' };
      if (this.running >= this.limits.maxConcurrent && this.queued >= this.limits.maxQueued) return { ok: false, reason: 'auth_busy' };
      job = this.newJob(key, address, username, plain, gone);
      this.jobs.set(key, job);
      let q = this.queues.get(address);
      if (!q) this.queues.set(address, (q = []));
      q.push(job);
      this.queued++;
      this.pump();
    }
    const result = await job.promise;
    if (result === 'abandoned') return { ok: false, reason: 'abandoned' };
    if (result === 'limited') return { ok: false, reason: 'auth_rate_limited' };
    const user = this.users.get(username);
    if (result === 'bad' || !user) return { ok: false, reason: 'bad_credentials' };
    return { ok: true, user, cached: false };
  }

  /**
   * Forget the cached credentials of these users (removed, or their password changed by a reload).
   * A check already running against a user's old hash is not cached and fails (see run: the user
   * object must still be the one it was checked against).
   */
  forget(usernames: ReadonlySet<string>): void {
    if (usernames.size === 0) return;
    for (const [key, e] of this.cache) if (usernames.has(e.username)) this.cache.delete(key);
  }

  private keyOf(username: string, plain: string): string {
    // Length-prefixed, so ("a:b", "c") and ("a", "b:c") differ.
    return createHmac('sha256', this.secret).update(`${username.length}:${username}:${plain}`, 'utf8').digest('base64');
  }

  private newJob(key: string, address: string, username: string, plain: string, gone: () => boolean): Job {
    let resolve!: (r: JobResult) => void;
    const promise = new Promise<JobResult>((r) => (resolve = r));
    return { key, address, username, plain, gone: [gone], promise, resolve };
  }

  /** Start waiting jobs while slots are free, one address after the other. */
  private pump(): void {
    while (this.running < this.limits.maxConcurrent && this.queued > 0) {
      const address = this.queues.keys().next().value as string;
      const q = this.queues.get(address)!;
      const job = q.shift()!;
      this.queued--;
      this.queues.delete(address);
      if (q.length > 0) this.queues.set(address, q); // to the back of the round
      if (job.gone.every((g) => g())) {
        this.jobs.delete(job.key);
        this.counters.inc('broker_auth', { result: 'abandoned' });
        job.resolve('abandoned');
        continue;
      }
      const bucket = this.bucket(job.address, this.now());
      if (bucket.tokens < 1) {
        // The address used its failure budget up while this check waited.
        this.jobs.delete(job.key);
        job.resolve('limited');
        continue;
      }
      bucket.tokens -= 1; // given back below if the password is right
      this.run(job, bucket);
    }
    this.counters.set('broker_auth_pending', this.pending);
  }

  private run(job: Job, bucket: Bucket): void {
    this.running++;
    const user = this.users.get(job.username);
    // An unknown user runs scrypt too, against the dummy hash (which never matches).
    this.verify(job.plain, user?.hash ?? this.dummy)
      .catch(() => false)
      .then((ok) => {
        this.running--;
        this.jobs.delete(job.key);
        // The user was removed or got a new hash (a reload) while scrypt ran: the old one proves nothing.
        const good = ok && user !== undefined && this.users.get(job.username) === user;
        this.counters.inc('broker_auth', { result: good ? 'scrypt_ok' : 'scrypt_failed' });
        if (good) {
          bucket.tokens = Math.min(this.limits.failureBurst, bucket.tokens + 1);
          this.cache.set(job.key, { username: job.username, expires: this.now() + this.limits.cacheTtlMs });
          if (this.cache.size > this.limits.cacheMax) this.cache.delete(this.cache.keys().next().value as string);
        }
        job.resolve(good ? 'ok' : 'bad');
        this.pump();
      });
  }

  /** Tokens left for an address now (refilled). */
  private tokens(address: string, now: number): number {
    return this.bucket(address, now).tokens;
  }

  /** The address's bucket, refilled up to `now` and moved to the most recently used end. */
  private bucket(address: string, now: number): Bucket {
    const { failureBurst, failureRefillMs, maxAddresses } = this.limits;
    let b = this.buckets.get(address);
    if (!b) b = { tokens: failureBurst, at: now };
    else {
      b.tokens = Math.min(failureBurst, b.tokens + Math.max(0, now - b.at) / failureRefillMs);
      b.at = now;
      this.buckets.delete(address); // re-inserted below: Map order = least recently used first
    }
    this.buckets.set(address, b);
    if (this.buckets.size > maxAddresses) this.buckets.delete(this.buckets.keys().next().value as string);
    return b;
  }
}
