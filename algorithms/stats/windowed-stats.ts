/**
 * WindowedStats: per device, per window length, epoch-aligned windows of field statistics.
 * A window [start, end) is complete once `end + grace ≤ now`; `push(now)` hands out the complete ones
 * and forgets them. Samples for a window that is already complete at the latest push are late.
 *
 * `now` is the wall clock, which NTP or an operator may step. A step forward closes the open windows
 * early. A step back is not followed when it is shorter than the longest window plus the grace (the
 * windows already handed out stay closed; statistics pause for at most that long); a longer one is
 * followed (counted in `clockStepsBack`), so a clock that ran ahead and was corrected does not leave
 * every sample late until the wall clock is back where it was.
 */
import { fieldQualityOf, qualityRank } from '../common/field-quality.js';
import type { FieldQuality } from '../common/field-quality.js';
import type { Measurement, Quality } from '../common/measurement.js';
import { WindowAccumulator } from './accumulator.js';
import type { FieldStats } from './accumulator.js';
import { compileFieldPath, fieldPathError } from './field-path.js';
import type { FieldReader } from './field-path.js';
import { parseWindow, windowStart } from './window.js';

/** One published window (the `bal/processed/<device>/stats/<window>` message). Plain data: JSON.stringify it as it is. */
export interface StatsMessage {
  device: string;
  /** The window's name as configured ("10s", "1m", "10min"). */
  window: string;
  /** Window start and end, µs since the epoch: the window covers [start, end). */
  start: number;
  end: number;
  /** Messages included: at least one of their field samples was included, or none was invalid. */
  count: number;
  /** Messages left out whole: none of their field samples was included, and something in them was invalid. */
  excluded: number;
  /** Field samples left out because their quality was `invalid`, over every message of the window. */
  excludedFields: number;
  /** Worst quality of the included field samples; `invalid` when no message was included (count 0). */
  quality: Quality;
  /** Per configured field that had at least one included sample in the window. */
  fields: Record<string, FieldStats>;
}

export interface WindowedStatsOptions {
  /** Window lengths, also the names published ("10s", "1m", "10min"). */
  windows: readonly string[];
  /** Dotted paths of numeric (or boolean) fields ("p.total", "v.a.mag", "freq", "soc", "breaker.q1"). */
  fields: readonly string[];
  /** Fields that also get `rms` (IEC 61000-4-30 aggregation); added to `fields` when not there. */
  rmsFields?: readonly string[];
  /** How long after a window's end samples for it are still accepted, in ms. */
  graceMs: number;
  /** Open windows allowed per device and window length (guards against wild timestamps). Default 64. */
  maxOpenWindows?: number;
}

/**
 * What `add` did with a message: `ok` counted; `excluded` left out whole (no field sample included and
 * the message or one of its field samples invalid; tallied in the window's `excluded`); `late` its window
 * (for at least one window length) was already pushed, so it was not counted there; `ignored` no usable
 * device/ts, or too many open windows.
 */
export type AddResult = 'ok' | 'excluded' | 'late' | 'ignored';

/** What `add` returns. */
export interface AddOutcome {
  result: AddResult;
  /**
   * Field samples of this message left out as invalid (a field that is present but invalid by the
   * message's `quality`/`field_quality`). 0 for `ignored` and for a message late in every window.
   */
  excludedFields: number;
  /**
   * Left out of at least one window length because that length already had `maxOpenWindows` open
   * windows for the device (a wild timestamp); the other lengths may have counted it (`ok`).
   */
  overLimit: boolean;
}

export interface StatsCounts {
  /** Samples counted in every window (`ok`). */
  accepted: number;
  /** Messages left out whole (`excluded`). */
  excluded: number;
  /** Field samples left out as invalid, over all messages counted in at least one window. */
  excludedFields: number;
  /** Samples late for at least one window length. */
  late: number;
  /** Samples ignored (no device, no finite ts, open-window limit in every window length). */
  ignored: number;
  /** Samples left out of at least one window length for the open-window limit (`overLimit`). */
  overLimit: number;
  /** Samples left out for the open-window limit, per window name. */
  overLimitByWindow: Record<string, number>;
  /** Late samples per window name. */
  lateByWindow: Record<string, number>;
  /** Windows currently open, over all devices. */
  open: number;
  /** Wall-clock steps back that were followed (longer than the longest window plus grace). */
  clockStepsBack: number;
}

