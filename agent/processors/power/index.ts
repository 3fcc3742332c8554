/**
 * The `power` processor: adds per-phase and total P, Q, |S|, PF, the phase-magnitude sums and the
 * symmetrical components to each measurement (algorithms/power). See README.md.
 */
import { computePower } from '../../../algorithms/power/index.js';
import type { Processor, ProcessorSpec } from '../../core/plugin.js';

export type PowerProcessorConfig = { id: string };

export const powerProcessor: ProcessorSpec<PowerProcessorConfig> = {
  type: 'power',
  doc: 'Per-phase and total active, reactive and apparent power, power factor and symmetrical components from the phasors',
  schema: {},
  workerModule: import.meta.url,
  create: (config): Processor => ({ name: config.id, process: computePower }),
};
