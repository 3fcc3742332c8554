/**
 * Topic ACLs for authenticated users: a publish is allowed when its topic matches one of the user's
 * `publish` filters; a subscription when its filter is *covered* by one of the `subscribe` filters,
 * i.e. every topic the requested filter can match is also matched by the allowed filter
 * (MQTT 3.1.1 §4.7: `+` is one level, `#` the parent level and everything below it, and filters
 * starting with a wildcard never match topics starting with `$`).
 */
import { matchFilter } from '../core/topics.js';

const startsWithDollar = (s: string): boolean => s.charCodeAt(0) === 36;

/** True when every topic matched by `requested` is also matched by `allowed`. */
export function filterCovers(allowed: string, requested: string): boolean {
  const a = allowed.split('/');
  const r = requested.split('/');
  // `#`/`+` at the first level of `allowed` does not reach `$SYS/...`-style topics.
  if (startsWithDollar(requested) && (a[0] === '#' || a[0] === '+')) return false;
  for (let k = 0; k < r.length; k++) {
    const al = a[k];
    const rl = r[k]!;
    if (al === undefined) return false; // requested is deeper than allowed
    if (al === '#') return true; // covers this level, the parent, and everything below
    if (rl === '#') return false; // requested reaches levels `allowed` does not (allowed is not '#' here)
    if (rl === '+') {
      if (al !== '+') return false;
    } else if (al !== '+' && al !== rl) return false;
  }
  // requested is exhausted: allowed must end here too, or continue only with '#' (which matches its parent).
  return a.length === r.length || (a.length === r.length + 1 && a[r.length] === '#');
}

/** True when `topic` (no wildcards) matches `filter`, honouring the `$` rule. */
export function topicAllowed(filter: string, topic: string): boolean {
  if (startsWithDollar(topic) && (filter.startsWith('#') || filter.startsWith('+'))) return false;
  return matchFilter(filter, topic) !== null;
}

/**
 * Why a topic name or filter from the network is refused, or null when it is fine. MQTT 3.1.1
 * §1.5.3 forbids U+0000 and lets a server close the connection on U+0001..U+001F and
 * U+007F..U+009F; mqtt-packet decodes ill-formed UTF-8 as U+FFFD, so U+FFFD stands for invalid
 * UTF-8 (a genuine U+FFFD is refused too). The broker closes the connection on any of these, as
 * mosquitto does.
 */
export function topicProblem(topic: string): string | null {
  for (let k = 0; k < topic.length; k++) {
    const c = topic.charCodeAt(k);
    if (c >= 0x20 && c < 0x7f) continue;
    if (c === 0) return `NUL character at offset ${k}`;
    if (c === 0xfffd) return `invalid UTF-8 (U+FFFD) at offset ${k}`;
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return `control character U+${c.toString(16).toUpperCase().padStart(4, '0')} at offset ${k}`;
  }
  return null;
}

const CACHE_LIMIT = 1024;

/**
 * One user's ACL with small caches of publish and read decisions (a device publishes to the same
 * few topics at high rate, so the filter walk runs once per topic, not once per message).
 */
export class UserAcl {
  private readonly publishCache = new Map<string, boolean>();
  private readonly readCache = new Map<string, boolean>();

  constructor(
    readonly publish: readonly string[],
    readonly subscribe: readonly string[],
  ) {}

  canPublish(topic: string): boolean {
    return cachedMatch(this.publishCache, this.publish, topic);
  }

  /** May this user receive a message on `topic`: it matches one of the `subscribe` filters. Checked on every delivery. */
  canRead(topic: string): boolean {
    return cachedMatch(this.readCache, this.subscribe, topic);
  }

  canSubscribe(filter: string): boolean {
    for (const f of this.subscribe) if (filterCovers(f, filter)) return true;
    return false;
  }
}

function cachedMatch(cache: Map<string, boolean>, filters: readonly string[], topic: string): boolean {
  const hit = cache.get(topic);
  if (hit !== undefined) return hit;
  let ok = false;
  for (const f of filters) {
    if (topicAllowed(f, topic)) {
      ok = true;
      break;
    }
  }
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(topic, ok);
  return ok;
}