interface Slot {
  open: Map<number, WindowAccumulator>;
  /** The window the last sample went to (most samples go to the same one). */
  last: WindowAccumulator | null;
}

export class WindowedStats {
  private readonly names: readonly string[];
  private readonly lens: readonly number[];
  private readonly fieldNames: readonly string[];
  private readonly readers: readonly FieldReader[];
  private readonly rms: readonly boolean[];
  private readonly graceUs: number;
  private readonly maxOpen: number;
  private readonly values: Float64Array;
  /** Per field, its quality rank in the message being added (used when it has `field_quality`). */
  private readonly ranks: Uint8Array;
  /** Every path at or above a configured field ("v", "v.a", "v.a.mag") → the fields at or below it. */
  private readonly fieldsBelow = new Map<string, number[]>();
  /** Configured field path → its index. */
  private readonly fieldIndex = new Map<string, number>();
  private readonly devices = new Map<string, Slot[]>();
  /** Greatest `now` pushed since the last step back followed: windows with end + grace ≤ this are closed. */
  private closedBefore = -Infinity;
  /** A `now` this far below `closedBefore` is a wall-clock step back, and followed: the longest window plus grace. */
  private readonly stepBackUs: number;
  private nClockStepsBack = 0;
  private readonly lateBy: number[];
  private readonly overLimitBy: number[];
  private nAccepted = 0;
  private nExcluded = 0;
  private nExcludedFields = 0;
  private nLate = 0;
  private nOverLimit = 0;
  private nIgnored = 0;

  constructor(opts: WindowedStatsOptions) {
    const problems: string[] = [];
    const windows = Array.isArray(opts?.windows) ? opts.windows : [];
    if (windows.length === 0) problems.push('windows: must be a non-empty list of durations ("10s", "1m", "10min")');
    const lens: number[] = [];
    windows.forEach((w, k) => {
      try {
        lens.push(parseWindow(w));
      } catch (e) {
        problems.push(`windows[${k}]: ${(e as Error).message}`);
      }
      if (windows.indexOf(w) !== k) problems.push(`windows[${k}]: ${JSON.stringify(w)} is listed twice`);
    });
    const fields = Array.isArray(opts?.fields) ? [...opts.fields] : (problems.push('fields: must be a list of dotted paths'), []);
    const rmsFields = opts?.rmsFields === undefined ? [] : Array.isArray(opts.rmsFields) ? opts.rmsFields : (problems.push('rmsFields: must be a list of dotted paths'), []);
    fields.forEach((f, k) => {
      const e = fieldPathError(f);
      if (e) problems.push(`fields[${k}]: ${e}`);
    });
    rmsFields.forEach((f, k) => {
      const e = fieldPathError(f);
      if (e) problems.push(`rmsFields[${k}]: ${e}`);
      else if (!fields.includes(f)) fields.push(f);
    });
    const grace = opts?.graceMs;
    if (typeof grace !== 'number' || !Number.isFinite(grace) || grace < 0)
      problems.push(`graceMs: must be a number ≥ 0, got ${JSON.stringify(grace)}`);
    const maxOpen = opts?.maxOpenWindows ?? 64;
    if (!Number.isInteger(maxOpen) || maxOpen < 1) problems.push(`maxOpenWindows: must be an integer ≥ 1, got ${JSON.stringify(maxOpen)}`);
    if (problems.length) throw new RangeError(`WindowedStats options: ${problems.join('; ')}`);

    const unique = [...new Set(fields)];
    this.names = [...windows];
    this.lens = lens;
    this.fieldNames = unique;
    this.readers = unique.map(compileFieldPath);
    this.rms = unique.map((f) => rmsFields.includes(f));
    this.graceUs = grace * 1000;
    this.stepBackUs = Math.max(...lens) + this.graceUs;
    this.maxOpen = maxOpen;
    this.values = new Float64Array(unique.length);
    this.ranks = new Uint8Array(unique.length);
    unique.forEach((path, f) => {
      this.fieldIndex.set(path, f);
      for (let j = path.indexOf('.'); ; j = path.indexOf('.', j + 1)) {
        const prefix = j < 0 ? path : path.slice(0, j);
        const list = this.fieldsBelow.get(prefix);
        if (list) list.push(f);
        else this.fieldsBelow.set(prefix, [f]);
        if (j < 0) break;
      }
    });
    this.lateBy = lens.map(() => 0);
    this.overLimitBy = lens.map(() => 0);
  }

