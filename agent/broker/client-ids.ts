/**
 * Who may use which MQTT client id, and how many persistent sessions exist (see the README,
 * "Client ids belong to users" and "A bound on sessions").
 *
 * Patterns (`mqtt.users[].clientIds`): an exact client id, or one with `*` wildcards, each matching
 * any run of characters, the empty one included (`pmu-*` matches `pmu-` and `pmu-12/a`). Nothing else
 * is special: `?`, `+`, `#`, `[` are plain characters; matching is case-sensitive, as client ids are.
 *
 * The table is pure bookkeeping (no Aedes): the broker asks `claim` at each authenticated CONNECT and
 * tells `closed` when a connection closes. Every operation is O(1) apart from matching the id
 * against the configured patterns.
 */
import { topicProblem } from './acl.js';

/** Longest pattern, in characters. Far longer than any device's client id; MQTT 3.1.1 only guarantees 23 bytes. */
export const MAX_PATTERN_CHARS = 256;

/** Why a pattern cannot be used (completes "must be a client id or a pattern with * wildcards: ..."), or null. */
export function clientIdPatternProblem(p: unknown): string | null {
  if (typeof p !== 'string') return 'not a string';
  if (p === '') return 'empty';
  if (p.length > MAX_PATTERN_CHARS) return `longer than ${MAX_PATTERN_CHARS} characters (${p.length})`;
  // The characters the broker refuses in any MQTT string it reads (NUL, controls, U+FFFD).
  const refused = topicProblem(p);
  if (refused) return `${refused} (not allowed in MQTT strings)`;
  for (let k = 0; k < p.length; k++) {
    const c = p.charCodeAt(k);
    if (c < 0xd800 || c > 0xdfff) continue;
    const d = k + 1 < p.length ? p.charCodeAt(k + 1) : 0;
    if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
      k++; // a well-formed surrogate pair: a character outside the BMP, fine in UTF-8
      continue;
    }
    return `unpaired surrogate U+${c.toString(16).toUpperCase()} at offset ${k} (cannot be encoded in UTF-8)`;
  }
  if (/^\*+$/.test(p)) return 'only wildcards: it would match every client id; leave clientIds out to let a user use any id no one reserved';
  return null;
}

/** A compiled pattern: the literal pieces between its `*`s. */
export class ClientIdPattern {
  private readonly pieces: readonly string[];

  constructor(readonly text: string) {
    this.pieces = text.split('*');
  }

  /** Leftmost greedy matching of the literal pieces: linear in the id's length. */
  matches(id: string): boolean {
    const pieces = this.pieces;
    const first = pieces[0]!;
    if (pieces.length === 1) return id === first;
    const last = pieces[pieces.length - 1]!;
    if (id.length < first.length + last.length || !id.startsWith(first) || !id.endsWith(last)) return false;
    let at = first.length;
    const end = id.length - last.length;
    for (let k = 1; k < pieces.length - 1; k++) {
      const piece = pieces[k]!;
      if (piece === '') continue;
      const found = id.indexOf(piece, at);
      if (found < 0 || found + piece.length > end) return false;
      at = found + piece.length;
    }
    return true;
  }
}

/**
 * A client id both patterns match, or null when there is none (the shortest such id is not promised,
 * only a true one). Dynamic programming over the positions of both patterns: O(|a| × |b|).
 */
export function commonClientId(a: string, b: string): string | null {
  // Quick necessary condition, which settles most pairs: a common id starts with both literal
  // prefixes (before the first *) and ends with both literal suffixes (after the last *).
  const agree = (x: string, y: string, fromEnd: boolean): boolean => {
    const k = Math.min(x.length, y.length);
    return fromEnd ? x.slice(x.length - k) === y.slice(y.length - k) : x.slice(0, k) === y.slice(0, k);
  };
  const head = (p: string): string => (p.includes('*') ? p.slice(0, p.indexOf('*')) : p);
  const tail = (p: string): string => p.slice(p.lastIndexOf('*') + 1);
  if (!agree(head(a), head(b), false) || !agree(tail(a), tail(b), true)) return null;
  const n = a.length;
  const m = b.length;
  // ok[i][j]: the rests a[i..] and b[j..] match a common string.
  const ok: boolean[][] = Array.from({ length: n + 1 }, () => new Array<boolean>(m + 1).fill(false));
  for (let i = n; i >= 0; i--) {
    for (let j = m; j >= 0; j--) {
      if (i === n && j === m) ok[i]![j] = true;
      else if (i < n && a[i] === '*') ok[i]![j] = ok[i + 1]![j]! || (j < m && ok[i]![j + 1]!);
      else if (j < m && b[j] === '*') ok[i]![j] = ok[i]![j + 1]! || (i < n && ok[i + 1]![j]!);
      else ok[i]![j] = i < n && j < m && a[i] === b[j] && ok[i + 1]![j + 1]!;
    }
  }
  if (!ok[0]![0]) return null;
  // Walk one path of true cells, writing down the characters it consumes.
  let out = '';
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && a[i] === '*') {
      if (ok[i + 1]![j]) i++;
      else {
        if (b[j] !== '*') out += b[j];
        j++; // a's star takes b[j] (b's star: takes nothing)
      }
    } else if (j < m && b[j] === '*') {
      if (ok[i]![j + 1]) j++;
      else {
        out += a[i];
        i++;
      }
    } else {
      out += a[i];
      i++;
      j++;
    }
  }
  return out;
}

