/**
 * Near-real-time jobs (`operation_mode: near_real_time`), the pure part: reading the loop's settings
 * from a job, building the job of one run from the forecast and the live values, and moving the SoC
 * estimate forward between runs. The loop itself (timers, live measurements, publishing) is the
 * scheduler service's.
 *
 * One run at time `now`:
 *  - the run's horizon is the forecast from the step that contains `now` to the end of the horizon
 *    (one step of the job's length when `now` lies outside the forecast);
 *  - the first step's net demand is the MEASURED net power (load = its positive part, generation its
 *    negative part), not the forecast;
 *  - every battery starts at its current SoC (carried forward or measured), clamped to min..max;
 *  - a bulk window that began in an earlier step, a `day_end` in an earlier step and a final SoC on a one-step
 *    horizon are left out (they cannot be honoured from the middle of a window);
 *  - the run's first step gives the setpoints.
 */
import { fieldPathError } from '../stats/field-path.js';
import { parseTime } from './input.js';
import { SchedulerInputError, type Battery, type Job } from './job.js';
import type { ScheduleResult } from './result.js';

/** Where a live value comes from: a device's processed measurement, a dotted field, a scale. */
export interface LiveInput {
  device: string;
  field: string;
  /** value used = field value × scale (e.g. 0.001 turns W into kW; a negative scale flips the sign). */
  scale: number;
}

export interface NearRealTimeSpec {
  startMs: number;
  endMs: number;
  repeatMs: number;
  /** A live value older than this (by its measurement timestamp) is stale. */
  maxAgeMs: number;
  /** The measured net power (kW after scaling, positive = import / deficit). */
  net: LiveInput;
  /** Per battery id with a measured SoC (a fraction after scaling). */
  soc: Record<string, LiveInput>;
}

/** Defaults from the service's config, used where the job does not say. */
export interface NearRealTimeDefaults {
  netDevice: string;
  netField: string;
  netScale: number;
  socField: string;
  socScale: number;
  maxInputAgeS: number;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v) ?? String(v));

/** The shortest repeat interval accepted, seconds. */
export const MIN_REPEAT_S = 1;

/**
 * Reads `job_start`, `job_end`, `repeat_seconds` and `live_inputs` of a near-real-time job (already
 * normalised into `job`). `job_start` defaults to `nowMs`, `job_end` to the end of the forecast's last
 * step. Throws `SchedulerInputError` naming every bad field.
 */
/**
 * The device-name rule used when the caller gives none: one topic level (no "/", "+", "#"), no
 * control characters, at most 128 characters. The agent passes its own rule (agent/pipeline/device-name.ts).
 */
