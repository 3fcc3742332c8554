/**
 * Input dialects → one `Job`. Accepts pymfm's service dialect (control_start/control_end, SoC as
 * fractions, P_available_kW/P_required_kW), its 0.5.x dialect (uc_start/uc_end, P_gen_kW/P_load_kW,
 * SoC in percent) and the Platone balancer dialect (uc_name, P_net[], SoC in percent). Every problem
 * is collected and thrown together as a `SchedulerInputError`, each naming its JSON path.
 */
import { SchedulerInputError, type Battery, type BulkWindow, type ControlLogic, type Dialect, type Job, type NetLimit, type OperationMode } from './job.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const fmt = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : v === undefined ? 'nothing' : JSON.stringify(v) ?? String(v));

/** Relative tolerance used to decide that two times or energies coincide. */
const EPS = 1e-9;

/** Which dialect an object is written in; null when none matches. */
export function detectDialect(raw: unknown): Dialect | null {
  if (!isObj(raw)) return null;
  if ('uc_name' in raw || 'P_net' in raw) return 'platone';
  if ('uc_start' in raw || 'uc_end' in raw) return 'pymfm-0.5';
  if ('control_logic' in raw || 'control_start' in raw || 'generation_and_load' in raw) return 'service';
  return null;
}

/**
 * Largest magnitude of any number in a job (kW, kWh, prices, hours). HiGHS takes 1e20 for infinity
 * and refuses models whose finite bounds or coefficients come near it; 1e9 (a terawatt in kW) is far
 * above any battery or feeder, and keeps the model well inside what the solver computes exactly.
 */
export const MAX_MAGNITUDE = 1e9;

/** The longest battery id taken, in characters (UTF-16 units). */
export const MAX_BATTERY_ID_LENGTH = 128;

/** The smallest battery capacity taken, kWh (1 Wh). */
export const MIN_CAPACITY_KWH = 0.001;

class Reader {
  readonly problems: string[] = [];
  bad(path: string, what: string, got?: unknown): void {
    this.problems.push(arguments.length > 2 ? `${path}: ${what}, got ${fmt(got)}` : `${path}: ${what}`);
  }
  num(o: Obj, key: string, path: string, opt: { required?: boolean; min?: number; positive?: boolean } = {}): number | undefined {
    const v = o[key];
    if (v === undefined || v === null) {
      if (opt.required !== false) this.bad(`${path}.${key}`, 'required number is missing');
      return undefined;
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      this.bad(`${path}.${key}`, 'must be a finite number', v);
      return undefined;
    }
    if (Math.abs(v) > MAX_MAGNITUDE) {
      this.bad(`${path}.${key}`, 'must be between -1e9 and 1e9 (MAX_MAGNITUDE)', v);
      return undefined;
    }
    if (opt.positive && !(v > 0)) this.bad(`${path}.${key}`, 'must be greater than 0', v);
    else if (opt.min !== undefined && v < opt.min) this.bad(`${path}.${key}`, `must be at least ${opt.min}`, v);
    return v;
  }
  str(o: Obj, key: string, path: string, required = true): string | undefined {
    const v = o[key];
    if (v === undefined || v === null) {
      if (required) this.bad(`${path}.${key}`, 'required string is missing');
      return undefined;
    }
    if (typeof v !== 'string' || v === '') {
      this.bad(`${path}.${key}`, 'must be a non-empty string', v);
      return undefined;
    }
    return v;
  }
  time(o: Obj, key: string, path: string, required = true): number | undefined {
    const s = this.str(o, key, path, required);
    if (s === undefined) return undefined;
    const ms = parseTime(s);
    if (ms === undefined) this.bad(`${path}.${key}`, 'must be an ISO 8601 date-time', s);
    return ms;
  }
  oneOf<T extends string>(o: Obj, key: string, path: string, allowed: readonly T[], dflt?: T): T | undefined {
    const v = o[key];
    if (v === undefined && dflt !== undefined) return dflt;
    if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
    this.bad(`${path}.${key}`, `must be one of ${allowed.join(', ')}`, v);
    return undefined;
  }
}

