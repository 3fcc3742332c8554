/**
 * The network model every grid algorithm takes, and the project's JSON network format (the same
 * shape, see README.md "JSON network format"). Units follow MATPOWER: powers in MW / MVAr, shunts
 * in MW / MVAr consumed at 1 pu voltage, impedances in pu on `baseMVA`, angles in degrees.
 */
import { GridInputError } from './errors.js';

export type BusType = 'pq' | 'pv' | 'ref' | 'isolated';

export interface Bus {
  /** The bus number as the source names it (MATPOWER `bus_i`); unique. */
  bus: number;
  type: BusType;
  pd: number;
  qd: number;
  gs: number;
  bs: number;
  /** Voltage magnitude (pu) and angle (degrees): the power flow's starting point. */
  vm: number;
  va_deg: number;
  baseKV: number;
  name?: string;
  /** Diagram position, when the source has one (CGMES DiagramLayout). */
  x?: number;
  y?: number;
}

export interface Gen {
  bus: number;
  pg: number;
  qg: number;
  qmax: number;
  qmin: number;
  /** Voltage set point (pu) held at a PV or reference bus. */
  vg: number;
  status: boolean;
  name?: string;
}

export interface Branch {
  from: number;
  to: number;
  r: number;
  x: number;
  /** Total line charging susceptance (pu). */
  b: number;
  /** Off-nominal tap ratio at the from end (0 or 1: none). */
  ratio: number;
  /** Phase shift (degrees), from end. */
  angle_deg: number;
  status: boolean;
  name?: string;
}

export interface Network {
  name: string;
  baseMVA: number;
  buses: Bus[];
  gens: Gen[];
  branches: Branch[];
  /** Statements or elements the importer read but did not use (reported, never evaluated). */
  warnings: string[];
}

export const NETWORK_FORMAT = 'gridedge-network';

const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * Checks a parsed JSON document against the network format; returns the network or throws a
 * GridInputError listing every problem with its path (`buses[3].vm: must be a finite number`).
 */
