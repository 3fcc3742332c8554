/**
 * The network in per unit and internal indices: bus index map, the bus admittance matrix Ybus (CSR,
 * real and imaginary parts), each branch's two-port admittances, the specified injections, and the
 * islands. Ybus follows the standard π model with an ideal phase-shifting transformer at the from
 * end: Ys = 1/(r + jx), tap t = ratio·e^{jθshift} (ratio 0 means 1),
 *   Yff = (Ys + jb/2)/|t|², Yft = −Ys/conj(t), Ytf = −Ys/t, Ytt = Ys + jb/2,
 * plus the bus shunts (gs + jbs)/baseMVA. Out-of-service branches contribute nothing.
 */
import { GridInputError } from './errors.js';
import type { Network } from './network.js';

export interface GridModel {
  net: Network;
  n: number;
  /** busIds[i]: the network's bus number of internal bus i; index: the inverse. */
  busIds: number[];
  index: Map<number, number>;
  /** Ybus in CSR: row i's entries are yCol[yRow[i] .. yRow[i+1]); the diagonal is always present. */
  yRow: Int32Array;
  yCol: Int32Array;
  yRe: Float64Array;
  yIm: Float64Array;
  /** Per branch (row of the network's branch table): internal from/to indices and admittances. */
  f: Int32Array;
  t: Int32Array;
  on: Uint8Array;
  yffR: Float64Array;
  yffI: Float64Array;
  yftR: Float64Array;
  yftI: Float64Array;
  ytfR: Float64Array;
  ytfI: Float64Array;
  yttR: Float64Array;
  yttI: Float64Array;
  /** Specified injections (pu): in-service generation minus load. */
  pSpec: Float64Array;
  qSpec: Float64Array;
  /** Buses not of type isolated. */
  energized: Uint8Array;
}

export function buildModel(net: Network): GridModel {
  const n = net.buses.length;
  const busIds = net.buses.map((b) => b.bus);
  const index = new Map<number, number>();
  busIds.forEach((b, i) => index.set(b, i));
  const nb = net.branches.length;
  const m: GridModel = {
    net,
    n,
    busIds,
    index,
    yRow: new Int32Array(0),
    yCol: new Int32Array(0),
    yRe: new Float64Array(0),
    yIm: new Float64Array(0),
    f: new Int32Array(nb),
    t: new Int32Array(nb),
    on: new Uint8Array(nb),
    yffR: new Float64Array(nb),
    yffI: new Float64Array(nb),
    yftR: new Float64Array(nb),
    yftI: new Float64Array(nb),
    ytfR: new Float64Array(nb),
    ytfI: new Float64Array(nb),
    yttR: new Float64Array(nb),
    yttI: new Float64Array(nb),
    pSpec: new Float64Array(n),
    qSpec: new Float64Array(n),
    energized: new Uint8Array(n),
  };
  const base = net.baseMVA;
  // Row-wise accumulation in maps, then CSR with sorted columns.
  const rows: Map<number, [number, number]>[] = Array.from({ length: n }, () => new Map());
  const add = (i: number, j: number, re: number, im: number) => {
    const r = rows[i]!;
    const e = r.get(j);
    if (e) {
      e[0] += re;
      e[1] += im;
    } else r.set(j, [re, im]);
  };
  net.buses.forEach((b, i) => {
    add(i, i, b.gs / base, b.bs / base);
    m.energized[i] = b.type === 'isolated' ? 0 : 1;
    m.pSpec[i] = -b.pd / base;
    m.qSpec[i] = -b.qd / base;
  });
  for (const g of net.gens) {
    if (!g.status) continue;
    const i = index.get(g.bus)!;
    m.pSpec[i]! += g.pg / base;
    m.qSpec[i]! += g.qg / base;
  }
  net.branches.forEach((br, l) => {
    const f = index.get(br.from)!;
    const t = index.get(br.to)!;
    m.f[l] = f;
    m.t[l] = t;
    if (!br.status) return;
    m.on[l] = 1;
    const d = br.r * br.r + br.x * br.x;
    const ysR = br.r / d;
    const ysI = -br.x / d;
    const tap = br.ratio === 0 ? 1 : br.ratio;
    const sh = (br.angle_deg * Math.PI) / 180;
    const tR = tap * Math.cos(sh);
    const tI = tap * Math.sin(sh);
    const t2 = tap * tap;
    const yttR = ysR;
    const yttI = ysI + br.b / 2;
    // Yft = -Ys / conj(t) = -Ys * t / |t|^2 ; Ytf = -Ys / t = -Ys * conj(t) / |t|^2
    m.yttR[l] = yttR;
    m.yttI[l] = yttI;
    m.yffR[l] = yttR / t2;
    m.yffI[l] = yttI / t2;
    m.yftR[l] = -(ysR * tR - ysI * tI) / t2;
    m.yftI[l] = -(ysR * tI + ysI * tR) / t2;
    m.ytfR[l] = -(ysR * tR + ysI * tI) / t2;
    m.ytfI[l] = -(ysI * tR - ysR * tI) / t2;
    add(f, f, m.yffR[l]!, m.yffI[l]!);
    add(f, t, m.yftR[l]!, m.yftI[l]!);
    add(t, f, m.ytfR[l]!, m.ytfI[l]!);
    add(t, t, m.yttR[l]!, m.yttI[l]!);
  });
  let nnz = 0;
  for (const r of rows) nnz += r.size;
  m.yRow = new Int32Array(n + 1);
  m.yCol = new Int32Array(nnz);
  m.yRe = new Float64Array(nnz);
  m.yIm = new Float64Array(nnz);
  let p = 0;
  rows.forEach((r, i) => {
    for (const j of [...r.keys()].sort((a, b) => a - b)) {
      const e = r.get(j)!;
      m.yCol[p] = j;
      m.yRe[p] = e[0];
      m.yIm[p++] = e[1];
    }
    m.yRow[i + 1] = p;
  });
  return m;
}