/** ISO 8601 with a zone (Z or ±hh:mm) and up to microseconds; a missing zone is read as UTC. */
export function parseTime(s: string): number | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d)?)(\.\d+)?(Z|[+-]\d\d:?\d\d)?$/.exec(s.trim());
  if (!m) return undefined;
  const frac = m[2] ? Number(`0${m[2]}`) * 1000 : 0;
  const base = Date.parse(`${m[1]}${m[3] ?? 'Z'}`);
  return Number.isNaN(base) ? undefined : base + frac;
}

interface Step {
  ts: string;
  ms: number;
  load: number;
  gen: number;
}

/**
 * Normalises a parsed JSON job in any accepted dialect. Throws `SchedulerInputError` listing every
 * problem (unknown dialect, missing or wrong fields, uneven steps, windows off the grid, SoC out of
 * bounds, bulk energy no battery set can move).
 */
export interface NormaliseOptions {
  /**
   * Accept `operation_mode: near_real_time` (the scheduler service runs such jobs in a loop, see
   * near-real-time.ts); without it they are refused, since a one-off schedule has no live input.
   */
  nearRealTime?: boolean;
}

/**
 * How deeply a job's JSON may nest. pymfm's inputs nest four levels; far deeper values (a hostile or
 * broken client's `{"a":{"a":...}}` in an unknown field) would overflow the stack where the job is
 * copied or stored (JSON.stringify, structured clone), so they are refused up front.
 */
export const MAX_DEPTH = 32;

/** The path of the first value nested deeper than `max` levels (as `a.b[0].c`), or null. Iterative: never overflows itself. */
export function tooDeep(raw: unknown, max = MAX_DEPTH): string | null {
  const stack: { v: unknown; path: string; depth: number }[] = [{ v: raw, path: '', depth: 0 }];
  while (stack.length) {
    const { v, path, depth } = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= max) return path || '(root)';
    if (Array.isArray(v)) v.forEach((x, i) => stack.push({ v: x, path: `${path}[${i}]`, depth: depth + 1 }));
    else for (const [k, x] of Object.entries(v)) stack.push({ v: x, path: path ? `${path}.${k}` : k, depth: depth + 1 });
  }
  return null;
}

