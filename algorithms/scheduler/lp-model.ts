/**
 * A small linear / mixed-integer model builder: variables with bounds and a type, linear constraints
 * grouped by family (so an infeasible job can be explained by the family that causes it), and a
 * linear objective to minimise. The model is handed to HiGHS as structured arrays (`toHighsData`, no
 * text in between) and can be written as a free-format MPS file (`toMps`) for other solvers
 * (glpsol reads it with `--freemps`).
 */

export type VarType = 'continuous' | 'binary';

export interface Var {
  readonly index: number;
  readonly name: string;
}

/** A linear expression: pairs of coefficient and variable. Repeated variables are summed. */
export type Terms = ReadonlyArray<readonly [number, Var]>;

interface Column {
  name: string;
  lb: number;
  ub: number;
  type: VarType;
  cost: number;
}

interface Row {
  name: string;
  family: string;
  lb: number;
  ub: number;
  idx: number[];
  val: number[];
}

export class LpModel {
  readonly cols: Column[] = [];
  readonly rows: Row[] = [];
  private readonly names = new Set<string>();

  /** Adds a variable; names must be unique and are used in files and messages. */
  addVar(name: string, opt: { lb?: number; ub?: number; type?: VarType } = {}): Var {
    if (this.names.has(name)) throw new Error(`lp-model: duplicate variable name ${name}`);
    this.names.add(name);
    const type = opt.type ?? 'continuous';
    const lb = opt.lb ?? 0;
    const ub = opt.ub ?? (type === 'binary' ? 1 : Infinity);
    this.cols.push({ name, lb, ub, type, cost: 0 });
    return { index: this.cols.length - 1, name };
  }

  /** Sets an upper bound tighter than the one the variable has. */
  tightenUpper(v: Var, ub: number): void {
    const c = this.cols[v.index]!;
    c.ub = Math.min(c.ub, ub);
  }

  /** Adds `lb ≤ Σ terms ≤ ub`; use ±Infinity for a one-sided row. Repeated variables are merged. */
  addRow(family: string, name: string, terms: Terms, lb: number, ub: number): number {
    const acc = new Map<number, number>();
    for (const [c, v] of terms) acc.set(v.index, (acc.get(v.index) ?? 0) + c);
    const idx: number[] = [];
    const val: number[] = [];
    for (const [k, c] of [...acc].sort((a, b) => a[0] - b[0]))
      if (c !== 0) {
        idx.push(k);
        val.push(c);
      }
    this.rows.push({ name, family, lb, ub, idx, val });
    return this.rows.length - 1;
  }
  le(family: string, name: string, terms: Terms, rhs: number): number {
    return this.addRow(family, name, terms, -Infinity, rhs);
  }
  ge(family: string, name: string, terms: Terms, rhs: number): number {
    return this.addRow(family, name, terms, rhs, Infinity);
  }
  eq(family: string, name: string, terms: Terms, rhs: number): number {
    return this.addRow(family, name, terms, rhs, rhs);
  }

  /** Sets the objective (minimised); replaces any earlier one. */
  minimise(terms: Terms): void {
    for (const c of this.cols) c.cost = 0;
    for (const [k, v] of terms) this.cols[v.index]!.cost += k;
  }

  /** A copy without the rows of the given families (used to find what makes a job infeasible). */
  without(families: ReadonlySet<string>): LpModel {
    const m = new LpModel();
    for (const c of this.cols) m.cols.push({ ...c });
    for (const n of this.names) m.names.add(n);
    for (const r of this.rows) if (!families.has(r.family)) m.rows.push(r);
    return m;
  }

  families(): string[] {
    return [...new Set(this.rows.map((r) => r.family))];
  }

  objectiveOf(x: ArrayLike<number>): number {
    let s = 0;
    this.cols.forEach((c, i) => (s += c.cost * x[i]!));
    return s;
  }

