/**
 * The scheduler's one internal job model. Every input dialect (input.ts) is normalised into a `Job`:
 * SoC values are fractions 0..1, powers kW, energies kWh, battery power positive when charging.
 */

export type Dialect = 'service' | 'pymfm-0.5' | 'platone';
export type ControlLogic = 'rule_based' | 'optimization_based';
export type OperationMode = 'scheduling' | 'near_real_time';
export type ModelVariant = 'pymfm' | 'physical';

export interface Battery {
  id: string;
  /** cbes: community battery; hbes: household battery (never discharges to the grid in the optimisation). */
  type: 'cbes' | 'hbes';
  initialSoc: number;
  finalSoc?: number;
  pDisMaxKw: number;
  pChMaxKw: number;
  minSoc: number;
  maxSoc: number;
  capacityKwh: number;
  chEff: number;
  disEff: number;
}

export interface BulkWindow {
  /** Index of the first and last step of the window in the horizon (both inclusive). */
  startIndex: number;
  endIndex: number;
  /** Positive: energy the batteries receive over the window; negative: energy they deliver. */
  energyKwh: number;
}

export interface NetLimit {
  upper?: number;
  lower?: number;
}

export interface Job {
  id: string;
  dialect: Dialect;
  controlLogic: ControlLogic;
  operationMode: OperationMode;
  /** The step timestamps of the horizon as the input wrote them, and as epoch milliseconds. */
  timestamps: string[];
  timesMs: number[];
  /** Step length in hours. */
  deltaH: number;
  /** Required (load) and available (generation) power per step, kW. */
  loadKw: number[];
  genKw: number[];
  pvCurtailment: boolean;
  /** Index of `day_end` in the horizon, when given. */
  dayEndIndex?: number;
  bulk?: BulkWindow;
  /** Limits on the net exchange (import − export) per step; an empty object where none. */
  limits: NetLimit[];
  batteries: Battery[];
}

/** Every problem found in an input, each naming the field (a JSON path) and what is wrong. */
export class SchedulerInputError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'SchedulerInputError';
  }
}
