/**
 * Sparse matrices (compressed sparse column) and the two factorizations the grid algorithms need:
 *
 * - `luFactor`: left-looking LU with partial pivoting (the Gilbert–Peierls method: each column is a
 *   sparse triangular solve whose nonzero pattern is found by a depth-first search of L's graph). The
 *   columns are taken in a fill-reducing order given by the caller; within a column the diagonal of
 *   that order is kept as pivot while it is at least `threshold` times the largest candidate
 *   (threshold partial pivoting), so the fill-reducing order survives and stability is kept.
 * - `ldlFactor`: up-looking LDLᵀ of a symmetric positive (semi)definite matrix in a symmetric
 *   fill-reducing order, diagonal pivots only. A pivot below `zeroTol` times its original diagonal
 *   is a zero pivot: recorded, skipped (its column of L left empty). That is the sparse Cholesky of
 *   the estimator's gain matrix and the rank test of the observability check.
 * - `minimumDegree`: the fill-reducing order (exact minimum degree on the elimination graph of
 *   A + Aᵀ, ties broken by the lower index; see README.md for why this one).
 *
 * All arrays are typed arrays; nothing here allocates per entry in the inner loops.
 */

export interface Csc {
  nrows: number;
  ncols: number;
  colPtr: Int32Array;
  rowIdx: Int32Array;
  values: Float64Array;
}

/**
 * A fixed sparsity pattern assembled from (row, col) pairs. `slot[t]` is where the t-th pair's value
 * goes in `values`, so a matrix whose pattern does not change (a Jacobian) is refilled each
 * iteration without sorting again. Duplicate pairs share a slot (their values are summed).
 */
export class Pattern {
  readonly csc: Csc;
  readonly slot: Int32Array;
  constructor(nrows: number, ncols: number, rows: ArrayLike<number>, cols: ArrayLike<number>) {
    const nt = rows.length;
    // Two stable counting sorts (by row, then by column) give the pairs in (column, row) order.
    const rstart = new Int32Array(nrows + 1);
    for (let t = 0; t < nt; t++) rstart[rows[t]! + 1]!++;
    for (let i = 0; i < nrows; i++) rstart[i + 1]! += rstart[i]!;
    const byRow = new Int32Array(nt);
    for (let t = 0; t < nt; t++) byRow[rstart[rows[t]!]!++] = t;
    const cstart = new Int32Array(ncols + 1);
    for (let t = 0; t < nt; t++) cstart[cols[t]! + 1]!++;
    for (let j = 0; j < ncols; j++) cstart[j + 1]! += cstart[j]!;
    const colEnd = cstart.slice(1);
    const next = cstart.slice(0, ncols);
    const order = new Int32Array(nt);
    for (let s = 0; s < nt; s++) {
      const t = byRow[s]!;
      order[next[cols[t]!]!++] = t;
    }
    const colPtr = new Int32Array(ncols + 1);
    const rowIdx = new Int32Array(nt);
    const slot = new Int32Array(nt);
    let nz = 0;
    let s = 0;
    for (let j = 0; j < ncols; j++) {
      let last = -1;
      for (; s < colEnd[j]!; s++) {
        const t = order[s]!;
        const r = rows[t]!;
        if (r !== last) {
          rowIdx[nz++] = r;
          last = r;
        }
        slot[t] = nz - 1;
      }
      colPtr[j + 1] = nz;
    }
    this.csc = { nrows, ncols, colPtr, rowIdx: rowIdx.slice(0, nz), values: new Float64Array(nz) };
    this.slot = slot;
  }
  /** Sets the matrix values from one value per (row, col) pair given to the constructor. */
  fill(vals: ArrayLike<number>): Csc {
    const v = this.csc.values;
    v.fill(0);
    for (let t = 0; t < vals.length; t++) v[this.slot[t]!]! += vals[t]!;
    return this.csc;
  }
}

/**
 * Minimum degree order of the symmetric pattern `adjacency` (neighbour lists, no self loops):
 * repeatedly eliminates a node of least current degree and joins its neighbours into a clique.
 * Returns `perm` with perm[k] = the node eliminated k-th.
 */
