/**
 * MATPOWER case files (format version 2) read as data, never run. The reader accepts the function
 * header, `mpc.<field> = <value>;` assignments whose value is a number, a quoted string, a numeric
 * matrix `[ ... ]` (elements separated by blanks or commas, rows by `;` or a line break, `...`
 * continues a line) or a cell array of strings `{ ... }`, and `%` comments. Any other statement (the
 * code some case files carry after their tables) is skipped and reported in `warnings` with its
 * line: its effect is not applied. A malformed value is an error naming the file, line and column.
 */
import { GridInputError } from './errors.js';
import { checkNetwork, type Bus, type BusType, type Network } from './network.js';

type Value = { kind: 'number'; v: number } | { kind: 'string'; v: string } | { kind: 'matrix'; rows: number[][]; lines: number[] } | { kind: 'cell'; v: string[] };

export interface MatpowerCase {
  name: string;
  fields: Map<string, { value: Value; line: number }>;
  warnings: string[];
}

class Scanner {
  pos = 0;
  line = 1;
  col = 1;
  constructor(
    readonly text: string,
    readonly file: string,
  ) {}
  peek(o = 0): string {
    return this.text[this.pos + o] ?? '';
  }
  next(): string {
    const c = this.text[this.pos++] ?? '';
    if (c === '\n') {
      this.line++;
      this.col = 1;
    } else this.col++;
    return c;
  }
  eof(): boolean {
    return this.pos >= this.text.length;
  }
  fail(msg: string, line = this.line, col = this.col): never {
    throw new GridInputError('syntax', `${this.file}:${line}:${col}: ${msg}`);
  }
  /** Skips blanks and tabs (and `...` continuations with the rest of their line), not line breaks. */
  blanks(): void {
    for (;;) {
      const c = this.peek();
      if (c === ' ' || c === '\t' || c === '\r') this.next();
      else if (c === '.' && this.peek(1) === '.' && this.peek(2) === '.') {
        while (!this.eof() && this.peek() !== '\n') this.next();
        if (!this.eof()) this.next();
      } else return;
    }
  }
  comment(): void {
    while (!this.eof() && this.peek() !== '\n') this.next();
  }
  restOfLine(): string {
    const s = this.pos;
    while (!this.eof() && this.peek() !== '\n') this.next();
    return this.text.slice(s, this.pos);
  }
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/;
const SPECIAL = /^[+-]?(?:Inf|inf|NaN|nan)\b/;

function readNumber(s: Scanner): number | undefined {
  const rest = s.text.slice(s.pos, s.pos + 64);
  const m = NUMBER.exec(rest) ?? SPECIAL.exec(rest);
  if (!m) return undefined;
  for (let i = 0; i < m[0].length; i++) s.next();
  const t = m[0].replace(/^\+/, '');
  if (/inf/i.test(t)) return t.startsWith('-') ? -Infinity : Infinity;
  if (/nan/i.test(t)) return NaN;
  return Number(t);
}

function readString(s: Scanner): string {
  const line = s.line;
  const col = s.col;
  s.next(); // opening quote
  let out = '';
  for (;;) {
    if (s.eof() || s.peek() === '\n') s.fail('unterminated string', line, col);
    const c = s.next();
    if (c === "'") {
      if (s.peek() === "'") {
        s.next();
        out += "'";
      } else return out;
    } else out += c;
  }
}

function readMatrix(s: Scanner): Value {
  const line0 = s.line;
  const col0 = s.col;
  s.next(); // [
  const rows: number[][] = [];
  const lines: number[] = [];
  let row: number[] = [];
  let rowLine = s.line;
  const endRow = () => {
    if (row.length) {
      rows.push(row);
      lines.push(rowLine);
    }
    row = [];
  };
  for (;;) {
    s.blanks();
    if (s.eof()) s.fail("matrix not closed (missing ']')", line0, col0);
    const c = s.peek();
    if (c === ']') {
      s.next();
      endRow();
      break;
    }
    if (c === '%') s.comment();
    else if (c === '\n' || c === ';') {
      s.next();
      endRow();
    } else if (c === ',') s.next();
    else {
      if (!row.length) rowLine = s.line;
      const line = s.line;
      const col = s.col;
      const v = readNumber(s);
      if (v === undefined) s.fail(`expected a number in the matrix, found ${JSON.stringify(s.text.slice(s.pos).match(/^\S{1,20}/)?.[0] ?? c)}`, line, col);
      const after = s.peek();
      if (after !== '' && !/[\s,;\]%]/.test(after)) s.fail(`unexpected ${JSON.stringify(after)} after the number`, s.line, s.col);
      row.push(v);
    }
  }
  const width = rows[0]?.length ?? 0;
  rows.forEach((r, i) => {
    if (r.length !== width) s.fail(`matrix row has ${r.length} columns, the first row has ${width}`, lines[i] ?? line0, 1);
  });
  return { kind: 'matrix', rows, lines };
}

