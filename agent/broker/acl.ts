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

const CACHE_LIMIT = 1024;

/**
 * One user's ACL with a small cache of publish decisions (a device publishes to the same few
 * topics at high rate, so the filter walk runs once per topic, not once per message).
 */
export class UserAcl {
  private readonly publishCache = new Map<string, boolean>();

  constructor(
    readonly publish: readonly string[],
    readonly subscribe: readonly string[],
  ) {}

  canPublish(topic: string): boolean {
    const hit = this.publishCache.get(topic);
    if (hit !== undefined) return hit;
    let ok = false;
    for (const f of this.publish) {
      if (topicAllowed(f, topic)) {
        ok = true;
        break;
      }
    }
    if (this.publishCache.size >= CACHE_LIMIT) this.publishCache.clear();
    this.publishCache.set(topic, ok);
    return ok;
  }

  canSubscribe(filter: string): boolean {
    for (const f of this.subscribe) if (filterCovers(f, filter)) return true;
    return false;
  }
}