export function minimumDegree(adjacency: readonly (readonly number[])[]): Int32Array {
  const n = adjacency.length;
  const adj = adjacency.map((a) => new Set(a));
  const done = new Uint8Array(n);
  // Binary heap of (degree, node) with lazy deletion: an entry is stale when its degree differs.
  const heapD: number[] = [];
  const heapN: number[] = [];
  const less = (i: number, j: number) => heapD[i]! < heapD[j]! || (heapD[i] === heapD[j] && heapN[i]! < heapN[j]!);
  const swap = (i: number, j: number) => {
    [heapD[i], heapD[j]] = [heapD[j]!, heapD[i]!];
    [heapN[i], heapN[j]] = [heapN[j]!, heapN[i]!];
  };
  const push = (d: number, v: number) => {
    heapD.push(d);
    heapN.push(v);
    let i = heapD.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(i, p)) break;
      swap(i, p);
      i = p;
    }
  };
  const pop = (): [number, number] => {
    const top: [number, number] = [heapD[0]!, heapN[0]!];
    const d = heapD.pop()!;
    const v = heapN.pop()!;
    if (heapD.length) {
      heapD[0] = d;
      heapN[0] = v;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heapD.length && less(l, m)) m = l;
        if (r < heapD.length && less(r, m)) m = r;
        if (m === i) break;
        swap(i, m);
        i = m;
      }
    }
    return top;
  };
  for (let v = 0; v < n; v++) push(adj[v]!.size, v);
  const perm = new Int32Array(n);
  let k = 0;
  while (k < n) {
    const [d, v] = pop();
    if (done[v] || adj[v]!.size !== d) continue;
    done[v] = 1;
    perm[k++] = v;
    const nb = [...adj[v]!];
    for (const a of nb) adj[a]!.delete(v);
    for (let i = 0; i < nb.length; i++) {
      const si = adj[nb[i]!]!;
      for (let j = i + 1; j < nb.length; j++) {
        if (!si.has(nb[j]!)) {
          si.add(nb[j]!);
          adj[nb[j]!]!.add(nb[i]!);
        }
      }
    }
    for (const a of nb) push(adj[a]!.size, a);
    adj[v]!.clear();
  }
  return perm;
}

/** The neighbour lists of the pattern of A + Aᵀ (square A), without the diagonal. */
export function symmetricAdjacency(a: Csc): number[][] {
  const n = a.ncols;
  const sets = Array.from({ length: n }, () => new Set<number>());
  for (let j = 0; j < n; j++)
    for (let p = a.colPtr[j]!; p < a.colPtr[j + 1]!; p++) {
      const i = a.rowIdx[p]!;
      if (i !== j) {
        sets[i]!.add(j);
        sets[j]!.add(i);
      }
    }
  return sets.map((s) => [...s]);
}

export class SingularMatrixError extends Error {
  constructor(readonly column: number) {
    super(`matrix is singular (no usable pivot in column ${column})`);
  }
}

/** Growable typed arrays for the factors. */
class Grow {
  i: Int32Array;
  x: Float64Array;
  n = 0;
  constructor(cap: number) {
    this.i = new Int32Array(Math.max(cap, 16));
    this.x = new Float64Array(Math.max(cap, 16));
  }
  /** Makes room for `more` entries after the `n` used ones. */
  reserve(more: number): void {
    if (this.n + more <= this.i.length) return;
    const cap = Math.max(this.i.length * 2, this.n + more);
    const ni = new Int32Array(cap);
    ni.set(this.i.subarray(0, this.n));
    const nx = new Float64Array(cap);
    nx.set(this.x.subarray(0, this.n));
    this.i = ni;
    this.x = nx;
  }
}

export interface LuFactors {
  n: number;
  /** Column order: column k of the factors is column q[k] of A. */
  q: Int32Array;
  /** Row permutation: row i of A is row pinv[i] of the factors. */
  pinv: Int32Array;
  Lp: Int32Array;
  Li: Int32Array;
  Lx: Float64Array;
  Up: Int32Array;
  Ui: Int32Array;
  Ux: Float64Array;
}

/**
 * LU factorization P A Q = L U of a square CSC matrix, columns in the order `q`. Throws
 * SingularMatrixError (naming the original column) when a column has no nonzero pivot candidate.
 */
