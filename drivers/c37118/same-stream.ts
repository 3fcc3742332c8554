/**
 * "The same stream twice", by address: two stream entries read the same PMU stream when their hosts
 * resolve to a common address and their port and IDCODE are equal. The config check compares host
 * names as text (it runs offline); this runs at the driver's start and again before each connection
 * attempt, with the names resolved, so `localhost` and `127.0.0.1`, or two DNS names of one PMU, are
 * found to be the same stream too, and a name whose address changed is compared at its new address.
 *
 * - A name is resolved with the system resolver (`dns.lookup`, as a TCP connect does: /etc/hosts,
 *   then DNS), all of its addresses; a lookup that fails or takes longer than `timeoutMs` leaves the
 *   name unresolved: it is then compared as text (lower case) only, and the caller logs a warning.
 *   The connection attempt that follows a resolution goes to the addresses it found.
 * - A name with several addresses is every one of them: two entries sharing any address are the same.
 * - Within one driver (the main stream and its `streams`) a repeat fails the start. Across the
 *   c37118 drivers of one agent, the first to start holds its streams (`StreamClaims`) until it
 *   stops; another driver reading one of them fails its start (the agent retries it with backoff,
 *   so it starts once the other is gone, e.g. removed by a config reload).
 * - Each connection attempt re-resolves its stream's name and moves the stream's hold to the
 *   addresses found (`StreamClaims.reclaim`); when another stream holds one of them (the name now
 *   reaches a stream another entry reads), the attempt is not made, the stream holds nothing, and
 *   the attempt is retried with backoff. So a hold is always the addresses of the stream's current
 *   connection or its next attempt, never ones its name no longer leads to.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';

/** Every address of a host name (IPv4 and IPv6). */
export type Lookup = (host: string) => Promise<string[]>;

export const systemLookup: Lookup = async (host) => (await dnsLookup(host, { all: true, verbatim: true })).map((a) => a.address);

/** A stream entry as the check sees it. */
export interface StreamRef {
  /** Where it is given: `the main stream`, `streams[0]` … */
  where: string;
  host: string;
  port: number;
  idcode: number;
}

export interface ResolvedStream extends StreamRef {
  /** Its addresses, or null when the name could not be resolved (compared as text then). */
  addresses: string[] | null;
  /** Why it could not be resolved. */
  error?: string;
}

/** One address in one spelling: IPv6 compressed and lower case, IPv4-mapped IPv6 as IPv4. */
export function canonicalAddress(a: string): string {
  if (isIP(a) !== 6) return a;
  const h = new URL(`http://[${a}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(h);
  if (!mapped) return h;
  const hi = parseInt(mapped[1]!, 16), lo = parseInt(mapped[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** Resolve a stream's host: an address as it is, a name by `lookup` within `timeoutMs`. */
export async function resolveStream(s: StreamRef, lookup: Lookup, timeoutMs: number): Promise<ResolvedStream> {
  const host = s.host.trim();
  if (isIP(host)) return { ...s, addresses: [canonicalAddress(host)] };
  let timer: NodeJS.Timeout | undefined;
  try {
    const addresses = await Promise.race([
      lookup(host),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    if (addresses.length === 0) return { ...s, addresses: null, error: 'no address' };
    // In the resolver's order: the connection tries them in that order.
    return { ...s, addresses: [...new Set(addresses.map(canonicalAddress))] };
  } catch (e) {
    return { ...s, addresses: null, error: (e as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

/** The keys a stream is known by: one per address (or its name, unresolved), with port and IDCODE. */
export function streamKeys(s: ResolvedStream): string[] {
  const ids = s.addresses ?? [`name:${s.host.trim().toLowerCase()}`];
  return ids.map((a) => `${a}|${s.port}|${s.idcode}`);
}

function describe(s: ResolvedStream): string {
  return `${s.host}:${s.port}, IDCODE ${s.idcode}${s.addresses && !isIP(s.host.trim()) ? ` (${s.addresses.join(', ')})` : ''}`;
}

/** What two entries reading one stream share, for the message. */
function shared(a: ResolvedStream, b: ResolvedStream): string {
  const bs = new Set(streamKeys(b));
  const common = streamKeys(a).filter((k) => bs.has(k)).map((k) => k.split('|')[0]!);
  return common.map((c) => (c.startsWith('name:') ? c.slice(5) : c)).join(', ');
}

/** A problem for each entry that reads a stream an earlier entry of the list reads. */
export function repeatedStreams(list: readonly ResolvedStream[]): string[] {
  const out: string[] = [];
  const seen = new Map<string, ResolvedStream>();
  for (const s of list) {
    const first = streamKeys(s).map((k) => seen.get(k)).find((x) => x !== undefined);
    if (first) {
      out.push(`${s.where} (${describe(s)}) reads the same stream as ${first.where} (${describe(first)}): both reach ${shared(s, first)}; give each stream once`);
      continue;
    }
    for (const k of streamKeys(s)) seen.set(k, s);
  }
  return out;
}

/** The streams the running c37118 drivers of one agent read, by key. */
export class StreamClaims {
  private readonly held = new Map<string, { owner: object; driver: string; stream: ResolvedStream }>();

  /**
   * Hold every stream of one driver instance (`owner`, named `driver` in messages); throws naming
   * the other driver when another instance holds one already (nothing is held then).
   */
  claim(owner: object, driver: string, streams: readonly ResolvedStream[]): void {
    for (const s of streams)
      for (const k of streamKeys(s)) {
        const h = this.held.get(k);
        if (h && h.owner !== owner)
          throw new Error(
            `${s.where} (${describe(s)}) reads the same stream as driver ${h.driver}, ${h.stream.where} (${describe(h.stream)}): both reach ${shared(s, h.stream)}; read each stream with one driver`,
          );
      }
    for (const s of streams) for (const k of streamKeys(s)) this.held.set(k, { owner, driver, stream: s });
  }

  /**
   * Move the hold of one stream of `owner` (named by its `where`) to `stream`'s keys now: its new
   * addresses after a fresh resolution. Returns why not, naming the holder, when another driver or
   * another stream of the same driver holds one of those keys; the stream then holds nothing (its
   * name no longer leads to its old addresses, so another entry may read those) until a later
   * reclaim succeeds. Null once moved.
   */
  reclaim(owner: object, driver: string, stream: ResolvedStream): string | null {
    const mine = (h: { owner: object; stream: ResolvedStream }): boolean => h.owner === owner && h.stream.where === stream.where;
    for (const [k, h] of this.held) if (mine(h)) this.held.delete(k);
    for (const k of streamKeys(stream)) {
      const h = this.held.get(k);
      if (!h) continue;
      const who = h.owner === owner ? h.stream.where : `driver ${h.driver}, ${h.stream.where}`;
      return `${stream.where} (${describe(stream)}) now reads the same stream as ${who} (${describe(h.stream)}): both reach ${shared(stream, h.stream)}; not connecting (retried with backoff)`;
    }
    for (const k of streamKeys(stream)) this.held.set(k, { owner, driver, stream });
    return null;
  }

  release(owner: object): void {
    for (const [k, h] of this.held) if (h.owner === owner) this.held.delete(k);
  }
}

/**
 * The claims of one agent. The agent hands every plugin of it the same counters object, one per
 * agent, so that object names the agent here (two agents in one process, as in tests, do not see
 * each other's streams).
 */
const claimsByAgent = new WeakMap<object, StreamClaims>();

export function claimsOf(agent: object): StreamClaims {
  let c = claimsByAgent.get(agent);
  if (!c) claimsByAgent.set(agent, (c = new StreamClaims()));
  return c;
}