  /** The model as HiGHS's structured input (row-wise matrix), minimising. */
  toHighsData(): {
    numCols: number;
    numRows: number;
    colCost: Float64Array;
    colLower: Float64Array;
    colUpper: Float64Array;
    rowLower: Float64Array;
    rowUpper: Float64Array;
    matrix: { format: 'csr'; numRows: number; numCols: number; starts: Int32Array; indices: Int32Array; values: Float64Array };
    integrality: Int32Array;
  } {
    const nnz = this.rows.reduce((s, r) => s + r.idx.length, 0);
    const starts = new Int32Array(this.rows.length + 1);
    const indices = new Int32Array(nnz);
    const values = new Float64Array(nnz);
    let k = 0;
    this.rows.forEach((r, i) => {
      starts[i] = k;
      for (let j = 0; j < r.idx.length; j++, k++) {
        indices[k] = r.idx[j]!;
        values[k] = r.val[j]!;
      }
    });
    starts[this.rows.length] = k;
    return {
      numCols: this.cols.length,
      numRows: this.rows.length,
      colCost: Float64Array.from(this.cols, (c) => c.cost),
      colLower: Float64Array.from(this.cols, (c) => c.lb),
      colUpper: Float64Array.from(this.cols, (c) => c.ub),
      rowLower: Float64Array.from(this.rows, (r) => r.lb),
      rowUpper: Float64Array.from(this.rows, (r) => r.ub),
      matrix: { format: 'csr', numRows: this.rows.length, numCols: this.cols.length, starts, indices, values },
      integrality: Int32Array.from(this.cols, (c) => (c.type === 'binary' ? 1 : 0)),
    };
  }

  /**
   * Free-format MPS. Rows with both sides finite and different become an E/L row with a RANGES
   * entry; column sections are written column by column as MPS requires; binaries are marked
   * integer with BV bounds. Numbers are written with full (round-trip) precision.
   */
  toMps(name = 'SCHEDULE'): string {
    const num = (x: number): string => String(x);
    const out: string[] = [`NAME ${name}`, 'ROWS', ' N OBJ'];
    const kind = this.rows.map((r) => (r.lb === r.ub ? 'E' : r.lb === -Infinity && r.ub === Infinity ? 'N' : r.lb === -Infinity ? 'L' : r.ub === Infinity ? 'G' : 'R'));
    this.rows.forEach((r, i) => out.push(` ${kind[i] === 'R' ? 'L' : kind[i]} ${r.name}`));
    // Columns: gather the row entries of each column.
    const byCol: [number, number][][] = this.cols.map(() => []);
    this.rows.forEach((r, i) => r.idx.forEach((c, j) => byCol[c]!.push([i, r.val[j]!])));
    out.push('COLUMNS');
    let inInt = false;
    let marker = 0;
    this.cols.forEach((c, j) => {
      const isInt = c.type === 'binary';
      if (isInt !== inInt) {
        out.push(` MARKER${marker++} 'MARKER' '${isInt ? 'INTORG' : 'INTEND'}'`);
        inInt = isInt;
      }
      if (c.cost !== 0) out.push(` ${c.name} OBJ ${num(c.cost)}`);
      for (const [i, v] of byCol[j]!) out.push(` ${c.name} ${this.rows[i]!.name} ${num(v)}`);
      if (c.cost === 0 && byCol[j]!.length === 0) out.push(` ${c.name} OBJ 0`);
    });
    if (inInt) out.push(` MARKER${marker++} 'MARKER' 'INTEND'`);
    out.push('RHS');
    this.rows.forEach((r, i) => {
      const rhs = kind[i] === 'G' ? r.lb : kind[i] === 'N' ? 0 : r.ub;
      if (rhs !== 0) out.push(` RHS ${r.name} ${num(rhs)}`);
    });
    const ranged = this.rows.map((r, i) => [r, i] as const).filter(([, i]) => kind[i] === 'R');
    if (ranged.length) {
      out.push('RANGES');
      for (const [r] of ranged) out.push(` RNG ${r.name} ${num(r.ub - r.lb)}`);
    }
    out.push('BOUNDS');
    for (const c of this.cols) {
      if (c.type === 'binary' && c.lb === 0 && c.ub === 1) out.push(` BV BND ${c.name}`);
      else if (c.lb === c.ub) out.push(` FX BND ${c.name} ${num(c.lb)}`);
      else {
        if (c.lb === -Infinity) out.push(` MI BND ${c.name}`);
        else if (c.lb !== 0) out.push(` LO BND ${c.name} ${num(c.lb)}`);
        if (c.ub !== Infinity) out.push(` UP BND ${c.name} ${num(c.ub)}`);
      }
    }
    out.push('ENDATA', '');
    return out.join('\n');
  }
}