export function luFactor(a: Csc, q: Int32Array, threshold = 0.1): LuFactors {
  const n = a.ncols;
  const { colPtr: Ap, rowIdx: Ai, values: Ax } = a;
  const L = new Grow(4 * Ai.length + n);
  const U = new Grow(4 * Ai.length + n);
  const Lp = new Int32Array(n + 1);
  const Up = new Int32Array(n + 1);
  const pinv = new Int32Array(n).fill(-1);
  const x = new Float64Array(n);
  const xi = new Int32Array(n);
  const stack = new Int32Array(n);
  const pstack = new Int32Array(n);
  const mark = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    // Room for a whole column in both factors, so the loops below write without checks.
    L.reserve(n);
    U.reserve(n);
    const Li = L.i;
    const Lx = L.x;
    const Ui = U.i;
    const Ux = U.x;
    let ln = L.n;
    let un = U.n;
    Lp[k] = ln;
    Up[k] = un;
    const col = q[k]!;
    // Nonzero pattern of L \ A(:,col): depth-first search from each entry over the graph of L.
    let top = n;
    for (let p = Ap[col]!; p < Ap[col + 1]!; p++) {
      const r = Ai[p]!;
      if (mark[r]) continue;
      let head = 0;
      stack[0] = r;
      while (head >= 0) {
        const j = stack[head]!;
        const J = pinv[j]!;
        if (!mark[j]) {
          mark[j] = 1;
          pstack[head] = J < 0 ? 0 : Lp[J]! + 1;
        }
        let finished = true;
        const end = J < 0 ? 0 : Lp[J + 1]!;
        for (let pp = pstack[head]!; pp < end; pp++) {
          const i = Li[pp]!;
          if (mark[i]) continue;
          pstack[head] = pp + 1;
          stack[++head] = i;
          finished = false;
          break;
        }
        if (finished) {
          head--;
          xi[--top] = j;
        }
      }
    }
    for (let p = top; p < n; p++) mark[xi[p]!] = 0;
    // Numeric solve in topological order.
    for (let p = Ap[col]!; p < Ap[col + 1]!; p++) x[Ai[p]!] = Ax[p]!;
    for (let p = top; p < n; p++) {
      const j = xi[p]!;
      const J = pinv[j]!;
      if (J < 0) continue;
      const xj = x[j]!;
      if (xj === 0) continue;
      const e = Lp[J + 1]!;
      for (let pp = Lp[J]! + 1; pp < e; pp++) x[Li[pp]!]! -= Lx[pp]! * xj;
    }
    // Pivot: the largest candidate, unless the order's own diagonal is large enough.
    let ipiv = -1;
    let amax = -1;
    for (let p = top; p < n; p++) {
      const i = xi[p]!;
      if (pinv[i]! < 0) {
        const t = Math.abs(x[i]!);
        if (t > amax) {
          amax = t;
          ipiv = i;
        }
      } else {
        Ui[un] = pinv[i]!;
        Ux[un++] = x[i]!;
      }
    }
    if (ipiv < 0 || amax <= 0) {
      for (let p = top; p < n; p++) x[xi[p]!] = 0;
      throw new SingularMatrixError(col);
    }
    if (pinv[col]! < 0 && Math.abs(x[col]!) >= threshold * amax) ipiv = col;
    const pivot = x[ipiv]!;
    Ui[un] = k;
    Ux[un++] = pivot;
    pinv[ipiv] = k;
    Li[ln] = ipiv;
    Lx[ln++] = 1;
    for (let p = top; p < n; p++) {
      const i = xi[p]!;
      if (pinv[i]! < 0) {
        Li[ln] = i;
        Lx[ln++] = x[i]! / pivot;
      }
      x[i] = 0;
    }
    L.n = ln;
    U.n = un;
  }
  Lp[n] = L.n;
  Up[n] = U.n;
  const Li = L.i.slice(0, L.n);
  for (let p = 0; p < Li.length; p++) Li[p] = pinv[Li[p]!]!;
  return { n, q, pinv, Lp, Li, Lx: L.x.slice(0, L.n), Up, Ui: U.i.slice(0, U.n), Ux: U.x.slice(0, U.n) };
}