export function normaliseJob(raw: unknown, opts: NormaliseOptions = {}): Job {
  const deep = tooDeep(raw);
  if (deep !== null) throw new SchedulerInputError([`${deep.length > 200 ? `${deep.slice(0, 200)}…` : deep}: nested more than ${MAX_DEPTH} levels deep (objects and arrays in objects); a job nests a few levels`]);
  const dialect = detectDialect(raw);
  if (!isObj(raw) || !dialect)
    throw new SchedulerInputError([
      isObj(raw)
        ? '(root): unknown input dialect: expected pymfm service fields (control_logic, generation_and_load), pymfm 0.5 fields (uc_start, uc_end) or Platone balancer fields (uc_name, P_net)'
        : `(root): must be a JSON object, got ${Array.isArray(raw) ? 'an array' : fmt(raw)}`,
    ]);
  const r = new Reader();
  const percent = dialect !== 'service';
  const id = (typeof raw['id'] === 'string' && raw['id']) || (typeof raw['uc_name'] === 'string' ? raw['uc_name'] : 'job');

  let controlLogic: ControlLogic | undefined;
  let operationMode: OperationMode | undefined = 'scheduling';
  if (dialect === 'platone') {
    const name = r.oneOf(raw, 'uc_name', '', ['optimiser', 'rule_based'] as const);
    controlLogic = name === 'optimiser' ? 'optimization_based' : name === 'rule_based' ? 'rule_based' : undefined;
  } else {
    controlLogic = r.oneOf(raw, 'control_logic', '', ['rule_based', 'optimization_based'] as const);
    operationMode = r.oneOf(raw, 'operation_mode', '', ['scheduling', 'near_real_time'] as const, 'scheduling');
    if (operationMode === 'near_real_time' && 'measurements_request' in raw && !('generation_and_load' in raw))
      throw new SchedulerInputError([
        'measurements_request: the one-shot near-real-time request of pymfm 0.5 (one measured value, no forecast) is not supported; send a near_real_time job with generation_and_load, repeat_seconds and live_inputs (the measurement is then read from the data path)',
      ]);
    if (operationMode === 'near_real_time' && !opts.nearRealTime)
      throw new SchedulerInputError(['operation_mode: near_real_time jobs need live measurements and run in the scheduler service, not as a one-off schedule, got "near_real_time"']);
  }

  // Horizon bounds: required in 0.5.x and Platone, optional in the service dialect.
  const startKey = dialect === 'service' ? 'control_start' : 'uc_start';
  const endKey = dialect === 'service' ? 'control_end' : 'uc_end';
  const start = r.time(raw, startKey, '', dialect !== 'service');
  const end = r.time(raw, endKey, '', dialect !== 'service');
  if (start !== undefined && end !== undefined && end < start) r.bad(endKey, `must not be before ${startKey}`, raw[endKey]);

  // Forecast steps.
  const steps: Step[] = [];
  let timesOk = true;
  let deltaGiven: number | undefined;
  let pvCurtailment = false;
  if (dialect === 'platone') {
    const list = raw['P_net'];
    if (!Array.isArray(list)) r.bad('P_net', 'must be an array of {time, P_req_kW, P_net_kW}', list);
    else
      list.forEach((v, i) => {
        const p = `P_net[${i}]`;
        if (!isObj(v)) return (timesOk = false), r.bad(p, 'must be an object', v);
        const ts = r.str(v, 'time', p);
        const ms = ts === undefined ? undefined : parseTime(ts);
        if (ts !== undefined && ms === undefined) r.bad(`${p}.time`, 'must be an ISO 8601 date-time', ts);
        const net = r.num(v, 'P_net_kW', p);
        const req = r.num(v, 'P_req_kW', p, { required: false });
        if (ts === undefined || ms === undefined) return (timesOk = false);
        // A step whose values were refused keeps its place (NaN values, never used: the job is refused).
        if (net === undefined) return steps.push({ ts, ms, load: NaN, gen: NaN });
        // Net demand = load − PV. With P_req_kW (the load) the PV is its difference; without it the
        // net value is split into a load (its positive part) and a generation (its negative part).
        const load = req ?? Math.max(net, 0);
        const gen = req !== undefined ? req - net : Math.max(-net, 0);
        if (gen < -EPS * Math.max(1, Math.abs(req ?? 0))) r.bad(`${p}.P_net_kW`, `is more than P_req_kW (${req}): the generation would be negative`, net);
        steps.push({ ts, ms, load, gen: Math.max(gen, 0) });
      });
  } else {
    const gl = raw['generation_and_load'];
    if (!isObj(gl)) r.bad('generation_and_load', 'required object {values: [...]} is missing or not an object', gl);
    else {
      if (gl['pv_curtailment'] !== undefined && typeof gl['pv_curtailment'] !== 'boolean') r.bad('generation_and_load.pv_curtailment', 'must be true or false', gl['pv_curtailment']);
      pvCurtailment = gl['pv_curtailment'] === true;
      deltaGiven = r.num(gl, 'delta_T_h', 'generation_and_load', { required: false, positive: true });
      const list = gl['values'];
      const [genKey, loadKey] = dialect === 'service' ? ['P_available_kW', 'P_required_kW'] : ['P_gen_kW', 'P_load_kW'];
      if (!Array.isArray(list)) r.bad('generation_and_load.values', `must be an array of {timestamp, ${genKey}, ${loadKey}}`, list);
      else
        list.forEach((v, i) => {
          const p = `generation_and_load.values[${i}]`;
          if (!isObj(v)) return (timesOk = false), r.bad(p, 'must be an object', v);
          const ts = r.str(v, 'timestamp', p);
          const ms = ts === undefined ? undefined : parseTime(ts);
          if (ts !== undefined && ms === undefined) r.bad(`${p}.timestamp`, 'must be an ISO 8601 date-time', ts);
          const gen = r.num(v, genKey, p, { min: 0 });
          const load = r.num(v, loadKey, p);
          if (ts === undefined || ms === undefined) timesOk = false;
          // A step whose values were refused keeps its place (NaN values, never used: the job is refused).
          else steps.push({ ts, ms, load: load ?? NaN, gen: gen ?? NaN });
        });
    }
  }
  // A step whose time could not be read is missing from `steps`: check the grid only when none is.
  const stepsOk = timesOk;
  for (let i = 1; stepsOk && i < steps.length; i++)
    if (steps[i]!.ms <= steps[i - 1]!.ms) {
      r.bad(dialect === 'platone' ? `P_net[${i}].time` : `generation_and_load.values[${i}].timestamp`, `must be after the previous step (${steps[i - 1]!.ts})`, steps[i]!.ts);
      break;
    }
  const horizon = steps.filter((s) => (start === undefined || s.ms >= start) && (end === undefined || s.ms <= end));
  if (r.problems.length === 0 && horizon.length === 0)
    r.bad(dialect === 'platone' ? 'P_net' : 'generation_and_load.values', start !== undefined || end !== undefined ? `no step lies between ${startKey} and ${endKey}: the horizon is empty` : 'the horizon is empty (no steps)');

  // Step length: from delta_T_h when given, else from the timestamps; the steps must be equidistant.
  let deltaH = deltaGiven ?? (horizon.length > 1 ? (horizon[1]!.ms - horizon[0]!.ms) / 3_600_000 : undefined);
  if (deltaH === undefined && horizon.length === 1) {
    r.bad('generation_and_load.delta_T_h', 'required when the horizon has a single step (the step length cannot be inferred)');
    deltaH = 1;
  }
  const stepMs = (deltaH ?? 1) * 3_600_000;
  for (let i = 1; stepsOk && i < horizon.length; i++) {
    const gap = horizon[i]!.ms - horizon[i - 1]!.ms;
    if (Math.abs(gap - stepMs) > EPS * stepMs + 0.5) {
      const idx = steps.indexOf(horizon[i]!);
      r.bad(dialect === 'platone' ? `P_net[${idx}].time` : `generation_and_load.values[${idx}].timestamp`, `steps must be equidistant (${stepMs / 60000} min${deltaGiven !== undefined ? ' as delta_T_h says' : ''}), but this one is ${gap / 60000} min after the previous`, horizon[i]!.ts);
      break;
    }
  }
  const t0 = horizon[0]?.ms ?? 0;
  const onGrid = (ms: number, path: string, value: unknown): number | undefined => {
    const k = (ms - t0) / stepMs;
    const idx = Math.round(k);
    if (horizon.length === 0) return undefined;
    if (Math.abs(k - idx) * stepMs > 0.5 || idx < 0 || idx >= horizon.length) {
      r.bad(path, `must be one of the horizon's step timestamps (${horizon[0]!.ts} .. ${horizon[horizon.length - 1]!.ts} every ${stepMs / 60000} min)`, value);
      return undefined;
    }
    return idx;
  };

  // day_end
  let dayEndIndex: number | undefined;
  const dayEnd = r.time(raw, 'day_end', '', false);
  if (dayEnd !== undefined) dayEndIndex = onGrid(dayEnd, 'day_end', raw['day_end']);

  // Net exchange limits (service and 0.5.x dialects).
  const limits: NetLimit[] = horizon.map(() => ({}));
  const lim = raw['P_net_after_kW_limitation'];
  if (lim !== undefined && lim !== null) {
    if (!Array.isArray(lim)) r.bad('P_net_after_kW_limitation', 'must be an array of {timestamp, upper_bound?, lower_bound?}', lim);
    else
      lim.forEach((v, i) => {
        const p = `P_net_after_kW_limitation[${i}]`;
        if (!isObj(v)) return r.bad(p, 'must be an object', v);
        const ms = r.time(v, 'timestamp', p);
        const upper = r.num(v, 'upper_bound', p, { required: false });
        const lower = r.num(v, 'lower_bound', p, { required: false });
        if (upper !== undefined && lower !== undefined && lower > upper) r.bad(`${p}.lower_bound`, `must not exceed upper_bound (${upper})`, lower);
        if (ms === undefined || horizon.length === 0) return;
        const k = (ms - t0) / stepMs;
        const idx = Math.round(k);
        if (idx < 0 || idx >= horizon.length) return; // outside the horizon: not used
        if (Math.abs(k - idx) * stepMs > 0.5) return r.bad(`${p}.timestamp`, 'must be one of the horizon step timestamps', v['timestamp']);
        limits[idx] = { ...(upper !== undefined ? { upper } : {}), ...(lower !== undefined ? { lower } : {}) };
      });
  }

  // Batteries.
  const batteries: Battery[] = [];
  const specs = raw['battery_specs'];
  const list = Array.isArray(specs) ? specs : isObj(specs) ? [specs] : undefined;
  if (!list || list.length === 0) r.bad('battery_specs', 'at least one battery is required (an object or a non-empty array)', specs);
  else {
    const ids = new Set<string>();
    list.forEach((b, i) => {
      const p = Array.isArray(specs) ? `battery_specs[${i}]` : 'battery_specs';
      if (!isObj(b)) return r.bad(p, 'must be an object', b);
      const bat = readBattery(r, b, p, percent, dialect);
      if (!bat) return;
      if (ids.has(bat.id)) return r.bad(`${p}.id`, 'must be unique among the batteries', bat.id);
      ids.add(bat.id);
      batteries.push(bat);
    });
  }

  // Bulk window.
  let bulk: BulkWindow | undefined;
  const b = raw['bulk'];
  if (b !== undefined && b !== null && !(isObj(b) && b['with_bulk'] === false)) {
    if (!isObj(b)) r.bad('bulk', 'must be an object {bulk_start, bulk_end, bulk_energy_kWh}', b);
    else {
      const bs = r.time(b, 'bulk_start', 'bulk');
      const be = r.time(b, 'bulk_end', 'bulk');
      const energy = r.num(b, 'bulk_energy_kWh', 'bulk');
      const si = bs === undefined ? undefined : onGrid(bs, 'bulk.bulk_start', b['bulk_start']);
      const ei = be === undefined ? undefined : onGrid(be, 'bulk.bulk_end', b['bulk_end']);
      if (si !== undefined && ei !== undefined && ei < si) r.bad('bulk.bulk_end', 'must not be before bulk_start', b['bulk_end']);
      else if (si !== undefined && ei !== undefined && energy !== undefined) {
        bulk = { startIndex: si, endIndex: ei, energyKwh: energy };
        if (batteries.length === list?.length && deltaH !== undefined) {
          const cap = bulkCapacity(batteries, ei - si + 1, deltaH);
          if (energy > cap.receive * (1 + 1e-9) + 1e-9)
            r.bad('bulk.bulk_energy_kWh', `no schedule of these batteries can receive that much in the window: at most ${round(cap.receive)} kWh (power limits over ${ei - si + 1} steps and SoC ranges)`, energy);
          if (-energy > cap.deliver * (1 + 1e-9) + 1e-9)
            r.bad('bulk.bulk_energy_kWh', `no schedule of these batteries can deliver that much in the window: at most ${round(cap.deliver)} kWh (household batteries never discharge)`, energy);
        }
      }
    }
  }

  // Household batteries with a final SoC need day_end.
  batteries.forEach((bat, i) => {
    if (bat.type === 'hbes' && bat.finalSoc !== undefined && dayEndIndex === undefined && dayEnd === undefined)
      r.bad(`battery_specs[${i}].final_SoC`, 'a household battery (hbes) with a final SoC is charged to max_SoC by day_end: day_end is required');
  });

  if (r.problems.length) throw new SchedulerInputError(r.problems);
  return {
    id,
    dialect,
    controlLogic: controlLogic!,
    operationMode: operationMode!,
    timestamps: horizon.map((s) => s.ts),
    timesMs: horizon.map((s) => s.ms),
    deltaH: deltaH!,
    loadKw: horizon.map((s) => s.load),
    genKw: horizon.map((s) => s.gen),
    pvCurtailment,
    ...(dayEndIndex !== undefined ? { dayEndIndex } : {}),
    ...(bulk ? { bulk } : {}),
    limits,
    batteries,
  };
}

