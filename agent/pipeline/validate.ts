/**
 * Raw measurement validation: turns a `bal/raw/<device>` payload into a Measurement, or says exactly
 * what is wrong with it (a reason for the counters, a detail naming the field path for the log line).
 * Questionable-but-usable input (missing or implausible timestamps) is kept and flagged, not rejected.
 *
 * What a message may hold:
 * - reserved fields: `device`, `ts`, `quality`, `reasons`, `field_quality`;
 * - electrical fields with their own shape: `v`, `i` (phases a, b, c of `{ mag, ang? }`), `p`, `q`, `s`,
 *   `pf` (a, b, c, total numbers), `freq`, `rocof`, `v_total`, `i_total` (numbers), `seq` (symmetrical
 *   components: `v`/`i` of `zero`/`pos`/`neg` phasors, `v_unbalance_pct`/`i_unbalance_pct` numbers);
 * - any other field is a value: nested objects whose leaves are finite numbers, booleans, strings or
 *   arrays of finite numbers. Member names are non-empty, contain no `.` (values are addressed by
 *   dotted path) and are never `__proto__`, `constructor` or `prototype`.
 * A message needs at least one value, electrical or not.
 *
 * Limits ({@link DEFAULT_VALUE_LIMITS}): nesting depth, member names per message, member name length,
 * array length and string length. For a text payload, depth, name count and duplicate names are
 * checked by a linear scan of the text before `JSON.parse` (json-limits.ts), so nothing recursive
 * ever sees a deeper document; driver objects get the same bounds from the (depth-bounded) walk,
 * which also stops on a cyclic object.
 *
 * `field_quality` (`{ "<dotted path>": "questionable" | "invalid" }`) must name present value fields
 * (a leaf or a subtree); the message `quality` is lowered to the worst quality it gives, never raised.
 */
import { isUtf8 } from 'node:buffer';
import { flag, isQuality, worstQuality, type Measurement, type Quality } from '../../algorithms/common/measurement.js';
import type { FieldQuality } from '../../algorithms/common/field-quality.js';
import { deviceNameError } from './device-name.js';
import { scanJson } from './json-limits.js';

export { deviceNameError, MAX_DEVICE_NAME_BYTES } from './device-name.js';

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
  | 'bad_topic'
  /** The payload's `device` is not a valid device name. */
  | 'bad_device'
  /** Objects or arrays nested deeper than `maxDepth`. */
  | 'too_deep'
  /** More than `maxKeys` member names in the message. */
  | 'too_many_keys'
  /** A string longer than `maxStringLength` or an array longer than `maxArrayLength`. */
  | 'too_long'
  /** The same member name twice in one object (after decoding escapes). */
  | 'duplicate_key'
  /** A member named `__proto__`, `constructor` or `prototype`. */
  | 'forbidden_key'
  /** An empty member name, one containing `.`, or one longer than `maxKeyLength`. */
  | 'bad_key'
  /** `field_quality` is not an object, names an absent or reserved field, or gives an unknown quality. */
  | 'bad_field_quality';

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

/** Bounds on the shape of a message (all counted over the whole message). */
export interface ValueLimits {
  /** Deepest nesting of objects and arrays; the message object itself is level 1. */
  maxDepth: number;
  /** Most member names in one message, all levels and `field_quality` included. */
  maxKeys: number;
  /** Longest member name, in UTF-16 code units. */
  maxKeyLength: number;
  /** Longest array value. */
  maxArrayLength: number;
  /** Longest string value (and `reasons` entry), in UTF-16 code units. */
  maxStringLength: number;
}

/**
 * The default bounds: `{"v":{"a":{"mag":1}}}` is 3 levels deep and a processed message's
 * `seq.v.zero.mag` is 4, leaving room for nested values; a full processed PMU message has about 70 names.
 */
export const DEFAULT_VALUE_LIMITS: Readonly<ValueLimits> = Object.freeze({
  maxDepth: 8,
  maxKeys: 512,
  maxKeyLength: 128,
  maxArrayLength: 1024,
  maxStringLength: 1024,
});

export interface ValidationLimits extends Partial<ValueLimits> {
  maxPayloadBytes: number;
  /** Wall clock now, µs. */
  nowUs: number;
  futureToleranceUs: number;
  pastToleranceUs: number;
}

const reject = (reason: RejectReason, detail: string): Rejection => ({ ok: false, reason, detail });