  /**
   * Route one measurement into its windows (by `m.device` and `m.ts`). Each configured field's sample
   * has the quality `qualityOf(m, path)` gives (common/field-quality.ts): without `field_quality` the
   * message's `quality`, with it the worst entry covering the path (good when none). Invalid samples are
   * left out and counted; the others are included.
   */
  add(m: Measurement): AddOutcome {
    const ts = m.ts;
    const device = m.device;
    if (typeof device !== 'string' || device === '' || typeof ts !== 'number' || !Number.isFinite(ts)) {
      this.nIgnored++;
      return { result: 'ignored', excludedFields: 0, overLimit: false };
    }
    // Quality ranks: 0 good, 1 questionable (also any unknown quality value), 2 invalid.
    const msgRank = qualityRank(m.quality);
    const fq = fieldQualityOf(m);
    if (fq !== undefined) this.rankFields(fq);
    const values = this.values;
    const ranks = this.ranks;
    let rank = 0, included = 0, excludedFields = 0;
    for (let f = 0; f < values.length; f++) {
      const x = this.readers[f]!(m);
      if (x !== x) { values[f] = NaN; continue; } // missing or not a number/boolean
      const r = fq === undefined ? msgRank : ranks[f]!;
      if (r === 2) { values[f] = NaN; excludedFields++; continue; }
      values[f] = x;
      included++;
      if (r > rank) rank = r;
    }
    const invalid = included === 0 && (excludedFields > 0 || msgRank === 2);

    let slots = this.devices.get(device);
    if (!slots) this.devices.set(device, (slots = this.lens.map(() => ({ open: new Map(), last: null }))));
    let late = false;
    let counted = false;
    let overLimit = false;
    for (let k = 0; k < this.lens.length; k++) {
      const len = this.lens[k]!;
      const start = windowStart(ts, len);
      if (start + len + this.graceUs <= this.closedBefore) {
        late = true;
        this.lateBy[k]!++;
        continue;
      }
      const slot = slots[k]!;
      let w = slot.last;
      if (w === null || w.start !== start) {
        w = slot.open.get(start) ?? null;
        if (w === null) {
          if (slot.open.size >= this.maxOpen) {
            overLimit = true;
            this.overLimitBy[k]!++;
            continue;
          }
          w = new WindowAccumulator(start, start + len, values.length);
          slot.open.set(start, w);
        }
        slot.last = w;
      }
      if (invalid) w.excluded++;
      else w.add(values, this.rms, ts, rank);
      w.excludedFields += excludedFields;
      counted = true;
    }
    if (counted) this.nExcludedFields += excludedFields;
    else excludedFields = 0;
    if (overLimit) this.nOverLimit++;
    if (late) {
      this.nLate++;
      return { result: 'late', excludedFields, overLimit };
    }
    if (!counted) {
      this.nIgnored++;
      return { result: 'ignored', excludedFields, overLimit };
    }
    if (invalid) {
      this.nExcluded++;
      return { result: 'excluded', excludedFields, overLimit };
    }
    this.nAccepted++;
    return { result: 'ok', excludedFields, overLimit };
  }