/** Solves A x = b with the factors of luFactor; returns x (b is left unchanged). */
export function luSolve(f: LuFactors, b: ArrayLike<number>): Float64Array {
  const { n, q, pinv, Lp, Li, Lx, Up, Ui, Ux } = f;
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) y[pinv[i]!] = b[i]!;
  for (let j = 0; j < n; j++) {
    const yj = y[j]!;
    if (yj !== 0) for (let p = Lp[j]! + 1; p < Lp[j + 1]!; p++) y[Li[p]!]! -= Lx[p]! * yj;
  }
  for (let j = n - 1; j >= 0; j--) {
    const d = Up[j + 1]! - 1;
    const yj = (y[j] = y[j]! / Ux[d]!);
    if (yj !== 0) for (let p = Up[j]!; p < d; p++) y[Ui[p]!]! -= Ux[p]! * yj;
  }
  const x = new Float64Array(n);
  for (let k = 0; k < n; k++) x[q[k]!] = y[k]!;
  return x;
}

/** The symbolic part of LDLᵀ for one pattern and order: reused while the pattern stays the same. */
export interface LdlSymbolic {
  n: number;
  /** perm[k] = original index of the k-th pivot; pinv its inverse. */
  perm: Int32Array;
  pinv: Int32Array;
  /** Upper triangle of the permuted matrix (CSC) and, per entry of A, its slot there (-1: lower, skipped). */
  Cp: Int32Array;
  Ci: Int32Array;
  slot: Int32Array;
  parent: Int32Array;
  Lp: Int32Array;
}

export interface LdlFactors {
  sym: LdlSymbolic;
  Li: Int32Array;
  Lx: Float64Array;
  D: Float64Array;
  /** Pivots (in the permuted order) found zero: their rows of L are left empty and D is 0. */
  zeroPivots: number[];
}

/** Symbolic LDLᵀ of the symmetric matrix `a` (full pattern or upper triangle) in the order `perm`. */
export function ldlSymbolic(a: Csc, perm: Int32Array): LdlSymbolic {
  const n = a.ncols;
  const pinv = new Int32Array(n);
  for (let k = 0; k < n; k++) pinv[perm[k]!] = k;
  // Permuted upper triangle C = (P A Pᵀ) restricted to i <= j.
  const cnt = new Int32Array(n + 1);
  for (let j = 0; j < n; j++)
    for (let p = a.colPtr[j]!; p < a.colPtr[j + 1]!; p++) {
      const r = pinv[a.rowIdx[p]!]!;
      const c = pinv[j]!;
      if (r <= c) cnt[c + 1]!++;
    }
  for (let j = 0; j < n; j++) cnt[j + 1]! += cnt[j]!;
  const Cp = cnt.slice();
  const next = cnt.slice(0, n);
  const Ci = new Int32Array(Cp[n]!);
  const slot = new Int32Array(a.rowIdx.length).fill(-1);
  for (let j = 0; j < n; j++)
    for (let p = a.colPtr[j]!; p < a.colPtr[j + 1]!; p++) {
      const r = pinv[a.rowIdx[p]!]!;
      const c = pinv[j]!;
      if (r <= c) {
        slot[p] = next[c]!;
        Ci[next[c]!++] = r;
      }
    }
  // Elimination tree and column counts of L.
  const parent = new Int32Array(n).fill(-1);
  const flag = new Int32Array(n);
  const Lnz = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    flag[k] = k;
    for (let p = Cp[k]!; p < Cp[k + 1]!; p++) {
      let i = Ci[p]!;
      if (i >= k) continue;
      for (; flag[i] !== k; i = parent[i]!) {
        if (parent[i] === -1) parent[i] = k;
        Lnz[i]!++;
        flag[i] = k;
      }
    }
  }
  const Lp = new Int32Array(n + 1);
  for (let k = 0; k < n; k++) Lp[k + 1] = Lp[k]! + Lnz[k]!;
  return { n, perm, pinv, Cp, Ci, slot, parent, Lp };
}

/**
 * Numeric LDLᵀ with the symbolic part `sym` (built for a's pattern). A pivot d with
 * d <= zeroTol * (its original diagonal, or 1 when that is 0) is a zero pivot.
 */