const PHASE_KEYS = new Set(['a', 'b', 'c']);
const POWER_KEYS = new Set(['a', 'b', 'c', 'total']);
const SEQ_SET_KEYS = new Set(['zero', 'pos', 'neg']);
/** Top-level names that are not values. */
const RESERVED = new Set(['device', 'ts', 'quality', 'reasons', 'field_quality']);

// Per-call state of the walk. Validation runs synchronously to completion and never re-enters itself,
// so module-level state is safe and saves an allocation per message.
/** path[k] is the member name at level k+1 of the field being checked (built into text only on error). */
const path: string[] = [];
let keys = 0;
let leaves = 0;
let lim: ValueLimits = DEFAULT_VALUE_LIMITS;

function pathText(n: number, last?: string): string {
  let p = '';
  for (let k = 0; k < n; k++) p += (k ? '.' : '') + path[k];
  if (last !== undefined) p += (n ? '.' : '') + last;
  return short(p);
}

function short(s: string): string {
  return s.length > 80 ? s.slice(0, 80) + '…' : s;
}

function typeName(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'array';
  if (typeof x === 'string') return `string ${JSON.stringify(x.length > 20 ? x.slice(0, 20) + '…' : x)}`;
  return typeof x;
}

/** Index of the first control character (U+0000–U+001F, U+007F–U+009F) in `s`, or -1. */
function controlCharAt(s: string): number {
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return k;
  }
  return -1;
}

/** An object literal or JSON object: not an array, not a class instance. */
function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return false;
  const proto = Object.getPrototypeOf(x) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Count a member name and check it; `n` is the number of names above it on its path. */
function checkKey(key: string, n: number): Rejection | null {
  if (++keys > lim.maxKeys) return reject('too_many_keys', `more than ${lim.maxKeys} member names in the message (at ${pathText(n, key)})`);
  const len = key.length;
  if ((len === 9 || len === 11) && (key === '__proto__' || key === 'constructor' || key === 'prototype'))
    return reject('forbidden_key', `${pathText(n, key)}: the member name "${key}" is not allowed`);
  if (len === 0) return reject('bad_key', `${pathText(n, '""')}: empty member name`);
  if (len > lim.maxKeyLength) return reject('bad_key', `${pathText(n, key)}: member name longer than ${lim.maxKeyLength} characters`);
  if (key.includes('.')) return reject('bad_key', `${pathText(n, JSON.stringify(key))}: member names must not contain "." (values are addressed by dotted path)`);
  return null;
}

/** A finite number check with a reason for each way it can fail. */
function checkNumber(x: unknown, n: number): Rejection | null {
  if (typeof x !== 'number') return reject('bad_type', `${pathText(n)} must be a number, got ${typeName(x)}`);
  if (!Number.isFinite(x)) return reject('non_finite', `${pathText(n)} must be finite`);
  return null;
}

/** An object at level n+1 (n names on its path): plain, and within the depth limit. */
function checkContainer(x: unknown, n: number, what: string): Rejection | null {
  if (!isPlainObject(x)) return reject('bad_type', `${pathText(n)} must be ${what}, got ${typeName(x)}`);
  if (n + 1 > lim.maxDepth) return reject('too_deep', `${pathText(n)} nests deeper than ${lim.maxDepth} levels`);
  return null;
}

/**
 * A value of any other field, at path[0..n-1]: a leaf (finite number, boolean, string, array of
 * finite numbers) or a plain object of values. `undefined` (a driver's absent optional field) is skipped.
 */
function checkValue(x: unknown, n: number): Rejection | null {
  switch (typeof x) {
    case 'number':
      if (!Number.isFinite(x)) return reject('non_finite', `${pathText(n)} must be finite`);
      leaves++;
      return null;
    case 'boolean':
      leaves++;
      return null;
    case 'string':
      if (x.length > lim.maxStringLength) return reject('too_long', `${pathText(n)} is a string longer than ${lim.maxStringLength} characters`);
      leaves++;
      return null;
    case 'undefined':
      return null;
    case 'object': {
      if (x === null) return reject('bad_type', `${pathText(n)} is null (a value is a number, boolean, string, array of numbers or object)`);
      if (n + 1 > lim.maxDepth) return reject('too_deep', `${pathText(n)} nests deeper than ${lim.maxDepth} levels`);
      if (Array.isArray(x)) {
        if (x.length > lim.maxArrayLength) return reject('too_long', `${pathText(n)} is an array longer than ${lim.maxArrayLength}`);
        for (let k = 0; k < x.length; k++) {
          const e: unknown = x[k];
          if (typeof e !== 'number') {
            const what = typeof e === 'object' && e !== null ? 'objects and arrays inside arrays are not allowed' : `got ${typeName(e)}`;
            return reject('bad_type', `${pathText(n)}[${k}]: an array value holds numbers only, ${what}`);
          }
          if (!Number.isFinite(e)) return reject('non_finite', `${pathText(n)}[${k}] must be finite`);
        }
        leaves++;
        return null;
      }
      if (!isPlainObject(x)) return reject('bad_type', `${pathText(n)} must be a plain object, got ${typeName(x)}`);
      for (const k in x) {
        const e = checkKey(k, n) ?? ((path[n] = k), checkValue(x[k], n + 1));
        if (e) return e;
      }
      return null;
    }
    default:
      return reject('bad_type', `${pathText(n)} must be a number, boolean, string, array of numbers or object, got ${typeof x}`);
  }
}