export function basicDeviceNameError(name: string): string | null {
  if (name.length > 128) return `device name is longer than 128 characters (${name.length})`;
  const m = /[/+#\u0000-\u001f\u007f-\u009f]/.exec(name);
  return m ? `device name contains ${JSON.stringify(m[0])} at ${m.index} (no "/", "+", "#" or control characters)` : null;
}

/** A long string shown in a problem: its first 40 characters and its length (the whole of it would flood the answer and the log). */
export function shortText(v: string): string {
  return v.length <= 60 ? JSON.stringify(v) : `${JSON.stringify(v.slice(0, 40))}… (${v.length} characters)`;
}

export function readNearRealTime(
  raw: unknown,
  job: Job,
  d: NearRealTimeDefaults,
  nowMs: number,
  deviceNameError: (name: string) => string | null = basicDeviceNameError,
): NearRealTimeSpec {
  const problems: string[] = [];
  const bad = (path: string, what: string, ...got: unknown[]): void => {
    problems.push(got.length === 0 ? `${path}: ${what}` : `${path}: ${what}, got ${show(got[0])}`);
  };
  const o = isObj(raw) ? raw : {};
  const time = (key: string): number | undefined => {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    const ms = typeof v === 'string' ? parseTime(v) : undefined;
    if (ms === undefined) bad(key, 'must be an ISO 8601 date-time', v);
    return ms;
  };
  const stepMs = job.deltaH * 3_600_000;
  const given = (key: string): boolean => o[key] !== undefined && o[key] !== null;
  const start = time('job_start');
  const end = time('job_end');
  const startMs = start ?? nowMs;
  const endMs = end ?? job.timesMs[job.timesMs.length - 1]! + stepMs;
  // The window is checked only from times that could be read (an unreadable one is named above), and
  // a default is called what it is: the client may not have sent job_start or job_end at all.
  const startText = given('job_start') ? `job_start (${new Date(startMs).toISOString()})` : `job_start (not given: now, ${new Date(startMs).toISOString()})`;
  const endBad = (what: string): void =>
    given('job_end') ? bad('job_end', what, o['job_end']) : bad('job_end', `${what}; not given, it is the end of the forecast's last step, ${new Date(endMs).toISOString()}`);
  if ((given('job_start') && start === undefined) || (given('job_end') && end === undefined)) {
    // Already named above: the window is checked only on times that could be read.
  } else if (endMs <= startMs) endBad(`must be after ${startText}`);
  else if (endMs <= nowMs) endBad(`is already past (now is ${new Date(nowMs).toISOString()})`);
  const rep = o['repeat_seconds'];
  if (rep === undefined || rep === null) bad('repeat_seconds', 'required for a near_real_time job (the loop period in seconds)');
  else if (typeof rep !== 'number' || !Number.isFinite(rep) || rep < MIN_REPEAT_S) bad('repeat_seconds', `must be a number of at least ${MIN_REPEAT_S}`, rep);

  const live = o['live_inputs'];
  if (live !== undefined && !isObj(live)) bad('live_inputs', 'must be an object { net_power, battery_soc?, max_age_s? }', live);
  const l = isObj(live) ? live : {};
  const input = (v: unknown, path: string, dflt: { device?: string; field: string; scale: number }): LiveInput | undefined => {
    if (v !== undefined && !isObj(v)) return bad(path, 'must be an object { device, field?, scale? }', v), undefined;
    const x = (v ?? {}) as Obj;
    const device = x['device'] ?? dflt.device;
    const field = x['field'] ?? dflt.field;
    const scale = x['scale'] ?? dflt.scale;
    let ok = true;
    // The device name goes into the published message, the logs and the job's details: it must be a
    // name a device can have (the agent's rule: one topic level, no control characters, at most 128 bytes).
    if (device === undefined || device === '') {
      ok = false;
      bad(`${path}.device`, path.endsWith('net_power') ? 'required for a near_real_time job (the device whose measured net power replaces the forecast), or set scheduler.netDevice' : 'required (the device that reports the value)');
    } else if (typeof device !== 'string') (ok = false), bad(`${path}.device`, 'must be a device name (a string)', device);
    else {
      const de = deviceNameError(device);
      if (de) (ok = false), problems.push(`${path}.device: must be a device name: ${de}, got ${shortText(device)}`);
    }
    const fe = fieldPathError(field);
    if (fe) (ok = false), bad(`${path}.field`, fe, field);
    if (typeof scale !== 'number' || !Number.isFinite(scale) || scale === 0) (ok = false), bad(`${path}.scale`, 'must be a finite number other than 0', scale);
    return ok ? { device: device as string, field: field as string, scale: scale as number } : undefined;
  };
  const net = input(l['net_power'], 'live_inputs.net_power', { ...(d.netDevice ? { device: d.netDevice } : {}), field: d.netField, scale: d.netScale });
  const soc: Record<string, LiveInput> = {};
  const bs = l['battery_soc'];
  if (bs !== undefined && !isObj(bs)) bad('live_inputs.battery_soc', 'must be an object { "<battery id>": { device, field?, scale? } }', bs);
  else if (bs)
    for (const [id, v] of Object.entries(bs)) {
      if (!job.batteries.some((b) => b.id === id)) {
        bad(`live_inputs.battery_soc${id.length <= 60 ? `.${id}` : `[${shortText(id)}]`}`, `names no battery of this job (${job.batteries.map((b) => b.id).join(', ')})`);
        continue;
      }
      const s = input(v, `live_inputs.battery_soc.${id}`, { field: d.socField, scale: d.socScale });
      if (s) soc[id] = s;
    }
  const age = l['max_age_s'] ?? d.maxInputAgeS;
  if (typeof age !== 'number' || !Number.isFinite(age) || age <= 0) bad('live_inputs.max_age_s', 'must be a number of seconds greater than 0', age);
  if (problems.length) throw new SchedulerInputError(problems);
  return { startMs, endMs, repeatMs: (rep as number) * 1000, maxAgeMs: (age as number) * 1000, net: net!, soc };
}

/** Index of the forecast step containing `nowMs`, or null when `nowMs` lies outside the forecast. */
export function stepAt(job: Job, nowMs: number): number | null {
  const stepMs = job.deltaH * 3_600_000;
  const k = Math.floor((nowMs - job.timesMs[0]!) / stepMs);
  return k >= 0 && k < job.timesMs.length ? k : null;
}

/**
 * The job of one run at `nowMs` (see the file comment): the forecast from the current step on, the
 * measured net power `netKw` for the current step, and `soc` (fractions by battery id; batteries not
 * named keep their initial SoC) as the starting SoC.
 */
export function jobForRun(job: Job, nowMs: number, netKw: number, soc: Readonly<Record<string, number>>): Job {
  const stepMs = job.deltaH * 3_600_000;
  const k = stepAt(job, nowMs);
  const idx = k === null ? [] : job.timestamps.map((_, i) => i).slice(k);
  const t0 = k === null ? job.timesMs[0]! + Math.floor((nowMs - job.timesMs[0]!) / stepMs) * stepMs : job.timesMs[k]!;
  const n = Math.max(idx.length, 1);
  const from = k ?? 0;
  const batteries: Battery[] = job.batteries.map((b) => {
    const s = soc[b.id] ?? b.initialSoc;
    const out: Battery = { ...b, initialSoc: Math.min(b.maxSoc, Math.max(b.minSoc, s)) };
    const dayEndLeft = job.dayEndIndex !== undefined && k !== null && job.dayEndIndex >= k;
    if (out.finalSoc !== undefined && (n === 1 || (b.type === 'hbes' && !dayEndLeft))) delete out.finalSoc;
    return out;
  });
  const run: Job = {
    ...job,
    timestamps: k === null ? [new Date(t0).toISOString()] : job.timestamps.slice(from),
    timesMs: k === null ? [t0] : job.timesMs.slice(from),
    loadKw: k === null ? [Math.max(netKw, 0)] : [Math.max(netKw, 0), ...job.loadKw.slice(from + 1)],
    genKw: k === null ? [Math.max(-netKw, 0)] : [Math.max(-netKw, 0), ...job.genKw.slice(from + 1)],
    limits: k === null ? [{}] : job.limits.slice(from),
    batteries,
  };
  delete run.dayEndIndex;
  delete run.bulk;
  if (k !== null && job.dayEndIndex !== undefined && job.dayEndIndex >= k) run.dayEndIndex = job.dayEndIndex - k;
  if (k !== null && job.bulk && job.bulk.startIndex >= k) run.bulk = { ...job.bulk, startIndex: job.bulk.startIndex - k, endIndex: job.bulk.endIndex - k };
  return run;
}

/** Per battery: the setpoint of a run (its first step) and the SoC the schedule expects at that step's end. */
export interface RunSetpoint {
  P_bat_kW: number;
  /** SoC at the start of the run (what the run started from). */
  socStart: number;
  /** SoC the schedule reaches at the end of the first step. */
  socEndOfStep: number;
}

/** The first step's setpoints of a run's result; null when the result has no schedule. */
export function setpointsOf(run: Job, result: ScheduleResult): Record<string, RunSetpoint> | null {
  const s0 = result.schedule[0];
  if (!s0) return null;
  const out: Record<string, RunSetpoint> = {};
  for (const b of run.batteries) {
    const p = s0.batteries[b.id];
    if (!p) return null;
    // Rule-based reports the SoC at the end of each step; the optimisation at its start (so the end
    // of step 0 is step 1's value, or the final SoC when the horizon has one step).
    const end = result.soc_at === 'end_of_step' ? p.SoC : (result.schedule[1]?.batteries[b.id]?.SoC ?? result.final_SoC?.[b.id] ?? p.SoC);
    out[b.id] = { P_bat_kW: p.P_bat_kW, socStart: b.initialSoc, socEndOfStep: end };
  }
  return out;
}

/**
 * The SoC after `elapsedH` hours at a setpoint whose schedule moves the SoC from `socStart` to
 * `socEndOfStep` over one step of `deltaH` hours (linear in time, clamped to min..max). Holds for
 * both model variants and any efficiency, since it follows the schedule's own SoC path.
 */
export function advanceSoc(b: Pick<Battery, 'minSoc' | 'maxSoc'>, sp: Pick<RunSetpoint, 'socStart' | 'socEndOfStep'>, from: number, elapsedH: number, deltaH: number): number {
  const rate = (sp.socEndOfStep - sp.socStart) / deltaH;
  return Math.min(b.maxSoc, Math.max(b.minSoc, from + rate * elapsedH));
}
