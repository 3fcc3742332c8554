/**
 * From a configuration to measurement messages: the device name of each PMU block, where each phasor
 * goes (`v.a` … `i.c`, or `phasor.<channel>`), and the names of analog and digital values. A plan is
 * built once per configuration; `toMeasurement` runs per block per frame.
 *
 * Phasor mapping, in this order: the CFG-3 phasor type (phase A/B/C component, voltage or current
 * bit); else the channel name (`VA` `VB` `VC` `IA` `IB` `IC`, case-insensitive, surrounding blanks
 * ignored); else the driver's explicit `phasors` map (channel name → `v.a` …). A target already taken
 * by an earlier channel, and every phasor that maps to none, goes to `phasor.<channel>`.
 */
import type { Measurement, Phasor, Quality } from '../../algorithms/common/measurement.js';
import { markField } from '../../algorithms/common/field-quality.js';
import type { ConfigFrame, PmuConfig, PmuData } from './codec/index.js';
import { readStat } from './codec/index.js';

export type PhasorTarget = `${'v' | 'i'}.${'a' | 'b' | 'c'}`;
export const PHASOR_TARGETS: readonly PhasorTarget[] = ['v.a', 'v.b', 'v.c', 'i.a', 'i.b', 'i.c'];

/** Most member names one message may use for channels (the pipeline allows 512 in all). */
export const KEY_BUDGET = 400;

/** PHSCALE modification flag: upsampled with extrapolation (the value is a prediction). */
const FLAG_EXTRAPOLATED = 1 << 2;
/** PHSCALE modification flag: pseudo-phasor combined from other phasors. */
const FLAG_PSEUDO = 1 << 10;

interface PhasorSlot {
  /** Index into the block's phasors. */
  k: number;
  group: string;
  key: string;
  /** Dotted path, for field_quality and reasons. */
  path: string;
  /** From the CFG-3 modification flags: questionable when the value is extrapolated or a pseudo-phasor. */
  questionable: boolean;
}

export interface BlockPlan {
  device: string;
  /** The block's own IDCODE (the alignment key together with the stream). */
  idcode: number;
  station: string;
  phasors: PhasorSlot[];
  analogs: { k: number; key: string }[];
  digitals: { word: number; bit: number; key: string }[];
  /** Channels left out because the message would have had too many names. */
  dropped: number;
}

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

/** A member name for a channel: letters, digits, `_` and `-` kept, others `_`; unique within `used`. */
export function valueKey(name: string, fallback: string, used: Set<string>): string {
  let k = name.trim().replace(/[^A-Za-z0-9_-]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 64);
  if (k === '' || FORBIDDEN.has(k)) k = fallback;
  let out = k;
  for (let n = 2; used.has(out); n++) out = `${k}_${n}`;
  used.add(out);
  return out;
}

const BY_NAME: Record<string, PhasorTarget> = { VA: 'v.a', VB: 'v.b', VC: 'v.c', IA: 'i.a', IB: 'i.b', IC: 'i.c' };

/**
 * How a stream's blocks are named: `auto` (CONTRACT) `<id>` for a stream of one block and
 * `<id>-<block IDCODE>` for several; `idcode` always `<id>-<block IDCODE>`, so that a PDC stream whose
 * block count changes (a PMU taken out, leaving one) keeps its devices' names.
 */
export type BlockNames = 'auto' | 'idcode';

/** Device names of the blocks: `<id>` for one block, `<id>-<block IDCODE>` for several. */
export function deviceNames(id: string, cfg: ConfigFrame, blockNames: BlockNames = 'auto'): string[] {
  if (cfg.pmus.length === 1 && blockNames === 'auto') return [id];
  const seen = new Map<number, number>();
  for (const p of cfg.pmus) seen.set(p.idcode, (seen.get(p.idcode) ?? 0) + 1);
  const nth = new Map<number, number>();
  return cfg.pmus.map((p) => {
    if (seen.get(p.idcode) === 1) return `${id}-${p.idcode}`;
    // Two blocks with one IDCODE (a device misconfiguration): keep them apart by position.
    const n = (nth.get(p.idcode) ?? 0) + 1;
    nth.set(p.idcode, n);
    return `${id}-${p.idcode}-${n}`;
  });
}

