/**
 * The options of the `estimator` analyzer. The same keys form the top-level `estimator` section of
 * the config: when `estimator.network` is set, that section is one more analyzer entry (type and id
 * `estimator`).
 */
import * as f from '../../config/formats.js';
import { fieldPathError } from '../../../algorithms/stats/field-path.js';
import { deviceNameError } from '../../pipeline/device-name.js';
import { MEASUREMENT_TYPES } from '../../../algorithms/grid/measurements.js';

export interface LiveMeasurementConfig {
  device: string;
  field: string;
  type: (typeof MEASUREMENT_TYPES)[number];
  bus?: number;
  branch?: number;
  end?: 'from' | 'to';
  sigma: number;
  base?: number;
}

export interface EstimatorConfig {
  id: string;
  network: string;
  intervalS: number;
  maxAgeS: number;
  alpha: number;
  rnThreshold: number;
  measurements: LiveMeasurementConfig[];
}

const KEYS = new Set(['device', 'field', 'type', 'bus', 'branch', 'end', 'sigma', 'base']);
const positive = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v > 0;

/** Each entry: which live field feeds which measurement of the network. Every bad entry is reported. */
export const measurementList: f.Check = (v) => {
  if (!Array.isArray(v)) throw new Error('must be a list of { device, field, type, bus | branch, sigma, base }');
  const bad: string[] = [];
  v.forEach((e: unknown, k: number) => {
    if (typeof e !== 'object' || e === null || Array.isArray(e)) {
      bad.push(`[${k}]: must be an object { device, field, type, bus | branch, sigma, base }`);
      return;
    }
    const o = e as Record<string, unknown>;
    for (const key of Object.keys(o)) if (!KEYS.has(key)) bad.push(`[${k}].${key}: unknown key`);
    if (typeof o['device'] !== 'string' || o['device'] === '') bad.push(`[${k}].device: must name a device`);
    else {
      // A name no device can have ("a/b", a wildcard) would be skipped as no_measurement forever.
      const de = deviceNameError(o['device']);
      if (de) bad.push(`[${k}].device: ${de}`);
    }
    const fe = fieldPathError(o['field']);
    if (fe) bad.push(`[${k}].field: ${fe}`);
    const type = o['type'];
    if (typeof type !== 'string' || !(MEASUREMENT_TYPES as readonly string[]).includes(type)) bad.push(`[${k}].type: must be one of ${MEASUREMENT_TYPES.join(', ')}`);
    else if (type === 'p_flow' || type === 'q_flow') {
      if (!Number.isInteger(o['branch']) || (o['branch'] as number) < 1) bad.push(`[${k}].branch: must be the 1-based row of the network's branch table`);
      if (o['end'] !== undefined && o['end'] !== 'from' && o['end'] !== 'to') bad.push(`[${k}].end: must be "from" or "to"`);
      if (o['bus'] !== undefined) bad.push(`[${k}].bus: a ${type} measurement names a branch, not a bus`);
    } else {
      if (typeof o['bus'] !== 'number' || !Number.isFinite(o['bus'])) bad.push(`[${k}].bus: must be a bus number of the network`);
      if (o['branch'] !== undefined) bad.push(`[${k}].branch: a ${type} measurement names a bus, not a branch`);
    }
    if (!positive(o['sigma'])) bad.push(`[${k}].sigma: must be a positive number`);
    if (o['base'] !== undefined && !positive(o['base'])) bad.push(`[${k}].base: must be a positive number`);
  });
  if (bad.length) throw new f.ListCheckError(bad);
};

export const ESTIMATOR_SCHEMA = {
  network: {
    doc: 'The network model: a MATPOWER .m file, a JSON network, a folder of CGMES profiles, or CGMES .xml files separated by commas (empty: no estimator)',
    format: f.optionalString,
    default: '',
  },
  intervalS: {
    doc: 'Seconds between state estimates',
    format: f.numberRange(0.1, 86400),
    default: 5,
  },
  maxAgeS: {
    doc: 'Inputs whose measurement timestamp is older than this many seconds are stale and skipped',
    format: f.numberRange(0.001, 86400),
    default: 15,
  },
  alpha: {
    doc: 'Significance level of the chi-square bad-data test',
    format: f.numberRange(1e-9, 0.5),
    default: 0.01,
  },
  rnThreshold: {
    doc: 'Normalised residuals above this are bad data (removed one at a time)',
    format: f.numberRange(1, 1000),
    default: 3,
  },
  measurements: {
    doc: 'Which live field feeds which network measurement: { device, field, type (vm, va, p_inj, q_inj, p_flow, q_flow), bus | branch (1-based row) and end (from, to), sigma (per unit, degrees for va), base (the field divided by base gives per unit on the network baseMVA; default 1) }; as an environment variable: JSON',
    format: measurementList,
    default: [],
  },
};
