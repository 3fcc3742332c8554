/**
 * A strict reader of the Prometheus text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format), used to check /metrics.
 * Throws an Error naming the line for anything the format does not allow.
 */

export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface ParsedExposition {
  types: Map<string, string>;
  help: Map<string, string>;
  samples: ParsedSample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const VALUE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)$/;

function unescape(s: string, allowQuote: boolean, where: string): string {
  let out = '';
  for (let k = 0; k < s.length; k++) {
    const c = s[k]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = s[++k];
    if (n === '\\') out += '\\';
    else if (n === 'n') out += '\n';
    else if (n === '"' && allowQuote) out += '"';
    else throw new Error(`${where}: invalid escape \\${n ?? ''}`);
  }
  return out;
}

function parseLabels(body: string, where: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let k = 0;
  while (k < body.length) {
    const eq = body.indexOf('=', k);
    if (eq < 0) throw new Error(`${where}: label without '='`);
    const name = body.slice(k, eq);
    if (!LABEL.test(name)) throw new Error(`${where}: bad label name "${name}"`);
    if (name in labels) throw new Error(`${where}: label "${name}" twice`);
    if (body[eq + 1] !== '"') throw new Error(`${where}: label value must be quoted`);
    let j = eq + 2;
    let raw = '';
    for (; j < body.length && body[j] !== '"'; j++) {
      if (body[j] === '\\') raw += body[j++];
      if (body[j] === '\n') throw new Error(`${where}: raw line feed in label value`);
      raw += body[j];
    }
    if (j >= body.length) throw new Error(`${where}: unterminated label value`);
    labels[name] = unescape(raw, true, where);
    k = j + 1;
    if (k < body.length) {
      if (body[k] !== ',') throw new Error(`${where}: expected ',' between labels`);
      k++;
    }
  }
  return labels;
}

export function parseExposition(text: string): ParsedExposition {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a line feed');
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const samples: ParsedSample[] = [];
  const finished = new Set<string>();
  const series = new Set<string>();
  let current: string | null = null;
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((line, idx) => {
    const where = `line ${idx + 1}`;
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) return; // a plain comment
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`${where}: bad metric name "${name}"`);
      if (kind === 'HELP') {
        if (help.has(name)) throw new Error(`${where}: second HELP for ${name}`);
        help.set(name, unescape(rest, false, where));
      } else {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`${where}: bad type "${rest}"`);
        if (types.has(name)) throw new Error(`${where}: second TYPE for ${name}`);
        if (samples.some((s) => s.name === name)) throw new Error(`${where}: TYPE for ${name} after its samples`);
        types.set(name, rest);
      }
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(line);
    if (!m) throw new Error(`${where}: not a sample line: ${JSON.stringify(line)}`);
    const [, name, body, value] = m as unknown as [string, string, string | undefined, string];
    if (!VALUE.test(value)) throw new Error(`${where}: bad value "${value}"`);
    if (name !== current) {
      if (finished.has(name)) throw new Error(`${where}: samples of ${name} are not together`);
      if (current) finished.add(current);
      current = name;
    }
    const labels = body ? parseLabels(body, where) : {};
    const key = name + JSON.stringify(Object.entries(labels).sort());
    if (series.has(key)) throw new Error(`${where}: duplicate series ${key}`);
    series.add(key);
    samples.push({ name, labels, value: Number(value.replace('Inf', 'Infinity')) });
  });
  return { types, help, samples };
}
