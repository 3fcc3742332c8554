/**
 * The broker's user table, built at start-up from `mqtt.users` (and again by a reload that changes them, see
 * the broker's prepareUsers): plain passwords are hashed
 * (scrypt) and the clear text is replaced in the config object by the hash, so it is not kept in memory.
 */
import { isLoopback } from '../core/ip-address.js';
import type { MqttConfig, MqttUser } from '../core/config-types.js';
import { UserAcl } from './acl.js';
import { clientIdPatternProblem, reservationOverlaps, type ClientIdRules } from './client-ids.js';
import { hashPassword, parseHash, type ParsedHash } from './passwords.js';

export interface BrokerUser {
  username: string;
  hash: ParsedHash;
  acl: UserAcl;
}

export interface UserTable {
  users: Map<string, BrokerUser>;
  /** Whether clients without a username are let in (with full access). */
  anonymous: boolean;
}

/** A loopback address (core/ip-address.ts; in brackets too) or "localhost". */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || isLoopback(h);
}

/**
 * Validate and hash `cfg.users`; decide the anonymous rule (CONTRACT: anonymous clients are let in
 * iff `allowAnonymous` is set, or no user is configured and the broker binds a loopback address).
 * Throws an Error naming the offending entry (`mqtt.users[1].passwordHash: ...`).
 */
export function buildUserTable(cfg: MqttConfig): UserTable {
  const users = new Map<string, BrokerUser>();
  const list = cfg.users ?? [];
  list.forEach((u, k) => {
    const where = `mqtt.users[${k}]`;
    if (typeof u.username !== 'string' || u.username === '') throw new Error(`${where}.username: must be a non-empty string`);
    if (users.has(u.username)) throw new Error(`${where}.username: "${u.username}" is configured twice`);
    let hash: ParsedHash;
    if (typeof u.passwordHash === 'string' && u.passwordHash !== '') {
      try {
        hash = parseHash(u.passwordHash);
      } catch (e) {
        throw new Error(`${where}.passwordHash: ${(e as Error).message}`);
      }
    } else if (typeof u.password === 'string' && u.password !== '') {
      const text = hashPassword(u.password);
      hash = parseHash(text);
      // Drop the clear text; keep the hash so a later re-creation from the same object still works.
      u.passwordHash = text;
      delete u.password;
    } else {
      throw new Error(`${where}: needs "password" or "passwordHash"`);
    }
    users.set(u.username, { username: u.username, hash, acl: new UserAcl([...(u.publish ?? [])], [...(u.subscribe ?? [])]) });
  });
  const loopback = isLoopbackHost(cfg.host);
  if (!loopback && users.size === 0 && !cfg.allowAnonymous)
    throw new Error(
      `mqtt.host: binding "${cfg.host}" (not loopback) with no mqtt.users would let anyone on the network in; ` +
        'configure mqtt.users or set mqtt.allowAnonymous: true explicitly',
    );
  return { users, anonymous: cfg.allowAnonymous === true || (users.size === 0 && loopback) };
}

/** Whether two parsed hashes are the same hash (same parameters, salt and key). */
export function sameHash(a: ParsedHash, b: ParsedHash): boolean {
  return a.N === b.N && a.r === b.r && a.p === b.p && a.salt.equals(b.salt) && a.hash.equals(b.hash);
}

/** "user:<name>" for a user, "anonymous" for clients without a username: the owner of a client id's session. */
export const ownerOf = (user: { username: string } | null): string => (user ? `user:${user.username}` : 'anonymous');

/**
 * The client-id rules of `mqtt.users` (`clientIds`, `maxSessions`), checked as the config check does:
 * throws an Error naming the first bad entry (`mqtt.users[1].clientIds[0]: ...`) or overlap.
 */
export function clientIdRulesOf(list: readonly Partial<MqttUser>[]): ClientIdRules[] {
  const rules = list.map((u, k): ClientIdRules => {
    const where = `mqtt.users[${k}]`;
    const clientIds = u.clientIds ?? [];
    if (!Array.isArray(clientIds)) throw new Error(`${where}.clientIds: must be a list`);
    clientIds.forEach((p, l) => {
      const problem = clientIdPatternProblem(p);
      if (problem) throw new Error(`${where}.clientIds[${l}]: must be a client id or a pattern with * wildcards: ${problem}`);
    });
    const maxSessions = u.maxSessions ?? undefined;
    if (maxSessions !== undefined && (!Number.isInteger(maxSessions) || maxSessions < 0))
      throw new Error(`${where}.maxSessions: must be an integer of at least 0`);
    return { owner: ownerOf({ username: String(u.username) }), clientIds: [...clientIds], maxSessions };
  });
  const o = reservationOverlaps(list, 1)[0];
  if (o)
    throw new Error(
      `mqtt.users[${o.j}].clientIds[${o.l}]: overlaps mqtt.users[${o.i}].clientIds[${o.k}] (both match "${o.example}"); a client id can be reserved for one user only`,
    );
  return rules;
}
