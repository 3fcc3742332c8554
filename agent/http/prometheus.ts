/**
 * Prometheus text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format):
 * `# HELP` and `# TYPE` once per metric family, then one `name{label="value"} number` line per series.
 */
import type { CounterSample, Labels } from '../core/counters.js';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
export const METRIC_PREFIX = 'gridedge_';

export interface MetricFamily {
  name: string;
  type: 'counter' | 'gauge';
  help?: string;
  samples: { labels: Labels; value: number }[];
}

/** Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*; anything else becomes '_'. */
export function metricName(raw: string): string {
  const s = raw.replace(/[^a-zA-Z0-9_:]/g, '_');
  return /^[a-zA-Z_:]/.test(s) ? s : '_' + s;
}

/** Label names: [a-zA-Z_][a-zA-Z0-9_]*, and names starting with "__" are reserved. */
export function labelName(raw: string): string {
  let s = raw.replace(/[^a-zA-Z0-9_]/g, '_');
  if (!/^[a-zA-Z_]/.test(s)) s = '_' + s;
  return s.startsWith('__') ? 'l' + s : s;
}

/** Label values: backslash, double quote and line feed are escaped. */
export const escapeLabelValue = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** HELP text: backslash and line feed are escaped. */
export const escapeHelp = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

/** Go's ParseFloat spellings for the special values. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** Families from the counter registry: `gridedge_<name>_total` for counters, `gridedge_<name>` for gauges. */
export function familiesFromCounters(samples: readonly CounterSample[], describe: (name: string) => string | undefined): MetricFamily[] {
  const byName = new Map<string, MetricFamily>();
  for (const s of samples) {
    let name = METRIC_PREFIX + metricName(s.name);
    if (s.kind === 'counter' && !name.endsWith('_total')) name += '_total';
    let fam = byName.get(name);
    if (!fam) {
      fam = { name, type: s.kind, help: describe(s.name), samples: [] };
      byName.set(name, fam);
    }
    fam.samples.push({ labels: s.labels, value: s.value });
  }
  return [...byName.values()];
}

function renderLabels(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  return '{' + keys.map((k) => `${labelName(k)}="${escapeLabelValue(String(labels[k]))}"`).join(',') + '}';
}

/** Render families in order; a family whose name was already rendered is merged into the first one. */
export function renderExposition(families: readonly MetricFamily[]): string {
  const merged = new Map<string, MetricFamily>();
  for (const f of families) {
    const prev = merged.get(f.name);
    if (prev) prev.samples.push(...f.samples);
    else merged.set(f.name, { ...f, samples: [...f.samples] });
  }
  const out: string[] = [];
  for (const f of merged.values()) {
    if (f.help) out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`);
    out.push(`# TYPE ${f.name} ${f.type}`);
    const seen = new Set<string>();
    for (const s of f.samples) {
      const line = `${f.name}${renderLabels(s.labels)}`;
      if (seen.has(line)) continue; // one value per series
      seen.add(line);
      out.push(`${line} ${formatValue(s.value)}`);
    }
  }
  return out.join('\n') + '\n';
}
