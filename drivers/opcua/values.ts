/**
 * OPC UA values and status codes as measurement fields: a Variant becomes a leaf (number, boolean,
 * string or array of numbers), a StatusCode becomes a field quality and a reason. Pure functions.
 */
import type { Quality } from '../../algorithms/common/measurement.js';
import { isElectricalField } from '../common/field-path.js';

export type Leaf = number | boolean | string | number[];

/** OPC UA built-in data type ids (Part 6) used here. */
const DT = { Boolean: 1, Int64: 8, UInt64: 9, String: 12, DateTime: 13, LocalizedText: 21, QualifiedName: 20 } as const;


/** A Variant as node-opcua hands it (only the members read here). */
export interface VariantLike {
  dataType?: number;
  arrayType?: number;
  value?: unknown;
}

export type Conversion = { ok: true; value: Leaf } | { ok: false; why: 'empty' | 'not_finite' | 'unsupported_type' };

function int64(v: unknown, signed: boolean): number | null {
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'number') {
    // node-opcua carries 64-bit integers as [high 32 bits, low 32 bits].
    const hi = signed && v[0] >= 0x80000000 ? v[0] - 0x100000000 : v[0];
    return hi * 0x100000000 + v[1];
  }
  return null;
}

/**
 * The leaf a Variant gives for `field`: numbers (64-bit integers converted, beyond 2^53 rounded),
 * booleans, strings, LocalizedText's text, QualifiedName's name, DateTime as an ISO 8601 string, and
 * one-dimensional arrays of finite numbers. Electrical fields accept finite numbers only.
 */
export function toLeaf(variant: VariantLike | null | undefined, field: string): Conversion {
  const v = variant?.value;
  if (v === null || v === undefined) return { ok: false, why: 'empty' };
  const dt = variant?.dataType ?? 0;
  const scalar = (variant?.arrayType ?? 0) === 0;
  let out: Leaf | null = null;
  if (scalar && (dt === DT.Int64 || dt === DT.UInt64)) out = int64(v, dt === DT.Int64);
  else if (typeof v === 'number') out = v;
  else if (typeof v === 'bigint') out = Number(v);
  else if (typeof v === 'boolean') out = v;
  else if (typeof v === 'string') out = v;
  else if (v instanceof Date) out = Number.isNaN(v.getTime()) ? null : v.toISOString();
  else if (!scalar && (ArrayBuffer.isView(v) || Array.isArray(v))) {
    const arr = Array.from(v as ArrayLike<unknown>);
    if (!arr.every((x) => typeof x === 'number')) return { ok: false, why: 'unsupported_type' };
    if (!arr.every((x) => Number.isFinite(x))) return { ok: false, why: 'not_finite' };
    out = arr as number[];
  } else if (dt === DT.LocalizedText && typeof (v as { text?: unknown }).text === 'string') out = (v as { text: string }).text;
  else if (dt === DT.QualifiedName && typeof (v as { name?: unknown }).name === 'string') out = (v as { name: string }).name;
  if (out === null) return { ok: false, why: 'unsupported_type' };
  if (typeof out === 'number' && !Number.isFinite(out)) return { ok: false, why: 'not_finite' };
  if (isElectricalField(field) && typeof out !== 'number') return { ok: false, why: 'unsupported_type' };
  return { ok: true, value: out };
}

/**
 * Quality of a StatusCode by its severity bits (the top two): Good → good, Uncertain →
 * questionable, Bad → invalid.
 */
export function qualityOfStatus(code: number): Quality {
  const severity = code >>> 30;
  return severity === 0 ? 'good' : severity === 1 ? 'questionable' : 'invalid';
}

/** The status name without node-opcua's "#flag" suffixes (`UncertainLastUsableValue#Overflow` → `UncertainLastUsableValue`). */
export function statusName(name: string | undefined, code: number): string {
  const n = (name ?? '').split('#')[0]!;
  return n !== '' ? n : `0x${(code >>> 0).toString(16).padStart(8, '0')}`;
}