/** "user:pmu" → `user "pmu"`, for log lines; "anonymous" stays. */
export const showOwner = (owner: string): string => (owner.startsWith('user:') ? `user "${owner.slice(5)}"` : owner);

/** One user's rules on client ids. */
export interface ClientIdRules {
  /** `user:<name>`, or `anonymous` for clients without a username. */
  owner: string;
  /** Patterns of the ids this user may use, and that no one else may: empty for no rule. */
  clientIds: readonly string[];
  /** Persistent sessions this user may hold at once (undefined: only the global bound). */
  maxSessions?: number | undefined;
}

export type ClaimRefusal = 'client_id_not_allowed' | 'client_id_taken' | 'too_many_sessions';

export type Claim<C> =
  | {
      ok: true;
      /**
       * Another user's session of this id that the claim ended (an owner taking over an id reserved
       * for it): its live connection, if any, must be closed, and its stored state (subscriptions,
       * queue, QoS 2 ids, will) wiped before the claimant's session is set up.
       */
      evicted: { owner: string; live: C | null } | null;
    }
  | { ok: false; reason: ClaimRefusal; detail: string };

interface Entry<C> {
  owner: string;
  /** A persistent session (clean: false), kept after its connection closes. */
  persistent: boolean;
  /** The connection that holds the id now, if any. */
  live: C | null;
  /** When its last connection closed (the table's clock, ms), while no connection holds it; null while one does. */
  offlineAt: number | null;
}

/** One persistent session as the table knows it (`list`, `end`). */
export interface SessionEntry<C> {
  clientId: string;
  owner: string;
  /** The connection that holds it now, or null (offline). */
  live: C | null;
  /** When it went offline (the table's clock, ms), or null while connected. */
  offlineAt: number | null;
}

interface UserRules {
  patterns: ClientIdPattern[];
  maxSessions: number | undefined;
}

/**
 * The client ids in use: for each, who owns its session, whether it is persistent, and which
 * connection (of type C) holds it now. Entries of clean sessions go when their connection closes;
 * those of persistent sessions stay until their owner connects with clean: true (or they are taken
 * over). Holds no reference to a closed connection.
 */
export class ClientIdTable<C> {
  private readonly entries = new Map<string, Entry<C>>();
  /** Persistent sessions per owner. */
  private readonly perOwner = new Map<string, number>();
  private persistentCount = 0;
  /** Persistent sessions no connection holds now. */
  private offlineCount = 0;
  private rules = new Map<string, UserRules>();
  /** Every owner's patterns, for the reservation check. */
  private reservations: { owner: string; pattern: ClientIdPattern }[] = [];

  /**
   * @param onCount called with the number of persistent sessions, and of those offline, whenever either changes
   * @param now the clock of `offlineAt` (ms; default: the monotonic performance.now)
   */
  constructor(
    rules: readonly ClientIdRules[],
    private maxSessions: number,
    private readonly onCount: (persistent: number, offline: number) => void = () => undefined,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.setRules(rules, maxSessions);
  }

  /** Replace the rules (a config reload): they apply to the next claims; sessions that exist stay as they are. */
  setRules(rules: readonly ClientIdRules[], maxSessions: number): void {
    this.maxSessions = maxSessions;
    this.rules = new Map(rules.map((r) => [r.owner, { patterns: r.clientIds.map((p) => new ClientIdPattern(p)), maxSessions: r.maxSessions }]));
    this.reservations = [...this.rules].flatMap(([owner, r]) => r.patterns.map((pattern) => ({ owner, pattern })));
  }

  /** Persistent sessions now (connected or not). */
  get persistent(): number {
    return this.persistentCount;
  }

  /** Persistent sessions no connection holds now. */
  get offline(): number {
    return this.offlineCount;
  }

  /** Every persistent session, in the order they were created (or last claimed). */
  list(): SessionEntry<C>[] {
    const out: SessionEntry<C>[] = [];
    for (const [clientId, e] of this.entries) if (e.persistent) out.push({ clientId, owner: e.owner, live: e.live, offlineAt: e.offlineAt });
    return out;
  }

  /** The persistent session of `id`, or undefined (none, or a clean session). */
  get(id: string): SessionEntry<C> | undefined {
    const e = this.entries.get(id);
    return e?.persistent ? { clientId: id, owner: e.owner, live: e.live, offlineAt: e.offlineAt } : undefined;
  }

  /**
   * End the persistent session of `id` (an operator's command, an expiry): the id is free at once and
   * its place under the bounds given back. Returns what it was, or undefined when `id` has no
   * persistent session (nothing changes). The caller closes `live` and wipes the stored session.
   */
  end(id: string): SessionEntry<C> | undefined {
    const e = this.entries.get(id);
    if (!e?.persistent) return undefined;
    this.remove(id, e);
    return { clientId: id, owner: e.owner, live: e.live, offlineAt: e.offlineAt };
  }

