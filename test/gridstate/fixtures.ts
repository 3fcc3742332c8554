/** Paths of the grid fixtures (sources in fixtures/README.md) and their MATPOWER reference solutions. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../helpers/agent-process.js';
import { parseMatpower } from '../../algorithms/grid/matpower.js';
import type { MeasurementInput } from '../../algorithms/grid/measurements.js';
import type { Network } from '../../algorithms/grid/network.js';

export const FIXTURES = join(repoRoot(), 'test', 'gridstate', 'fixtures');
export const casePath = (name: string): string => join(FIXTURES, `${name}.m`);
export const CIGRE = join(FIXTURES, 'cigre-mv');

export function loadCase(name: string): Network {
  return parseMatpower(readFileSync(casePath(name), 'utf8'), casePath(name));
}

export interface Reference {
  iterations: number;
  buses: { bus: number; vm: number; va_deg: number }[];
  gens: { row: number; bus: number; pg_mw: number; qg_mvar: number }[];
  branches: { branch: number; pf_mw: number; qf_mvar: number; pt_mw: number; qt_mvar: number }[];
}

/** MATPOWER's solved power flow of a case (runpf, tolerance 1e-8, no reactive limits). */
export function reference(name: string): Reference {
  return JSON.parse(readFileSync(join(FIXTURES, `${name}.pf.json`), 'utf8')) as Reference;
}

/** A measurement as the measurement file format takes it. */
export type MeasurementSpec = MeasurementInput;

/**
 * A full measurement set taken from MATPOWER's solved power flow of a case (not from our own power
 * flow): vm at every bus, P and Q injections (generation from the solution minus the case's load),
 * and P and Q flows at both ends of every in-service branch, per unit on baseMVA.
 * `noise(sigma)` adds an error to each value (none by default).
 */
export function referenceMeasurements(net: Network, ref: Reference, noise: (sigma: number) => number = () => 0, sig = { vm: 0.004, inj: 0.01, flow: 0.008 }): MeasurementSpec[] {
  const base = net.baseMVA;
  const out: MeasurementSpec[] = [];
  const add = (m: Omit<MeasurementSpec, 'value'> & { value: number }) => out.push({ ...m, value: m.value + noise(m.sigma) });
  for (const b of ref.buses) add({ type: 'vm', bus: b.bus, value: b.vm, sigma: sig.vm });
  const p = new Map<number, number>();
  const q = new Map<number, number>();
  for (const b of net.buses) {
    p.set(b.bus, -b.pd);
    q.set(b.bus, -b.qd);
  }
  ref.gens.forEach((g, i) => {
    if (!net.gens[i]!.status) return;
    p.set(g.bus, p.get(g.bus)! + g.pg_mw);
    q.set(g.bus, q.get(g.bus)! + g.qg_mvar);
  });
  for (const b of net.buses) {
    if (b.type === 'isolated') continue;
    add({ type: 'p_inj', bus: b.bus, value: p.get(b.bus)! / base, sigma: sig.inj });
    add({ type: 'q_inj', bus: b.bus, value: q.get(b.bus)! / base, sigma: sig.inj });
  }
  ref.branches.forEach((br, i) => {
    if (!net.branches[i]!.status) return;
    add({ type: 'p_flow', branch: br.branch, end: 'from', value: br.pf_mw / base, sigma: sig.flow });
    add({ type: 'q_flow', branch: br.branch, end: 'from', value: br.qf_mvar / base, sigma: sig.flow });
    add({ type: 'p_flow', branch: br.branch, end: 'to', value: br.pt_mw / base, sigma: sig.flow });
    add({ type: 'q_flow', branch: br.branch, end: 'to', value: br.qt_mvar / base, sigma: sig.flow });
  });
  return out;
}

/** Standard normal samples from a seeded uniform generator (Box–Muller). */
export function gaussian(uniform: () => number): () => number {
  return () => {
    const u = Math.max(uniform(), 1e-300);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
  };
}