const round = (x: number): number => Math.round(x * 1000) / 1000;

/**
 * Upper bounds on the grid-side energy the batteries can receive and deliver over `steps` steps,
 * valid for both model variants: power limit × window length, and the SoC range × capacity
 * (divided by the charging efficiency on the receiving side).
 */
export function bulkCapacity(batteries: readonly Battery[], steps: number, deltaH: number): { receive: number; deliver: number } {
  let receive = 0;
  let deliver = 0;
  for (const b of batteries) {
    const range = (b.maxSoc - b.minSoc) * b.capacityKwh;
    receive += Math.min((b.pChMaxKw * steps * deltaH) / b.chEff, range / b.chEff);
    if (b.type !== 'hbes') deliver += Math.min(b.pDisMaxKw * steps * deltaH, range);
  }
  return { receive, deliver };
}

function readBattery(r: Reader, b: Obj, p: string, percent: boolean, dialect: Dialect): Battery | undefined {
  const n0 = r.problems.length;
  const id = r.str(b, 'id', p);
  // A battery id goes into the setpoints message, the logs, the job's details and the page: bounded and
  // printable (a 10 000-character id was taken, and echoed whole in every message).
  if (id !== undefined) {
    const ctl = /[\u0000-\u001f\u007f-\u009f]/.exec(id);
    if (id.length > MAX_BATTERY_ID_LENGTH) r.problems.push(`${p}.id: must be at most ${MAX_BATTERY_ID_LENGTH} characters, got ${id.length} (${JSON.stringify(id.slice(0, 40))}…)`);
    else if (ctl) r.bad(`${p}.id`, `must have no control characters (U+${ctl[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')} at ${ctl.index})`, id);
  }
  const type = r.oneOf(b, 'bat_type', p, ['cbes', 'hbes'] as const, 'cbes');
  const capKey = dialect === 'platone' && b['bat_capacity_kWh'] === undefined ? 'bat_capacity' : 'bat_capacity_kWh';
  const cap = r.num(b, capKey, p, { positive: true });
  // Below 1 Wh the SoC moves by power × step / capacity > 1e5 per kW-hour: the solver's numerics break
  // (1e-8 kWh came back "infeasible", 1e-300 refused by HiGHS), and no grid battery is that small.
  if (cap !== undefined && cap > 0 && cap < MIN_CAPACITY_KWH) r.bad(`${p}.${capKey}`, `must be at least ${MIN_CAPACITY_KWH} kWh (1 Wh)`, cap);
  const pCh = r.num(b, 'P_ch_max_kW', p, { min: 0 });
  const pDis = r.num(b, 'P_dis_max_kW', p, { min: 0 });
  const chEff = r.num(b, 'ch_efficiency', p, { required: false }) ?? 1;
  const disEff = r.num(b, 'dis_efficiency', p, { required: false }) ?? 1;
  for (const [k, v] of [['ch_efficiency', chEff], ['dis_efficiency', disEff]] as const)
    if (!(v > 0 && v <= 1)) r.bad(`${p}.${k}`, 'must be in (0, 1]', v);
  const scale = percent ? 100 : 1;
  const unit = percent ? 'percent (0..100)' : 'a fraction (0..1)';
  const soc = (k: string, required: boolean): number | undefined => {
    const v = r.num(b, k, p, { required });
    if (v === undefined) return undefined;
    if (v < 0 || v > scale) {
      r.bad(`${p}.${k}`, `SoC is ${unit} in this input dialect, so it must be within 0..${scale}`, v);
      return undefined;
    }
    return v / scale;
  };
  const minSoc = soc('min_SoC', true);
  const maxSoc = soc('max_SoC', true);
  const initialSoc = soc('initial_SoC', true);
  const withFinal = dialect === 'platone' && b['with_final_SoC'] === false ? false : true;
  const finalSoc = withFinal ? soc('final_SoC', false) : undefined;
  if (minSoc !== undefined && maxSoc !== undefined) {
    if (minSoc > maxSoc) r.bad(`${p}.min_SoC`, `must not exceed max_SoC (${b['max_SoC']})`, b['min_SoC']);
    else {
      if (initialSoc !== undefined && (initialSoc < minSoc - EPS || initialSoc > maxSoc + EPS))
        r.bad(`${p}.initial_SoC`, `must lie between min_SoC (${b['min_SoC']}) and max_SoC (${b['max_SoC']})`, b['initial_SoC']);
      if (finalSoc !== undefined && (finalSoc < minSoc - EPS || finalSoc > maxSoc + EPS))
        r.bad(`${p}.final_SoC`, `must lie between min_SoC (${b['min_SoC']}) and max_SoC (${b['max_SoC']})`, b['final_SoC']);
    }
  }
  if (r.problems.length > n0) return undefined;
  return {
    id: id!,
    type: type!,
    initialSoc: initialSoc!,
    ...(finalSoc !== undefined ? { finalSoc } : {}),
    pDisMaxKw: pDis!,
    pChMaxKw: pCh!,
    minSoc: minSoc!,
    maxSoc: maxSoc!,
    capacityKwh: cap!,
    chEff,
    disEff,
  };
}
