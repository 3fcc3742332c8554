/**
 * Counters: what the agent receives, processes, drops, retries and rejects.
 * One registry per agent; the status page, `/api/v1/status`, `/metrics`, the CLI and the
 * metrics topic all read the same registry. Counters only ever go up (Prometheus counter
 * semantics); gauges are set.
 */

export type Labels = Readonly<Record<string, string>>;

interface Series {
  name: string;
  labels: Labels;
  value: number;
}

export interface CounterSample {
  name: string;
  labels: Labels;
  value: number;
  kind: 'counter' | 'gauge';
}

function keyOf(name: string, labels: Labels | undefined): string {
  if (!labels) return name;
  const keys = Object.keys(labels);
  if (keys.length === 0) return name;
  keys.sort();
  let k = name + '{';
  for (const key of keys) k += `${key}=${labels[key]},`;
  return k + '}';
}

export class Counters {
  private readonly counters = new Map<string, Series>();
  private readonly gauges = new Map<string, Series>();
  private readonly help = new Map<string, string>();

  /** Optional one-line description, shown as `# HELP` in /metrics. */
  describe(name: string, text: string): void {
    this.help.set(name, text);
  }

  description(name: string): string | undefined {
    return this.help.get(name);
  }

  inc(name: string, labels?: Labels, by = 1): void {
    const k = keyOf(name, labels);
    const s = this.counters.get(k);
    if (s) s.value += by;
    else this.counters.set(k, { name, labels: labels ?? {}, value: by });
  }

  set(name: string, value: number, labels?: Labels): void {
    const k = keyOf(name, labels);
    const s = this.gauges.get(k);
    if (s) s.value = value;
    else this.gauges.set(k, { name, labels: labels ?? {}, value });
  }

  /** Current value of one counter or gauge series (0 when never touched). */
  get(name: string, labels?: Labels): number {
    const k = keyOf(name, labels);
    return this.counters.get(k)?.value ?? this.gauges.get(k)?.value ?? 0;
  }

  /** Sum of a counter over all its label sets. */
  total(name: string): number {
    let t = 0;
    for (const s of this.counters.values()) if (s.name === name) t += s.value;
    return t;
  }

  samples(): CounterSample[] {
    const out: CounterSample[] = [];
    for (const s of this.counters.values()) out.push({ ...s, kind: 'counter' });
    for (const s of this.gauges.values()) out.push({ ...s, kind: 'gauge' });
    out.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
    return out;
  }

  /**
   * A JSON view: `{ received: 10, rejected: { "reason=bad_json": 2 } }` — a series with no labels
   * is a number; series with labels are grouped under their name, keyed by `k=v,k2=v2`.
   */
  snapshot(): Record<string, number | Record<string, number>> {
    const out: Record<string, number | Record<string, number>> = {};
    for (const s of this.samples()) {
      const lk = Object.keys(s.labels)
        .sort()
        .map((k) => `${k}=${s.labels[k]}`)
        .join(',');
      if (!lk) {
        out[s.name] = s.value;
        continue;
      }
      const prev = out[s.name];
      const group: Record<string, number> = typeof prev === 'object' ? prev : {};
      if (typeof prev === 'number') group[''] = prev;
      group[lk] = s.value;
      out[s.name] = group;
    }
    return out;
  }
}
