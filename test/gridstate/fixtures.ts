/** Paths of the grid fixtures (sources in fixtures/README.md) and their MATPOWER reference solutions. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../helpers/agent-process.js';
import { parseMatpower } from '../../algorithms/grid/matpower.js';
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