function blockPlan(device: string, p: PmuConfig, explicit: Readonly<Record<string, string>>): BlockPlan {
  const taken = new Set<string>();
  const phasorKeys = new Set<string>();
  const analogKeys = new Set<string>();
  const digitalKeys = new Set<string>();
  let budget = KEY_BUDGET;
  let dropped = 0;
  const phasors: PhasorSlot[] = [];
  for (let k = 0; k < p.phasors.length; k++) {
    const ch = p.phasors[k]!;
    let target: PhasorTarget | undefined;
    if (ch.component === 'a' || ch.component === 'b' || ch.component === 'c') target = `${ch.kind === 'current' ? 'i' : 'v'}.${ch.component}`;
    if (!target) target = BY_NAME[ch.name.trim().toUpperCase()];
    if (!target) {
      const e = explicit[ch.name] ?? explicit[ch.name.trim()];
      if (e && (PHASOR_TARGETS as readonly string[]).includes(e)) target = e as PhasorTarget;
    }
    const questionable = ((ch.modification ?? 0) & (FLAG_EXTRAPOLATED | FLAG_PSEUDO)) !== 0;
    if (target && !taken.has(target)) {
      taken.add(target);
      const [group, key] = target.split('.') as [string, string];
      phasors.push({ k, group, key, path: target, questionable });
      budget -= 3;
      continue;
    }
    if (budget < 3) {
      dropped++;
      continue;
    }
    budget -= 3;
    const key = valueKey(ch.name, `ch${k + 1}`, phasorKeys);
    phasors.push({ k, group: 'phasor', key, path: `phasor.${key}`, questionable });
  }
  const analogs: BlockPlan['analogs'] = [];
  for (let k = 0; k < p.analogs.length; k++) {
    if (budget < 1) {
      dropped++;
      continue;
    }
    budget--;
    analogs.push({ k, key: valueKey(p.analogs[k]!.name, `ch${k + 1}`, analogKeys) });
  }
  const digitals: BlockPlan['digitals'] = [];
  for (let w = 0; w < p.digitals.length; w++) {
    const d = p.digitals[w]!;
    for (let bit = 0; bit < 16; bit++) {
      const name = d.names[bit] ?? '';
      // Bits the DIGUNIT mask marks invalid, and unnamed bits, are not reported.
      if (!(d.valid & (1 << bit)) || name.trim() === '') continue;
      if (budget < 1) {
        dropped++;
        continue;
      }
      budget--;
      digitals.push({ word: w, bit, key: valueKey(name, `w${w + 1}b${bit}`, digitalKeys) });
    }
  }
  return { device, idcode: p.idcode, station: p.station, phasors, analogs, digitals, dropped };
}

/** The plan of every block of a configuration. */
export function planFor(id: string, cfg: ConfigFrame, explicit: Readonly<Record<string, string>> = {}, blockNames: BlockNames = 'auto'): BlockPlan[] {
  const names = deviceNames(id, cfg, blockNames);
  return cfg.pmus.map((p, k) => blockPlan(names[k]!, p, explicit));
}

/**
 * One block of a data frame as a measurement: quality and reasons from STAT and the time quality byte,
 * `stat` (the raw STAT word) always present, frequency and ROCOF when the device sent them, phasors
 * as mapped, `analog.<name>`, `digital.<name>` (booleans). A value the device sent as "no value" is left
 * out, with the reason `absent_values` and quality questionable.
 */
export function toMeasurement(plan: BlockPlan, d: PmuData, ts: number, timeQuality: number, maxTimeErrorUs: number): Measurement {
  const st = readStat(d.stat, timeQuality, maxTimeErrorUs);
  let quality: Quality = st.quality;
  const reasons = st.reasons;
  const m: Measurement = { device: plan.device, ts, quality };
  m.stat = d.stat;
  let absent = false;
  // A frequency that is not positive is a device fault, reported as an absent value.
  if (Number.isFinite(d.freq) && d.freq > 0) m.freq = d.freq;
  else absent = true;
  if (Number.isFinite(d.rocof)) m.rocof = d.rocof;
  else absent = true;
  let fq: Record<string, 'questionable' | 'invalid'> | undefined;
  for (const s of plan.phasors) {
    const mag = d.mag[s.k]!;
    const ang = d.ang[s.k]!;
    if (!Number.isFinite(mag) || !Number.isFinite(ang)) {
      absent = true;
      continue;
    }
    const ph: Phasor = { mag, ang };
    const group = (m[s.group] ?? (m[s.group] = {})) as Record<string, Phasor>;
    group[s.key] = ph;
    if (s.questionable) markField((fq ??= {}), s.path, 'questionable');
  }
  if (plan.analogs.length) {
    const a: Record<string, number> = {};
    let any = false;
    for (const s of plan.analogs) {
      const v = d.analogs[s.k]!;
      if (Number.isFinite(v)) {
        a[s.key] = v;
        any = true;
      } else absent = true;
    }
    if (any) m.analog = a;
  }
  if (plan.digitals.length) {
    const dg: Record<string, boolean> = {};
    for (const s of plan.digitals) dg[s.key] = ((d.digitals[s.word] ?? 0) & (1 << s.bit)) !== 0;
    m.digital = dg;
  }
  if (absent) {
    if (quality === 'good') quality = 'questionable';
    reasons.push('absent_values');
  }
  if (fq) {
    m.field_quality = fq;
    if (quality === 'good') quality = 'questionable';
  }
  m.quality = quality;
  if (reasons.length) m.reasons = reasons;
  return m;
}