function readCell(s: Scanner): Value {
  const line0 = s.line;
  const col0 = s.col;
  s.next(); // {
  const out: string[] = [];
  for (;;) {
    s.blanks();
    if (s.eof()) s.fail("cell array not closed (missing '}')", line0, col0);
    const c = s.peek();
    if (c === '}') {
      s.next();
      return { kind: 'cell', v: out };
    }
    if (c === '%') s.comment();
    else if (c === '\n' || c === ';' || c === ',') s.next();
    else if (c === "'") out.push(readString(s));
    else {
      const v = readNumber(s);
      if (v === undefined) s.fail(`expected a quoted string or a number in the cell array, found ${JSON.stringify(c)}`);
      out.push(String(v));
    }
  }
}

/** Parses the text of a case file (`file` names it in messages). Never evaluates anything. */
export function parseMatpowerText(text: string, file: string): MatpowerCase {
  const s: Scanner = new Scanner(text, file);
  const fields = new Map<string, { value: Value; line: number }>();
  const warnings: string[] = [];
  let out = 'mpc';
  let name = file.replace(/^.*[\\/]/, '').replace(/\.m$/, '');
  for (;;) {
    // statement start
    while (!s.eof() && /[\s;,]/.test(s.peek())) s.next();
    if (s.eof()) break;
    if (s.peek() === '%') {
      s.comment();
      continue;
    }
    const line = s.line;
    const col = s.col;
    const start = s.pos;
    const fm = /^function\s+(\w+)\s*=\s*(\w+)/.exec(text.slice(s.pos, s.pos + 200));
    if (fm) {
      out = fm[1]!;
      name = fm[2]!;
      s.restOfLine();
      continue;
    }
    const am = new RegExp(`^${out}\\.(\\w+)\\s*=\\s*`).exec(text.slice(s.pos, s.pos + 200));
    if (am) {
      for (let i = 0; i < am[0].length; i++) s.next();
      const field = am[1]!;
      const c = s.peek();
      let value: Value;
      if (c === '[') value = readMatrix(s);
      else if (c === '{') value = readCell(s);
      else if (c === "'") value = { kind: 'string', v: readString(s) };
      else {
        const vl = s.line;
        const vc = s.col;
        const v = readNumber(s);
        if (v === undefined) s.fail(`cannot read the value of ${out}.${field} (only numbers, strings, [matrices] and {cells} are read)`, vl, vc);
        value = { kind: 'number', v };
      }
      s.blanks();
      if (s.peek() === ';') s.next();
      s.blanks();
      if (s.peek() === '%') s.comment();
      else if (!s.eof() && s.peek() !== '\n') s.fail(`unexpected ${JSON.stringify(s.peek())} after the value of ${out}.${field}`);
      if (fields.has(field)) warnings.push(`${file}:${line}: ${out}.${field} assigned again; the last value is used`);
      fields.set(field, { value, line });
      continue;
    }
    // Anything else: skip to the end of the statement (brackets balanced, strings and comments respected).
    let depth = 0;
    while (!s.eof()) {
      const c = s.peek();
      if (c === "'" && depth >= 0 && /[\s=(,[{;]/.test(text[s.pos - 1] ?? ' ')) {
        readStringLoose(s);
        continue;
      }
      if (c === '%') {
        s.comment();
        if (depth === 0) break;
        continue;
      }
      if (c === '.' && s.peek(1) === '.' && s.peek(2) === '.') {
        s.blanks();
        continue;
      }
      if ('([{'.includes(c)) depth++;
      if (')]}'.includes(c)) depth--;
      if (depth <= 0 && (c === '\n' || c === ';')) break;
      s.next();
    }
    const stmt = text.slice(start, s.pos).replace(/\s+/g, ' ').trim();
    warnings.push(`${file}:${line}:${col}: statement not evaluated (case files are read as data, never run): ${stmt.length > 80 ? `${stmt.slice(0, 77)}...` : stmt}`);
  }
  return { name, fields, warnings };
}

function readStringLoose(s: Scanner): void {
  s.next();
  while (!s.eof() && s.peek() !== '\n') {
    if (s.next() === "'") {
      if (s.peek() === "'") s.next();
      else return;
    }
  }
}

const BUS_TYPES: Record<number, BusType> = { 1: 'pq', 2: 'pv', 3: 'ref', 4: 'isolated' };

/** Turns a parsed case into a Network (bus, gen, branch tables; bus_name when present). */
export function matpowerToNetwork(mc: MatpowerCase, file: string): Network {
  const errs: string[] = [];
  const matrix = (f: string, minCols: number): { rows: number[][]; lines: number[] } => {
    const e = mc.fields.get(f);
    if (!e) {
      errs.push(`${file}: mpc.${f} is missing`);
      return { rows: [], lines: [] };
    }
    if (e.value.kind !== 'matrix') {
      errs.push(`${file}:${e.line}: mpc.${f} must be a matrix`);
      return { rows: [], lines: [] };
    }
    const m = e.value;
    if (m.rows.length && m.rows[0]!.length < minCols) errs.push(`${file}:${e.line}: mpc.${f} needs at least ${minCols} columns, has ${m.rows[0]!.length}`);
    return m;
  };
  const version = mc.fields.get('version');
  if (version && !(version.value.kind === 'string' && version.value.v === '2') && !(version.value.kind === 'number' && version.value.v === 2))
    errs.push(`${file}:${version.line}: only MATPOWER case format version 2 is read`);
  const base = mc.fields.get('baseMVA');
  let baseMVA = 100;
  if (!base) errs.push(`${file}: mpc.baseMVA is missing`);
  else if (base.value.kind !== 'number' || !(base.value.v > 0)) errs.push(`${file}:${base.line}: mpc.baseMVA must be a positive number`);
  else baseMVA = base.value.v;
  const bus = matrix('bus', 13);
  const gen = matrix('gen', 10);
  const branch = matrix('branch', 11);
  if (errs.length) throw new GridInputError('format', errs);
  const names = mc.fields.get('bus_name');
  const busNames = names?.value.kind === 'cell' ? names.value.v : undefined;
  const finite = (v: number, line: number | undefined, what: string): number => {
    if (!Number.isFinite(v)) errs.push(`${file}:${line}: ${what} must be a finite number, got ${v}`);
    return v;
  };
  const buses: Bus[] = bus.rows.map((r, i) => {
    const L = bus.lines[i];
    const type = BUS_TYPES[r[1]!];
    if (!type) errs.push(`${file}:${L}: bus ${r[0]}: type must be 1 (PQ), 2 (PV), 3 (reference) or 4 (isolated), got ${r[1]}`);
    const b: Bus = {
      bus: finite(r[0]!, L, 'bus number'),
      type: type ?? 'pq',
      pd: finite(r[2]!, L, 'Pd'),
      qd: finite(r[3]!, L, 'Qd'),
      gs: finite(r[4]!, L, 'Gs'),
      bs: finite(r[5]!, L, 'Bs'),
      vm: finite(r[7]!, L, 'Vm'),
      va_deg: finite(r[8]!, L, 'Va'),
      baseKV: r[9]!,
    };
    const nm = busNames?.[i];
    if (nm !== undefined) b.name = nm.trim();
    return b;
  });
  const known = new Set(buses.map((b) => b.bus));
  const gens = gen.rows.map((r, i) => {
    const L = gen.lines[i];
    if (!known.has(r[0]!)) errs.push(`${file}:${L}: generator row ${i + 1}: unknown bus ${r[0]}`);
    return { bus: r[0]!, pg: finite(r[1]!, L, 'Pg'), qg: finite(r[2]!, L, 'Qg'), qmax: r[3]!, qmin: r[4]!, vg: finite(r[5]!, L, 'Vg'), status: r[7]! > 0 };
  });
  const branches = branch.rows.map((r, i) => {
    const L = branch.lines[i];
    if (!known.has(r[0]!)) errs.push(`${file}:${L}: branch row ${i + 1}: unknown from bus ${r[0]}`);
    if (!known.has(r[1]!)) errs.push(`${file}:${L}: branch row ${i + 1}: unknown to bus ${r[1]}`);
    return {
      from: r[0]!,
      to: r[1]!,
      r: finite(r[2]!, L, 'r'),
      x: finite(r[3]!, L, 'x'),
      b: finite(r[4]!, L, 'b'),
      ratio: finite(r[8]!, L, 'ratio'),
      angle_deg: finite(r[9]!, L, 'angle'),
      status: r[10]! > 0,
    };
  });
  if (errs.length) throw new GridInputError('format', errs);
  const net: Network = { name: mc.name, baseMVA, buses, gens, branches, warnings: mc.warnings };
  checkNetwork(net, file);
  return net;
}

export function parseMatpower(text: string, file: string): Network {
  return matpowerToNetwork(parseMatpowerText(text, file), file);
}
