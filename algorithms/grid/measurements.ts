/**
 * Measurement sets for the state estimator. The file format: `{ "baseMVA": 100, "measurements": [
 * { "type", "bus" | "branch", "end", "value", "sigma" } ] }` with powers in per unit on the file's
 * baseMVA (default: the network's), voltage magnitudes in pu, angles in degrees (sigma too). `branch`
 * is the 1-based row of the network's branch table; `end` is "from" (default) or "to".
 */
import { GridInputError } from './errors.js';
import type { GridModel } from './model.js';

export const MEASUREMENT_TYPES = ['vm', 'va', 'p_inj', 'q_inj', 'p_flow', 'q_flow'] as const;
export type MeasurementType = (typeof MEASUREMENT_TYPES)[number];

/** One measurement as the estimator uses it: network base, radians, internal indices. */
export interface Meas {
  /** Position in the input list (0-based), reported back in bad_data. */
  index: number;
  type: MeasurementType;
  /** Internal bus index (vm, va, p_inj, q_inj) or branch row index (flows). */
  at: number;
  /** 0: from end, 1: to end (flows). */
  end: 0 | 1;
  value: number;
  sigma: number;
}

/** A measurement as written in a file or derived from live data. */
export interface MeasurementInput {
  type: string;
  bus?: number;
  branch?: number;
  end?: string;
  value: number;
  sigma: number;
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * The largest measured value taken, in per unit (degrees for `va`). No network quantity comes near
 * it; beyond it the Gauss–Newton iteration overflows and the gain matrix comes out "singular" at
 * every bus, so the value is named instead (a live estimator skips it as `implausible`).
 */
export const MAX_MEASURED_PU = 1e6;

/**
 * Validates measurements against the network and converts them (per unit on the network's base,
 * radians). Throws a GridInputError listing every problem: `measurements[3].sigma: must be a positive
 * number, got 0`.
 */
export function prepareMeasurements(m: GridModel, list: readonly unknown[], fileBaseMVA: number, where = 'measurements'): Meas[] {
  const errs: string[] = [];
  const out: Meas[] = [];
  const scale = fileBaseMVA / m.net.baseMVA;
  list.forEach((raw, k) => {
    const at = `${where}[${k}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      errs.push(`${at}: must be an object`);
      return;
    }
    const e = raw as Record<string, unknown>;
    const type = e['type'];
    if (typeof type !== 'string' || !(MEASUREMENT_TYPES as readonly string[]).includes(type)) {
      errs.push(`${at}.type: must be one of ${MEASUREMENT_TYPES.join(', ')}, got ${JSON.stringify(type)}`);
      return;
    }
    const t = type as MeasurementType;
    let ok = true;
    const value = e['value'];
    const sigma = e['sigma'];
    if (!isNum(value)) {
      errs.push(value === undefined ? `${at}.value: is required (a finite number)` : `${at}.value: must be a finite number, got ${typeof value === 'number' ? String(value) : JSON.stringify(value)}`);
      ok = false;
    } else if (Math.abs(value) > MAX_MEASURED_PU) {
      errs.push(`${at}.value: must be within ±${MAX_MEASURED_PU} (per unit; degrees for va), got ${value}`);
      ok = false;
    }
    if (!isNum(sigma) || sigma <= 0) {
      errs.push(sigma === undefined ? `${at}.sigma: is required (a positive number)` : `${at}.sigma: must be a positive number, got ${typeof sigma === 'number' ? String(sigma) : JSON.stringify(sigma)}`);
      ok = false;
    }
    let idx = -1;
    let end: 0 | 1 = 0;
    if (t === 'p_flow' || t === 'q_flow') {
      const br = e['branch'];
      if (!Number.isInteger(br) || (br as number) < 1 || (br as number) > m.f.length) {
        errs.push(`${at}.branch: no branch ${JSON.stringify(br)} in the network (rows 1 to ${m.f.length})`);
        ok = false;
      } else if (!m.on[(br as number) - 1]) {
        errs.push(`${at}.branch: branch ${br} (${m.net.branches[(br as number) - 1]!.from}-${m.net.branches[(br as number) - 1]!.to}) is out of service`);
        ok = false;
      } else idx = (br as number) - 1;
      const en = e['end'] ?? 'from';
      if (en !== 'from' && en !== 'to') {
        errs.push(`${at}.end: must be "from" or "to", got ${JSON.stringify(en)}`);
        ok = false;
      }
      end = en === 'to' ? 1 : 0;
    } else {
      const bus = e['bus'];
      const i = typeof bus === 'number' ? m.index.get(bus) : undefined;
      if (i === undefined) {
        errs.push(`${at}.bus: no bus ${JSON.stringify(bus)} in the network`);
        ok = false;
      } else if (!m.energized[i]) {
        errs.push(`${at}.bus: bus ${bus} is isolated`);
        ok = false;
      } else idx = i;
    }
    if (!ok) return;
    let v = value as number;
    let s = sigma as number;
    if (t === 'va') {
      v = (v * Math.PI) / 180;
      s = (s * Math.PI) / 180;
    } else if (t !== 'vm') {
      v *= scale;
      s *= scale;
    }
    out.push({ index: k, type: t, at: idx, end, value: v, sigma: s });
  });
  if (errs.length) throw new GridInputError('measurement', errs);
  return out;
}

/** Reads a measurement file's parsed JSON: checks its shape, then prepareMeasurements. */
export function measurementsFromJson(m: GridModel, doc: unknown, file: string): Meas[] {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new GridInputError('format', `${file}: must be a JSON object with "measurements"`);
  const d = doc as Record<string, unknown>;
  const base = d['baseMVA'] ?? m.net.baseMVA;
  if (!isNum(base) || base <= 0) throw new GridInputError('format', `${file}: baseMVA: must be a positive number, got ${JSON.stringify(base)}`);
  if (!Array.isArray(d['measurements'])) throw new GridInputError('format', `${file}: measurements: must be an array`);
  return prepareMeasurements(m, d['measurements'], base, `${file}: measurements`);
}