/** `{ mag, ang? }` at path[0..n-1]; other members are checked as values. */
function checkPhasor(x: unknown, n: number): Rejection | null {
  const c = checkContainer(x, n, 'an object { mag, ang }');
  if (c) return c;
  const ph = x as Record<string, unknown>;
  for (const k in ph) {
    const e = checkKey(k, n);
    if (e) return e;
    path[n] = k;
    if (k === 'mag') {
      if (ph.mag === undefined) continue;
      const m = checkNumber(ph.mag, n + 1);
      if (m) return m;
      if ((ph.mag as number) < 0) return reject('bad_value', `${pathText(n + 1)} must not be negative`);
    } else if (k === 'ang') {
      if (ph.ang === undefined) continue;
      const a = checkNumber(ph.ang, n + 1);
      if (a) return a;
    } else {
      const v = checkValue(ph[k], n + 1);
      if (v) return v;
    }
  }
  if (ph.mag === undefined) return reject('missing_field', `${pathText(n, 'mag')} is missing`);
  return null;
}

/** `v` or `i`: phases a, b, c of phasors. */
function checkPhasors(x: unknown, name: string): Rejection | null {
  path[0] = name;
  const c = checkContainer(x, 1, 'an object of phases a, b, c');
  if (c) return c;
  const o = x as Record<string, unknown>;
  for (const k in o) {
    const e = checkKey(k, 1);
    if (e) return e;
    if (!PHASE_KEYS.has(k)) return reject('unknown_phase', `${name}.${short(k)} is not a phase (a, b, c)`);
    path[1] = k;
    const p = checkPhasor(o[k], 2);
    if (p) return p;
  }
  return null;
}

/** `p`, `q`, `s`, `pf`: numbers for a, b, c, total. */
function checkPowerSet(x: unknown, name: string): Rejection | null {
  path[0] = name;
  const c = checkContainer(x, 1, 'an object of a, b, c, total');
  if (c) return c;
  const o = x as Record<string, unknown>;
  for (const k in o) {
    const e = checkKey(k, 1);
    if (e) return e;
    if (!POWER_KEYS.has(k)) return reject('unknown_phase', `${name}.${short(k)} is not a phase (a, b, c, total)`);
    path[1] = k;
    const v = checkNumber(o[k], 2);
    if (v) return v;
  }
  return null;
}

/** `seq`: `v`/`i` sets of zero, pos, neg phasors and unbalance percentages; other members are values. */
function checkSeq(x: unknown): Rejection | null {
  path[0] = 'seq';
  const c = checkContainer(x, 1, 'an object of symmetrical components');
  if (c) return c;
  const o = x as Record<string, unknown>;
  for (const k in o) {
    const e = checkKey(k, 1);
    if (e) return e;
    path[1] = k;
    const val = o[k];
    if (val === undefined) continue;
    if (k === 'v' || k === 'i') {
      const cs = checkContainer(val, 2, 'an object of zero, pos, neg phasors');
      if (cs) return cs;
      const set = val as Record<string, unknown>;
      for (const s in set) {
        const es = checkKey(s, 2);
        if (es) return es;
        if (!SEQ_SET_KEYS.has(s)) return reject('bad_key', `seq.${k}.${short(s)} is not a sequence component (zero, pos, neg)`);
        path[2] = s;
        const p = checkPhasor(set[s], 3);
        if (p) return p;
      }
    } else if (k === 'v_unbalance_pct' || k === 'i_unbalance_pct') {
      const v = checkNumber(val, 2);
      if (v) return v;
    } else {
      const v = checkValue(val, 2);
      if (v) return v;
    }
  }
  return null;
}