export function networkFromJson(doc: unknown, file = 'network'): Network {
  const errs: string[] = [];
  const at = (p: string, m: string) => errs.push(`${file}: ${p}: ${m}`);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new GridInputError('format', `${file}: must be a JSON object`);
  const d = doc as Record<string, unknown>;
  if (d['format'] !== NETWORK_FORMAT) at('format', `must be "${NETWORK_FORMAT}", got ${JSON.stringify(d['format'])}`);
  if (!num(d['baseMVA']) || d['baseMVA'] <= 0) at('baseMVA', `must be a positive number, got ${JSON.stringify(d['baseMVA'])}`);
  const list = (k: string): Record<string, unknown>[] => {
    const v = d[k];
    if (!Array.isArray(v)) {
      at(k, 'must be an array');
      return [];
    }
    return v.map((e, i) => {
      if (typeof e !== 'object' || e === null || Array.isArray(e)) {
        at(`${k}[${i}]`, 'must be an object');
        return {};
      }
      return e as Record<string, unknown>;
    });
  };
  const field = (k: string, i: number, e: Record<string, unknown>, f: string, def?: number): number => {
    const v = e[f];
    if (v === undefined && def !== undefined) return def;
    if (!num(v)) {
      at(`${k}[${i}].${f}`, `must be a finite number, got ${JSON.stringify(v)}`);
      return 0;
    }
    return v;
  };
  const name = (e: Record<string, unknown>): { name?: string } => (typeof e['name'] === 'string' ? { name: e['name'] } : {});
  const flag = (k: string, i: number, e: Record<string, unknown>): boolean => {
    const v = e['status'];
    if (v === undefined) return true;
    if (typeof v === 'boolean') return v;
    if (v === 0 || v === 1) return v === 1;
    at(`${k}[${i}].status`, `must be true or false, got ${JSON.stringify(v)}`);
    return false;
  };
  const buses: Bus[] = list('buses').map((e, i) => {
    const t = e['type'] ?? 'pq';
    if (t !== 'pq' && t !== 'pv' && t !== 'ref' && t !== 'isolated') at(`buses[${i}].type`, `must be pq, pv, ref or isolated, got ${JSON.stringify(t)}`);
    const b: Bus = {
      bus: field('buses', i, e, 'bus'),
      type: t as BusType,
      pd: field('buses', i, e, 'pd', 0),
      qd: field('buses', i, e, 'qd', 0),
      gs: field('buses', i, e, 'gs', 0),
      bs: field('buses', i, e, 'bs', 0),
      vm: field('buses', i, e, 'vm', 1),
      va_deg: field('buses', i, e, 'va_deg', 0),
      baseKV: field('buses', i, e, 'baseKV', 0),
      ...name(e),
    };
    if (num(e['x']) && num(e['y'])) {
      b.x = e['x'];
      b.y = e['y'];
    }
    return b;
  });
  const gens: Gen[] = list('gens').map((e, i) => ({
    bus: field('gens', i, e, 'bus'),
    pg: field('gens', i, e, 'pg', 0),
    qg: field('gens', i, e, 'qg', 0),
    qmax: field('gens', i, e, 'qmax', Infinity),
    qmin: field('gens', i, e, 'qmin', -Infinity),
    vg: field('gens', i, e, 'vg', 1),
    status: flag('gens', i, e),
    ...name(e),
  }));
  const branches: Branch[] = list('branches').map((e, i) => ({
    from: field('branches', i, e, 'from'),
    to: field('branches', i, e, 'to'),
    r: field('branches', i, e, 'r', 0),
    x: field('branches', i, e, 'x'),
    b: field('branches', i, e, 'b', 0),
    ratio: field('branches', i, e, 'ratio', 0),
    angle_deg: field('branches', i, e, 'angle_deg', 0),
    status: flag('branches', i, e),
    ...name(e),
  }));
  if (errs.length) throw new GridInputError('format', errs);
  const net: Network = { name: typeof d['name'] === 'string' ? d['name'] : file, baseMVA: d['baseMVA'] as number, buses, gens, branches, warnings: [] };
  checkNetwork(net, file);
  return net;
}

/** The JSON document of a network (the inverse of networkFromJson). */
export function networkToJson(net: Network): object {
  return { format: NETWORK_FORMAT, version: 1, name: net.name, baseMVA: net.baseMVA, buses: net.buses, gens: net.gens, branches: net.branches };
}

/**
 * Cross-checks a network whatever its source: unique bus numbers, generators and branches on known
 * buses, non-zero branch impedance, at least one reference bus. Throws with every problem found.
 */
export function checkNetwork(net: Network, file: string): void {
  const errs: string[] = [];
  const seen = new Set<number>();
  net.buses.forEach((b, i) => {
    if (seen.has(b.bus)) errs.push(`${file}: bus row ${i + 1}: bus number ${b.bus} appears twice`);
    seen.add(b.bus);
    if (b.vm <= 0) errs.push(`${file}: bus ${b.bus}: vm must be > 0, got ${b.vm}`);
  });
  net.gens.forEach((g, i) => {
    if (!seen.has(g.bus)) errs.push(`${file}: gen row ${i + 1}: unknown bus ${g.bus}`);
  });
  net.branches.forEach((br, i) => {
    if (!seen.has(br.from)) errs.push(`${file}: branch row ${i + 1}: unknown from bus ${br.from}`);
    if (!seen.has(br.to)) errs.push(`${file}: branch row ${i + 1}: unknown to bus ${br.to}`);
    if (br.status && br.r === 0 && br.x === 0) errs.push(`${file}: branch row ${i + 1} (${br.from}-${br.to}): zero impedance (r = x = 0)`);
  });
  if (!net.buses.some((b) => b.type === 'ref')) errs.push(`${file}: no reference (slack) bus`);
  if (errs.length) throw new GridInputError('format', errs);
}
