/**
 * MQTT topic filters and the forwarders' topic map: in `to`, each `+` and `#` is replaced, in order,
 * by what the corresponding wildcard in `from` matched.
 */

export const RAW_PREFIX = 'bal/raw/';
export const PROCESSED_PREFIX = 'bal/processed/';

export const rawTopic = (device: string): string => RAW_PREFIX + device;
export const processedTopic = (device: string): string => PROCESSED_PREFIX + device;
export const statsTopic = (device: string, window: string): string =>
  `${PROCESSED_PREFIX}${device}/stats/${window}`;
export const statusTopic = (gw: string): string => `gridedge/${gw}/status`;
export const metricsTopic = (gw: string): string => `gridedge/${gw}/metrics`;

/** Why a topic filter is not valid, or null when it is. */
export function filterError(filter: string): string | null {
  if (filter.length === 0) return 'must not be empty';
  const levels = filter.split('/');
  for (let k = 0; k < levels.length; k++) {
    const l = levels[k]!;
    if (l.includes('#') && (l !== '#' || k !== levels.length - 1)) return "'#' must be a whole level and the last one";
    if (l.includes('+') && l !== '+') return "'+' must be a whole level";
  }
  return null;
}

/**
 * Match `topic` against `filter`. Returns the parts the wildcards matched, in order
 * (`+` one level, `#` the rest joined with '/'), or null when it does not match.
 */
export function matchFilter(filter: string, topic: string): string[] | null {
  const f = filter.split('/');
  const t = topic.split('/');
  const caught: string[] = [];
  for (let k = 0; k < f.length; k++) {
    const fl = f[k]!;
    if (fl === '#') {
      // '#' also matches the parent level itself ("a/#" matches "a").
      caught.push(t.slice(k).join('/'));
      return caught;
    }
    if (k >= t.length) return null;
    if (fl === '+') caught.push(t[k]!);
    else if (fl !== t[k]) return null;
  }
  return f.length === t.length ? caught : null;
}

/** Fill the wildcards of `to` with `caught`, in order. A `#` with nothing caught drops its '/'. */
export function fillTemplate(to: string, caught: readonly string[]): string {
  let n = 0;
  const out: string[] = [];
  for (const level of to.split('/')) {
    if (level === '+' || level === '#') {
      const part = caught[n++] ?? '';
      if (level === '#' && part === '') continue;
      out.push(part);
    } else out.push(level);
  }
  return out.join('/');
}

export interface TopicMapEntry {
  from: string;
  to: string;
}

/** First matching entry wins; null when no entry matches. */
export function mapTopic(map: readonly TopicMapEntry[], topic: string): string | null {
  for (const e of map) {
    const caught = matchFilter(e.from, topic);
    if (caught) return fillTemplate(e.to, caught);
  }
  return null;
}
