/**
 * Counters: what the agent receives, processes, drops, retries and rejects.
 * One registry per agent; the status page, `/api/v1/status`, `/metrics`, the CLI and the
 * metrics topic all read the same registry. Counters only ever go up (Prometheus counter
 * semantics); gauges are set. What each one means is in the metric catalogue
 * (agent/core/metrics.ts), which the registry starts from; plugins add theirs with `define`.
 */
import { METRICS, type MetricCatalogue, type MetricDef } from './metrics.js';

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
  private readonly defs = new Map<string, MetricDef>();
  /** Series created whose name is not in the catalogue, or whose label names differ from it. */
  private readonly strays = new Set<string>();

  constructor(catalogue: MetricCatalogue = METRICS) {
    for (const [name, def] of Object.entries(catalogue)) this.defs.set(name, def);
  }

  /** Add metrics to the catalogue (a plugin's own). An existing name keeps its first definition. */
  define(catalogue: MetricCatalogue): void {
    for (const [name, def] of Object.entries(catalogue)) if (!this.defs.has(name)) this.defs.set(name, def);
  }

  /** The help text of a metric (`# HELP` in /metrics). */
  description(name: string): string | undefined {
    return this.defs.get(name)?.help;
  }

  definition(name: string): MetricDef | undefined {
    return this.defs.get(name);
  }

  /** The whole catalogue, by name. */
  catalogue(): Record<string, MetricDef> {
    return Object.fromEntries(this.defs);
  }

  /** Series that were counted but do not match the catalogue (name unknown, or other label names). */
  uncatalogued(): string[] {
    return [...this.strays].sort();
  }

  /** Checked once per new series, so the per-message cost stays one map lookup. */
  private checkNew(name: string, labels: Labels | undefined, type: MetricDef['type']): void {
    const def = this.defs.get(name);
    const names = labels ? Object.keys(labels).sort().join(',') : '';
    if (!def) this.strays.add(`${name}: not in the catalogue`);
    else if (def.type !== type) this.strays.add(`${name}: a ${def.type} used as a ${type}`);
    else if ([...def.labels].sort().join(',') !== names) this.strays.add(`${name}: labels {${names}}, catalogue says {${def.labels.join(',')}}`);
  }

  inc(name: string, labels?: Labels, by = 1): void {
    const k = keyOf(name, labels);
    const s = this.counters.get(k);
    if (s) s.value += by;
    else {
      this.checkNew(name, labels, 'counter');
      this.counters.set(k, { name, labels: labels ?? {}, value: by });
    }
  }

  set(name: string, value: number, labels?: Labels): void {
    const k = keyOf(name, labels);
    const s = this.gauges.get(k);
    if (s) s.value = value;
    else {
      this.checkNew(name, labels, 'gauge');
      this.gauges.set(k, { name, labels: labels ?? {}, value });
    }
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
