/** The pymfm example files in test/scheduler/fixtures (sources in fixtures/SOURCE.md). */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const fixturesDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'scheduler', 'fixtures');

export function fixturePath(name: string): string {
  return join(fixturesDir, name);
}

export function loadFixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(fixturePath(name), 'utf8')) as Record<string, unknown>;
}

/** A deep copy of a fixture, to edit in a test. */
export function editable(name: string): Record<string, unknown> & { battery_specs: Record<string, unknown>[]; generation_and_load: { values: Record<string, unknown>[] } } {
  return loadFixture(name) as never;
}

/** One row of pymfm's committed rule-based output (scheduling_rule_based_output.json). */
export interface PymfmRow {
  timestamp: string;
  P_net_before_kW: number;
  P_net_after_kW: number;
  P_bat_1_kW: number;
  'SoC_bat_1_%': number;
}