/** A top-level field other than the reserved ones. */
function checkField(k: string, x: unknown): Rejection | null {
  switch (k) {
    case 'v':
    case 'i':
      leaves++;
      return checkPhasors(x, k);
    case 'p':
    case 'q':
    case 's':
    case 'pf':
      leaves++;
      return checkPowerSet(x, k);
    case 'freq':
    case 'rocof':
    case 'v_total':
    case 'i_total': {
      path[0] = k;
      const e = checkNumber(x, 1);
      if (e) return e;
      if (k === 'freq' && (x as number) <= 0) return reject('bad_value', 'freq must be positive');
      if ((k === 'v_total' || k === 'i_total') && (x as number) < 0) return reject('bad_value', `${k} must not be negative`);
      leaves++;
      return null;
    }
    case 'seq':
      leaves++;
      return checkSeq(x);
    default:
      path[0] = k;
      return checkValue(x, 1);
  }
}

/** Does the dotted path name a present value field (a leaf or a subtree) of `o`? */
function hasPath(o: Record<string, unknown>, p: string): boolean {
  let cur: unknown = o;
  let from = 0;
  for (;;) {
    const dot = p.indexOf('.', from);
    const seg = dot < 0 ? p.slice(from) : p.slice(from, dot);
    if (from === 0 && RESERVED.has(seg)) return false;
    if (!isPlainObject(cur) || !Object.hasOwn(cur, seg) || cur[seg] === undefined) return false;
    cur = cur[seg];
    if (dot < 0) return true;
    from = dot + 1;
  }
}

/** Check `field_quality` against the message and return the worst quality it names. */
function checkFieldQuality(o: Record<string, unknown>, fq: unknown): Rejection | Quality {
  if (!isPlainObject(fq)) return reject('bad_field_quality', `field_quality must be an object of "<dotted path>": "questionable" | "invalid", got ${typeName(fq)}`);
  let worst: Quality = 'good';
  for (const p in fq) {
    if (++keys > lim.maxKeys) return reject('too_many_keys', `more than ${lim.maxKeys} member names in the message (at field_quality)`);
    if (p === '__proto__' || p === 'constructor' || p === 'prototype')
      return reject('forbidden_key', `field_quality.${p}: the member name "${p}" is not allowed`);
    const q = fq[p];
    if (q !== 'questionable' && q !== 'invalid')
      return reject('bad_field_quality', `field_quality["${short(p)}"] must be "questionable" or "invalid", got ${typeName(q)}`);
    if (!hasPath(o, p)) return reject('bad_field_quality', `field_quality names "${short(p)}", which is not a value field of this message`);
    worst = worstQuality(worst, q);
  }
  return worst;
}

/**
 * Check a measurement object (parsed from JSON, or emitted by a driver) in place.
 * `topicDevice`, when given, is the device named by the topic; it wins over a missing `device`
 * and must equal a present one.
 */
export function checkMeasurement(x: unknown, topicDevice: string | null, limits: ValidationLimits): Accepted | Rejection {
  if (topicDevice !== null) {
    const bad = deviceNameError(topicDevice);
    if (bad) return reject('bad_topic', `topic's device: ${bad}`);
  }
  return checkObject(x, topicDevice, limits);
}

/** The value limits in force: the defaults unless the caller overrides some. */
function valueLimits(l: ValidationLimits): ValueLimits {
  const d = DEFAULT_VALUE_LIMITS;
  if (l.maxDepth === undefined && l.maxKeys === undefined && l.maxKeyLength === undefined && l.maxArrayLength === undefined && l.maxStringLength === undefined)
    return d;
  return {
    maxDepth: l.maxDepth ?? d.maxDepth,
    maxKeys: l.maxKeys ?? d.maxKeys,
    maxKeyLength: l.maxKeyLength ?? d.maxKeyLength,
    maxArrayLength: l.maxArrayLength ?? d.maxArrayLength,
    maxStringLength: l.maxStringLength ?? d.maxStringLength,
  };
}

