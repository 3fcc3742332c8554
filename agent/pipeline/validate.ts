/**
 * Raw measurement validation: turns a `bal/raw/<device>` payload into a Measurement, or says exactly
 * what is wrong with it (a reason for the counters, a detail naming the field for the log line).
 * Questionable-but-usable input (missing or implausible timestamps) is kept and flagged, not rejected.
 */
import { flag, isQuality, type Measurement } from '../../algorithms/common/measurement.js';

export type RejectReason =
  | 'oversize'
  | 'bad_json'
  | 'not_object'
  | 'bad_type'
  | 'non_finite'
  | 'bad_value'
  | 'unknown_phase'
  | 'missing_field'
  | 'device_mismatch'
  | 'bad_topic';

export interface Rejection {
  ok: false;
  reason: RejectReason;
  /** Names the field and what is wrong with it. */
  detail: string;
}

export interface Accepted {
  ok: true;
  m: Measurement;
  /** The payload as text, when it came as one (parseMeasurement): stored as received. */
  text?: string;
}

export interface ValidationLimits {
  maxPayloadBytes: number;
  /** Wall clock now, µs. */
  nowUs: number;
  futureToleranceUs: number;
  pastToleranceUs: number;
}

const reject = (reason: RejectReason, detail: string): Rejection => ({ ok: false, reason, detail });

const PHASE_KEYS = new Set(['a', 'b', 'c']);
const POWER_KEYS = new Set(['a', 'b', 'c', 'total']);

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** A finite number check with a reason for each way it can fail. */
function checkNumber(x: unknown, path: string): Rejection | null {
  if (typeof x !== 'number') return reject('bad_type', `${path} must be a number, got ${typeName(x)}`);
  if (!Number.isFinite(x)) return reject('non_finite', `${path} must be finite`);
  return null;
}

function typeName(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'array';
  if (typeof x === 'string') return `string ${JSON.stringify(x.length > 20 ? x.slice(0, 20) + '…' : x)}`;
  return typeof x;
}

function checkPhasors(x: unknown, name: 'v' | 'i'): Rejection | null {
  if (!isPlainObject(x)) return reject('bad_type', `${name} must be an object of phases a, b, c`);
  for (const k in x) {
    if (!PHASE_KEYS.has(k)) return reject('unknown_phase', `${name}.${k} is not a phase (a, b, c)`);
    const ph = x[k];
    if (!isPlainObject(ph)) return reject('bad_type', `${name}.${k} must be an object { mag, ang }`);
    if (ph.mag === undefined) return reject('missing_field', `${name}.${k}.mag is missing`);
    const e = checkNumber(ph.mag, `${name}.${k}.mag`);
    if (e) return e;
    if ((ph.mag as number) < 0) return reject('bad_value', `${name}.${k}.mag must not be negative`);
    if (ph.ang !== undefined) {
      const ea = checkNumber(ph.ang, `${name}.${k}.ang`);
      if (ea) return ea;
    }
  }
  return null;
}

function checkPowerSet(x: unknown, name: string): Rejection | null {
  if (!isPlainObject(x)) return reject('bad_type', `${name} must be an object of a, b, c, total`);
  for (const k in x) {
    if (!POWER_KEYS.has(k)) return reject('unknown_phase', `${name}.${k} is not a phase (a, b, c, total)`);
    const e = checkNumber(x[k], `${name}.${k}`);
    if (e) return e;
  }
  return null;
}

/**
 * Check a measurement object (parsed from JSON, or emitted by a driver) in place.
 * `topicDevice`, when given, is the device named by the topic; it wins over a missing `device`
 * and must equal a present one.
 */
export function checkMeasurement(x: unknown, topicDevice: string | null, limits: ValidationLimits): Accepted | Rejection {
  if (!isPlainObject(x)) return reject('not_object', `payload must be a JSON object, got ${typeName(x)}`);
  const o = x;
  if (o.device === undefined) {
    if (!topicDevice) return reject('missing_field', 'device is missing');
    o.device = topicDevice;
  } else if (typeof o.device !== 'string' || o.device === '') {
    return reject('bad_type', `device must be a non-empty string, got ${typeName(o.device)}`);
  } else if (topicDevice && o.device !== topicDevice) {
    return reject('device_mismatch', `device "${o.device}" does not match the topic's device "${topicDevice}"`);
  }
  if (o.quality === undefined) o.quality = 'good';
  else if (!isQuality(o.quality)) return reject('bad_value', `quality must be good, questionable or invalid, got ${typeName(o.quality)}`);
  if (o.reasons !== undefined && (!Array.isArray(o.reasons) || o.reasons.some((r) => typeof r !== 'string')))
    return reject('bad_type', 'reasons must be an array of strings');

  let measured = false;
  if (o.v !== undefined) {
    const e = checkPhasors(o.v, 'v');
    if (e) return e;
    measured = true;
  }
  if (o.i !== undefined) {
    const e = checkPhasors(o.i, 'i');
    if (e) return e;
    measured = true;
  }
  for (const name of ['p', 'q', 's', 'pf'] as const) {
    if (o[name] === undefined) continue;
    const e = checkPowerSet(o[name], name);
    if (e) return e;
    measured = true;
  }
  for (const name of ['freq', 'rocof'] as const) {
    if (o[name] === undefined) continue;
    const e = checkNumber(o[name], name);
    if (e) return e;
    measured = true;
  }
  if (typeof o.freq === 'number' && o.freq <= 0) return reject('bad_value', 'freq must be positive');
  if (!measured) return reject('missing_field', 'no measured quantity (v, i, p, q, s, pf, freq or rocof)');

  const m = o as Measurement;
  if (o.ts === undefined) {
    m.ts = limits.nowUs;
    flag(m, 'questionable', 'ts_missing');
  } else {
    const e = checkNumber(o.ts, 'ts');
    if (e) return e;
    const ts = o.ts as number;
    if (!Number.isSafeInteger(ts) || ts < 0)
      return reject('bad_value', 'ts must be a non-negative integer number of microseconds since the epoch');
    if (ts > limits.nowUs + limits.futureToleranceUs) flag(m, 'questionable', 'ts_future');
    else if (ts < limits.nowUs - limits.pastToleranceUs) flag(m, 'questionable', 'ts_past');
  }
  return { ok: true, m };
}

/** Parse and check a raw payload received on `bal/raw/<topicDevice>`. */
export function parseMeasurement(payload: Buffer | string, topicDevice: string, limits: ValidationLimits): Accepted | Rejection {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (size > limits.maxPayloadBytes) return reject('oversize', `payload is ${size} bytes, the limit is ${limits.maxPayloadBytes}`);
  const text = typeof payload === 'string' ? payload : payload.toString('utf8');
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch (err) {
    return reject('bad_json', `payload is not JSON: ${(err as Error).message}`);
  }
  const r = checkMeasurement(x, topicDevice, limits);
  if (r.ok) r.text = text;
  return r;
}
