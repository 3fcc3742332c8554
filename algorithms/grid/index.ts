/** The grid algorithms: network models, Ybus, Newton power flow, WLS state estimation. Pure functions (load.ts reads files). */
export * from './errors.js';
export * from './network.js';
export { parseMatpower, parseMatpowerText } from './matpower.js';
export { parseCgmes, type CgmesOptions } from './cgmes.js';
export { buildModel, islands, branchFlow, type GridModel } from './model.js';
export { runPowerFlow, type PowerFlowOptions, type PowerFlowResult } from './powerflow.js';
export { prepareMeasurements, measurementsFromJson, MEASUREMENT_TYPES, type Meas, type MeasurementInput, type MeasurementType } from './measurements.js';
export { estimateState, estimateSummary, UnobservableError, type EstimateSummary, type EstimateOptions, type EstimateResult, type BadDatum, type SuspectDatum } from './estimator.js';
export { checkObservability, type ObservabilityResult } from './observability.js';
export { chi2Inv, chi2Cdf } from './chi2.js';