function checkObject(x: unknown, topicDevice: string | null, limits: ValidationLimits): Accepted | Rejection {
  if (!isPlainObject(x)) return reject('not_object', `payload must be a JSON object, got ${typeName(x)}`);
  const o = x;
  lim = valueLimits(limits);
  keys = 0;
  leaves = 0;

  if (o.device === undefined) {
    if (!topicDevice) return reject('missing_field', 'device is missing');
    o.device = topicDevice;
  } else if (typeof o.device !== 'string' || o.device === '') {
    return reject('bad_type', `device must be a non-empty string, got ${typeName(o.device)}`);
  } else {
    const bad = deviceNameError(o.device);
    if (bad) return reject('bad_device', `device: ${bad}`);
    if (topicDevice && o.device !== topicDevice)
      return reject('device_mismatch', `device "${o.device}" does not match the topic's device "${topicDevice}"`);
  }
  if (o.quality === undefined) o.quality = 'good';
  else if (!isQuality(o.quality)) return reject('bad_value', `quality must be good, questionable or invalid, got ${typeName(o.quality)}`);
  if (o.reasons !== undefined) {
    const r = o.reasons;
    if (!Array.isArray(r)) return reject('bad_type', 'reasons must be an array of strings');
    if (r.length > lim.maxArrayLength) return reject('too_long', `reasons is an array longer than ${lim.maxArrayLength}`);
    for (let k = 0; k < r.length; k++) {
      const s: unknown = r[k];
      if (typeof s !== 'string') return reject('bad_type', `reasons[${k}] must be a string (reasons must be an array of strings)`);
      if (s.length > lim.maxStringLength) return reject('too_long', `reasons[${k}] is longer than ${lim.maxStringLength} characters`);
      const at = controlCharAt(s);
      if (at >= 0) return reject('bad_value', `reasons[${k}] contains control character U+${s.charCodeAt(at).toString(16).toUpperCase().padStart(4, '0')} at ${at} (reasons are short codes shown on the page and the CLI)`);
    }
  }

  for (const k in o) {
    const ek = checkKey(k, 0);
    if (ek) return ek;
    const v = o[k];
    if (v === undefined || RESERVED.has(k)) continue;
    const e = checkField(k, v);
    if (e) return e;
  }
  if (leaves === 0) return reject('missing_field', 'no value: the message has no electrical quantity and no other value field');

  const m = o as Measurement;
  let tsFlagged = true;
  if (o.ts === undefined) {
    m.ts = limits.nowUs;
    flag(m, 'questionable', 'ts_missing');
  } else {
    path[0] = 'ts';
    const e = checkNumber(o.ts, 1);
    if (e) return e;
    const ts = o.ts as number;
    if (!Number.isSafeInteger(ts) || ts < 0)
      return reject('bad_value', 'ts must be a non-negative integer number of microseconds since the epoch');
    if (ts > limits.nowUs + limits.futureToleranceUs) flag(m, 'questionable', 'ts_future');
    else if (ts < limits.nowUs - limits.pastToleranceUs) flag(m, 'questionable', 'ts_past');
    else tsFlagged = false;
  }
  if (o.field_quality !== undefined) {
    const q = checkFieldQuality(o, o.field_quality);
    if (typeof q !== 'string') return q;
    m.quality = worstQuality(m.quality, q);
    // A timestamp flag concerns every field, but with field_quality the fields it does not name count
    // as good: so each top-level value field gets at least "questionable" there (a new object; worse
    // entries are kept, and entries below a field still cover their own paths).
    if (tsFlagged) m.field_quality = lowerEveryField(o, o.field_quality as FieldQuality);
  }
  return { ok: true, m };
}

/** `fq` with every top-level value field of `o` at least questionable. */
function lowerEveryField(o: Record<string, unknown>, fq: FieldQuality): FieldQuality {
  const out: FieldQuality = { ...fq };
  for (const k in o) {
    if (RESERVED.has(k) || o[k] === undefined) continue;
    if (out[k] !== 'invalid') out[k] = 'questionable';
  }
  return out;
}

/** Parse and check a raw payload received on `bal/raw/<topicDevice>`. */
export function parseMeasurement(payload: Buffer | string, topicDevice: string, limits: ValidationLimits): Accepted | Rejection {
  const bad = deviceNameError(topicDevice);
  if (bad) return reject('bad_topic', `topic's device: ${bad}`);
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (size > limits.maxPayloadBytes) return reject('oversize', `payload is ${size} bytes, the limit is ${limits.maxPayloadBytes}`);
  if (typeof payload !== 'string' && !isUtf8(payload)) return reject('bad_json', 'payload is not valid UTF-8 (JSON text must be UTF-8)');
  const text = typeof payload === 'string' ? payload : payload.toString('utf8');
  const scan = scanJson(text, valueLimits(limits));
  if (scan) return reject(scan.reason, scan.detail);
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch (err) {
    return reject('bad_json', `payload is not JSON: ${(err as Error).message}`);
  }
  const r = checkObject(x, topicDevice, limits);
  if (r.ok) r.text = text;
  return r;
}