  /** The owners an id is reserved for (empty: first come, first served). */
  reservedFor(id: string): string[] {
    const out: string[] = [];
    for (const r of this.reservations) if (r.pattern.matches(id) && !out.includes(r.owner)) out.push(r.owner);
    return out;
  }

  /**
   * May `owner` open a session with client id `id` now (after its credentials were checked)? On
   * success the id is recorded as held by `conn` (see Claim for a take-over). Refusals change nothing.
   */
  claim(id: string, owner: string, clean: boolean, conn: C): Claim<C> {
    const mine = this.rules.get(owner);
    if (mine && mine.patterns.length > 0 && !mine.patterns.some((p) => p.matches(id)))
      return { ok: false, reason: 'client_id_not_allowed', detail: `client id "${id}" is not one of the user's clientIds` };
    const reserved = this.reservedFor(id);
    if (reserved.length > 0 && !reserved.includes(owner))
      return { ok: false, reason: 'client_id_not_allowed', detail: `client id "${id}" is reserved for ${reserved.map(showOwner).join(', ')}` };
    const prev = this.entries.get(id);
    let evicted: Entry<C> | null = null;
    if (prev && prev.owner !== owner) {
      // The id is reserved for the claimant and not for the holder (the reservation came later): take it over.
      if (reserved.includes(owner) && !reserved.includes(prev.owner)) evicted = prev;
      else return { ok: false, reason: 'client_id_taken', detail: `the session of client id "${id}" belongs to another user` };
    }
    const resumes = prev !== undefined && evicted === null && prev.persistent;
    if (!clean && !resumes) {
      const freed = evicted?.persistent ? 1 : 0;
      if (this.persistentCount - freed >= this.maxSessions)
        return { ok: false, reason: 'too_many_sessions', detail: `${this.persistentCount} persistent sessions, mqtt.maxSessions is ${this.maxSessions}` };
      const own = mine?.maxSessions;
      if (own !== undefined && (this.perOwner.get(owner) ?? 0) >= own)
        return { ok: false, reason: 'too_many_sessions', detail: `the user holds ${own} persistent sessions, its maxSessions` };
    }
    if (prev) this.remove(id, prev);
    this.entries.set(id, { owner, persistent: !clean, live: conn, offlineAt: null });
    if (!clean) this.count(owner, +1);
    return { ok: true, evicted: evicted ? { owner: evicted.owner, live: evicted.live } : null };
  }

  /** `conn`, which held (or tried to hold) `id`, closed: a clean session ends; a persistent one stays, offline. */
  closed(id: string, conn: C): void {
    const e = this.entries.get(id);
    if (!e || e.live !== conn) return;
    if (e.persistent) {
      e.live = null;
      e.offlineAt = this.now();
      this.offlineCount++;
      this.onCount(this.persistentCount, this.offlineCount);
    } else this.remove(id, e);
  }

  private remove(id: string, e: Entry<C>): void {
    this.entries.delete(id);
    if (!e.persistent) return;
    if (e.live === null) this.offlineCount--;
    this.count(e.owner, -1);
  }

  private count(owner: string, d: 1 | -1): void {
    const n = (this.perOwner.get(owner) ?? 0) + d;
    if (n > 0) this.perOwner.set(owner, n);
    else this.perOwner.delete(owner);
    this.persistentCount += d;
    this.onCount(this.persistentCount, this.offlineCount);
  }
}

/** Two users' patterns that reserve a common client id: `users[j].clientIds[l]` overlaps `users[i].clientIds[k]` (i < j). */
export interface Overlap {
  i: number;
  k: number;
  j: number;
  l: number;
  /** A client id both patterns match. */
  example: string;
}

/**
 * Patterns of different users that reserve a common client id. Such an id would be reserved for
 * both, so each could be locked out by the other or take the other's session over: the config
 * refuses it. Patterns that are not valid (clientIdPatternProblem) are skipped; so are users
 * without a list. O(P²) pairs of patterns; most are settled by their literal ends, the others cost
 * O(length²) each. Stops after `limit` overlaps.
 */
export function reservationOverlaps(users: readonly { clientIds?: unknown }[], limit = Infinity): Overlap[] {
  const lists = users.map((u) =>
    Array.isArray(u.clientIds) ? u.clientIds.map((p) => (clientIdPatternProblem(p) === null ? (p as string) : null)) : [],
  );
  const out: Overlap[] = [];
  for (let j = 0; j < lists.length; j++)
    for (let l = 0; l < lists[j]!.length; l++) {
      const b = lists[j]![l];
      if (b === null || b === undefined) continue;
      for (let i = 0; i < j; i++)
        for (let k = 0; k < lists[i]!.length; k++) {
          const a = lists[i]![k];
          if (a === null || a === undefined) continue;
          const example = commonClientId(a, b);
          if (example !== null && out.push({ i, k, j, l, example }) >= limit) return out;
        }
    }
  return out;
}
