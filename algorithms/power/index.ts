/** Power quantities of a measurement: per-phase and total P, Q, |S|, PF; symmetrical components. */

export { computePower } from './compute-power.js';
export { phasePower, apparentPower, powerFactor, hasMag, hasAngle } from './phase-power.js';
export type { PhasePower } from './phase-power.js';
export { sequenceComponents, unbalancePct } from './sequence.js';