export function ldlFactor(a: Csc, sym: LdlSymbolic, zeroTol = 1e-10): LdlFactors {
  const { n, Cp, Ci, slot, parent, Lp } = sym;
  const Cx = new Float64Array(Ci.length);
  for (let p = 0; p < slot.length; p++) if (slot[p]! >= 0) Cx[slot[p]!]! += a.values[p]!;
  const Li = new Int32Array(Lp[n]!);
  const Lx = new Float64Array(Lp[n]!);
  const D = new Float64Array(n);
  const Y = new Float64Array(n);
  const flag = new Int32Array(n);
  const pattern = new Int32Array(n);
  const Lnz = new Int32Array(n);
  const zero = new Uint8Array(n);
  const zeroPivots: number[] = [];
  for (let k = 0; k < n; k++) {
    let top = n;
    flag[k] = k;
    let diag0 = 0;
    for (let p = Cp[k]!; p < Cp[k + 1]!; p++) {
      let i = Ci[p]!;
      Y[i]! += Cx[p]!;
      if (i === k) diag0 += Cx[p]!;
      let len = 0;
      for (; flag[i] !== k; i = parent[i]!) {
        pattern[len++] = i;
        flag[i] = k;
      }
      while (len > 0) pattern[--top] = pattern[--len]!;
    }
    let d = Y[k]!;
    Y[k] = 0;
    for (; top < n; top++) {
      const i = pattern[top]!;
      const yi = Y[i]!;
      Y[i] = 0;
      const end = Lp[i]! + Lnz[i]!;
      for (let p = Lp[i]!; p < end; p++) Y[Li[p]!]! -= Lx[p]! * yi;
      const lki = zero[i] ? 0 : yi / D[i]!;
      d -= lki * yi;
      Li[end] = k;
      Lx[end] = lki;
      Lnz[i]!++;
    }
    if (!(d > zeroTol * (diag0 > 0 ? diag0 : 1))) {
      zero[k] = 1;
      zeroPivots.push(k);
      D[k] = 0;
    } else D[k] = d;
  }
  return { sym, Li, Lx, D, zeroPivots };
}

/** Solves A x = b with LDLᵀ factors (zero pivots give 0 in their component). */
export function ldlSolve(f: LdlFactors, b: ArrayLike<number>): Float64Array {
  const { n, perm, Lp } = f.sym;
  const { Li, Lx, D } = f;
  const y = new Float64Array(n);
  for (let k = 0; k < n; k++) y[k] = b[perm[k]!]!;
  for (let j = 0; j < n; j++) {
    const yj = y[j]!;
    if (yj !== 0) for (let p = Lp[j]!; p < Lp[j + 1]!; p++) y[Li[p]!]! -= Lx[p]! * yj;
  }
  for (let j = 0; j < n; j++) y[j] = D[j] === 0 ? 0 : y[j]! / D[j]!;
  for (let j = n - 1; j >= 0; j--) {
    let s = y[j]!;
    for (let p = Lp[j]!; p < Lp[j + 1]!; p++) s -= Lx[p]! * y[Li[p]!]!;
    y[j] = s;
  }
  const x = new Float64Array(n);
  for (let k = 0; k < n; k++) x[perm[k]!] = y[k]!;
  return x;
}

/**
 * A basis of the null space of A from its LDLᵀ factors: for each zero pivot z, the solution of
 * Lᵀ v = e_z (then A v = L D Lᵀ v = L D e_z = 0), returned in the original order.
 */
export function ldlNullSpace(f: LdlFactors): Float64Array[] {
  const { n, perm, Lp } = f.sym;
  const { Li, Lx } = f;
  return f.zeroPivots.map((z) => {
    const y = new Float64Array(n);
    y[z] = 1;
    for (let j = z - 1; j >= 0; j--) {
      let s = 0;
      for (let p = Lp[j]!; p < Lp[j + 1]!; p++) s -= Lx[p]! * y[Li[p]!]!;
      y[j] = s;
    }
    const x = new Float64Array(n);
    for (let k = 0; k < n; k++) x[perm[k]!] = y[k]!;
    return x;
  });
}
