/** Power quantities of a measurement: per-phase and total P, Q, |S|, PF; symmetrical components. */
import type { Processor } from '../../agent/core/plugin.js';
import { computePower } from './compute-power.js';

export { computePower } from './compute-power.js';
export { phasePower, apparentPower, powerFactor, hasMag, hasAngle } from './phase-power.js';
export type { PhasePower } from './phase-power.js';
export { sequenceComponents, unbalancePct } from './sequence.js';

/** computePower as a pipeline Processor. */
export const powerProcessor: Processor = { name: 'power', process: computePower };
