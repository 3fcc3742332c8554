/** The grid algorithms: network models, Ybus, Newton power flow, WLS state estimation. Pure functions (load.ts reads files). */
export * from './errors.js';
export * from './network.js';
export { parseMatpower, parseMatpowerText } from './matpower.js';
export { buildModel, islands, branchFlow, type GridModel } from './model.js';
export { runPowerFlow, type PowerFlowOptions, type PowerFlowResult } from './powerflow.js';