  /**
   * Fill `ranks` with each configured field's quality rank under `fq`: the worst entry covering it
   * (the entry's path is the field's, above it, or below it), 0 when none does. One pass over the
   * entries with map look-ups, instead of comparing every entry with every field.
   */
  private rankFields(fq: FieldQuality): void {
    const ranks = this.ranks;
    ranks.fill(0);
    for (const k in fq) {
      if (!Object.prototype.hasOwnProperty.call(fq, k)) continue;
      const r = qualityRank(fq[k]);
      if (r === 0) continue;
      const below = this.fieldsBelow.get(k); // fields at or below the entry ("v.a" → "v.a.mag")
      if (below !== undefined) for (let n = 0; n < below.length; n++) if (ranks[below[n]!]! < r) ranks[below[n]!] = r;
      for (let j = k.indexOf('.'); j >= 0; j = k.indexOf('.', j + 1)) {
        const f = this.fieldIndex.get(k.slice(0, j)); // a field above the entry ("v.a" asked, "v.a.mag" named)
        if (f !== undefined && ranks[f]! < r) ranks[f] = r;
      }
    }
  }

  /** Every window with end + grace ≤ nowMicros, oldest first per device and window; they are forgotten. */
  push(nowMicros: number): StatsMessage[] {
    if (nowMicros > this.closedBefore) this.closedBefore = nowMicros;
    else if (this.closedBefore - nowMicros > this.stepBackUs) {
      this.closedBefore = nowMicros;
      this.nClockStepsBack++;
    }
    return this.drain((w) => w.end + this.graceUs <= this.closedBefore);
  }

  /** The field paths it reads (the configured fields, then the RMS fields not among them; once each). */
  fields(): readonly string[] {
    return this.fieldNames;
  }

  /** Every open window, complete or not (shutdown). Later samples may open them again. */
  flushAll(): StatsMessage[] {
    return this.drain(() => true);
  }

  /** Totals since construction. */
  counts(): StatsCounts {
    const lateByWindow: Record<string, number> = {};
    const overLimitByWindow: Record<string, number> = {};
    this.names.forEach((n, k) => {
      lateByWindow[n] = this.lateBy[k]!;
      overLimitByWindow[n] = this.overLimitBy[k]!;
    });
    let open = 0;
    for (const slots of this.devices.values()) for (const s of slots) open += s.open.size;
    return { accepted: this.nAccepted, excluded: this.nExcluded, excludedFields: this.nExcludedFields, late: this.nLate, ignored: this.nIgnored, overLimit: this.nOverLimit, lateByWindow, overLimitByWindow, open, clockStepsBack: this.nClockStepsBack };
  }

  /** Samples late for at least one window length, since construction. */
  get lateCount(): number {
    return this.nLate;
  }

  private drain(done: (w: WindowAccumulator) => boolean): StatsMessage[] {
    const out: StatsMessage[] = [];
    for (const [device, slots] of this.devices) {
      let left = 0;
      for (let k = 0; k < slots.length; k++) {
        const slot = slots[k]!;
        if (slot.open.size === 0) continue;
        const ready: WindowAccumulator[] = [];
        for (const w of slot.open.values()) if (done(w)) ready.push(w);
        ready.sort((a, b) => a.start - b.start);
        for (const w of ready) {
          slot.open.delete(w.start);
          out.push(this.message(device, k, w));
        }
        if (slot.last !== null && !slot.open.has(slot.last.start)) slot.last = null;
        left += slot.open.size;
      }
      if (left === 0) this.devices.delete(device);
    }
    return out;
  }

  private message(device: string, k: number, w: WindowAccumulator): StatsMessage {
    return {
      device,
      window: this.names[k]!,
      start: w.start,
      end: w.end,
      count: w.count,
      excluded: w.excluded,
      excludedFields: w.excludedFields,
      quality: w.quality(),
      fields: w.fieldStats(this.fieldNames, this.rms),
    };
  }
}