/** Connected groups of energized buses over in-service branches (internal indices). */
export function islands(m: GridModel): number[][] {
  const parent = Int32Array.from({ length: m.n }, (_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]!]!;
      i = parent[i]!;
    }
    return i;
  };
  for (let l = 0; l < m.f.length; l++) {
    if (!m.on[l] || !m.energized[m.f[l]!] || !m.energized[m.t[l]!]) continue;
    parent[find(m.f[l]!)] = find(m.t[l]!);
  }
  const groups = new Map<number, number[]>();
  for (let i = 0; i < m.n; i++) {
    if (!m.energized[i]) continue;
    const r = find(i);
    const g = groups.get(r);
    if (g) g.push(i);
    else groups.set(r, [i]);
  }
  return [...groups.values()];
}

/** A short list of bus numbers for messages: "1, 2, 3 and 17 more". */
export function busList(m: GridModel, idx: readonly number[], max = 10): string {
  const ids = idx.slice(0, max).map((i) => m.busIds[i]);
  return ids.join(', ') + (idx.length > max ? ` and ${idx.length - max} more` : '');
}

/**
 * Checks that every island holds a reference bus; throws naming the islands that do not.
 * Returns the islands.
 */
export function checkIslands(m: GridModel, file: string): number[][] {
  const isl = islands(m);
  const bad = isl.filter((g) => !g.some((i) => m.net.buses[i]!.type === 'ref'));
  if (bad.length)
    throw new GridInputError(
      'island',
      bad.map((g) => `${file}: the network is split into ${isl.length} islands; the island of buses ${busList(m, g)} has no reference (slack) bus`),
    );
  return isl;
}

/** Complex bus voltages from magnitudes and angles (radians). */
export function voltages(vm: Float64Array, va: Float64Array): { re: Float64Array; im: Float64Array } {
  const n = vm.length;
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    re[i] = vm[i]! * Math.cos(va[i]!);
    im[i] = vm[i]! * Math.sin(va[i]!);
  }
  return { re, im };
}

/** Bus injections S = V·conj(Ybus·V): fills p, q and the currents iRe, iIm. */
export function injections(m: GridModel, vRe: Float64Array, vIm: Float64Array, p: Float64Array, q: Float64Array, iRe: Float64Array, iIm: Float64Array): void {
  for (let i = 0; i < m.n; i++) {
    let ar = 0;
    let ai = 0;
    for (let k = m.yRow[i]!; k < m.yRow[i + 1]!; k++) {
      const j = m.yCol[k]!;
      const g = m.yRe[k]!;
      const b = m.yIm[k]!;
      ar += g * vRe[j]! - b * vIm[j]!;
      ai += g * vIm[j]! + b * vRe[j]!;
    }
    iRe[i] = ar;
    iIm[i] = ai;
    p[i] = vRe[i]! * ar + vIm[i]! * ai;
    q[i] = vIm[i]! * ar - vRe[i]! * ai;
  }
}

export interface BranchFlow {
  pf: number;
  qf: number;
  pt: number;
  qt: number;
}

/** Branch flows (pu) at both ends for the bus voltages given. */
export function branchFlow(m: GridModel, l: number, vRe: Float64Array, vIm: Float64Array): BranchFlow {
  if (!m.on[l]) return { pf: 0, qf: 0, pt: 0, qt: 0 };
  const f = m.f[l]!;
  const t = m.t[l]!;
  const s = (a: number, yaR: number, yaI: number, ybR: number, ybI: number, b: number): [number, number] => {
    const ir = yaR * vRe[a]! - yaI * vIm[a]! + ybR * vRe[b]! - ybI * vIm[b]!;
    const ii = yaR * vIm[a]! + yaI * vRe[a]! + ybR * vIm[b]! + ybI * vRe[b]!;
    return [vRe[a]! * ir + vIm[a]! * ii, vIm[a]! * ir - vRe[a]! * ii];
  };
  const [pf, qf] = s(f, m.yffR[l]!, m.yffI[l]!, m.yftR[l]!, m.yftI[l]!, t);
  const [pt, qt] = s(t, m.yttR[l]!, m.yttI[l]!, m.ytfR[l]!, m.ytfI[l]!, f);
  return { pf, qf, pt, qt };
}
