/**
 * The plots section: the last hour of one field (chosen in #plot-field, `p.total` by default, the
 * choice remembered by the browser in localStorage) for at most PLOT_DEVICES devices, drawn with
 * uPlot (a canvas): the first of those the devices section
 * lists for its "Find a device" box (the name holds its text, ignoring case) that have the field, in
 * natural order by name (feeder-2 before feeder-10). Typing in that box changes the plots too; a line
 * says how many devices with the field match and how to plot others. Or the devices picked with the
 * "Plot" button of their cards (remembered by the browser), instead of the filter's, until "Unpick
 * all". A plot that stays (its device still among the first) is kept as it is, with its data; only
 * new ones read their history. Each plot is backfilled from
 * `GET /api/v1/devices/{id}/history?field=&from=&to=&points=` (min, max and mean per time bucket;
 * when that route is missing the plot starts empty), then grows with the live updates and keeps the
 * last hour. Drag to zoom in; double-click or a time-range button zooms out; a range button keeps
 * the newest data in view.
 */
import type uPlot from 'uplot';
import type { Measurement } from '../../../../algorithms/common/measurement.js';
import { DASH, fmtNum, fmtPower, siTicks } from '../format.js';
import { api } from './api.js';
import { byId, el } from './dom.js';

declare global {
  interface Window {
    uPlot?: typeof uPlot;
  }
}

export const PLOT_DEVICES = 6;
const FIELD_KEY = 'gridedge.plot-field';

/** The field plotted in an earlier visit (`p.total` when none, or when the browser keeps no storage). */
function readField(): string {
  try {
    const v = localStorage.getItem(FIELD_KEY);
    return v && /^[A-Za-z0-9_.-]{1,200}$/.test(v) ? v : 'p.total';
  } catch {
    return 'p.total';
  }
}

function writeField(field: string): void {
  try {
    if (field === 'p.total') localStorage.removeItem(FIELD_KEY);
    else localStorage.setItem(FIELD_KEY, field);
  } catch {
    // no storage (private mode, disabled): the choice lasts until the page is left
  }
}
const HOUR_S = 3600;
const HISTORY_PATH = '/api/v1/devices/{id}/history';

let historyServed: Promise<boolean> | undefined;
/**
 * Whether this agent serves the history route (it is listed in /openapi.json). Asked once, so a
 * missing route costs no failing request per plot.
 */
function hasHistory(): Promise<boolean> {
  return (historyServed ??= api<{ paths?: Record<string, unknown> }>('/openapi.json').then((r) => r.ok && !!r.body.paths && HISTORY_PATH in r.body.paths));
}

interface History {
  t: number[];
  min: number[];
  max: number[];
  mean: number[];
}

/** A dotted path's number in a measurement, or undefined. */
export function readPath(m: object, path: string): number | undefined {
  let o: unknown = m;
  for (const k of path.split('.')) {
    if (o === null || typeof o !== 'object') return undefined;
    o = (o as Record<string, unknown>)[k];
  }
  return typeof o === 'number' && Number.isFinite(o) ? o : undefined;
}

/**
 * uPlot's date templates in 24-hour time and year-month-day order, as the rest of the page shows
 * times (its defaults are 3:53pm and 11/30/26).
 */
export function time24(tpl: string): string {
  return tpl
    .replace(/\{h\}/g, '{HH}')
    .replace(/\{aa\}/g, '')
    .replace(/\{M\}\/\{D\}\/\{YY\}/g, '{YYYY}-{MM}-{DD}')
    .replace(/\{M\}\/\{D\}/g, '{MM}-{DD}');
}

/** The unit of an electrical field's values (SI, unscaled, as the agent sends them), or '' (pf, soc, any other value); the plots scale it with a prefix (kW, MW). */
export function unitOf(field: string): string {
  const top = field.split('.')[0]!;
  if (top === 'v' || top === 'v_total') return 'V';
  if (top === 'i' || top === 'i_total') return 'A';
  return ({ p: 'W', q: 'var', s: 'VA', freq: 'Hz', rocof: 'Hz/s' } as Record<string, string>)[top] ?? '';
}

class DevicePlot {
  readonly box: HTMLElement;
  private plot: uPlot | undefined;
  private readonly t: number[] = [];
  private readonly mean: (number | null)[] = [];
  private readonly min: (number | null)[] = [];
  private readonly max: (number | null)[] = [];
  /** Seconds of the newest data kept in view, or null: everything (uPlot's own zoom when dragged). */
  private windowS: number | null = null;
  private dragged = false;
  private resize: ResizeObserver | undefined;
  private destroyed = false;
  readonly ready: Promise<void>;

  constructor(
    readonly device: string,
    readonly field: string,
    parent: HTMLElement,
  ) {
    this.box = el('figure', { class: 'plot', 'data-device': device, 'aria-label': `${field} of ${device}, last hour` });
    parent.append(this.box); // in the page before the history is asked for: its width sets the points
    this.ready = this.backfill().then(() => this.draw());
  }

  private async backfill(): Promise<void> {
    if (!(await hasHistory())) return;
    const to = Date.now();
    const from = to - HOUR_S * 1000;
    const points = Math.max(50, Math.min(2000, Math.round(this.box.clientWidth || 600)));
    const q = new URLSearchParams({ field: this.field, from: String(from), to: String(to), points: String(points) });
    const r = await api<History>(`/api/v1/devices/${encodeURIComponent(this.device)}/history?${q}`);
    if (!r.ok || !Array.isArray(r.body.t)) return;
    // Live samples may have arrived meanwhile: the history goes before the first of them.
    const h = r.body;
    const first = this.t.length ? this.t[0]! : Infinity;
    const t: number[] = [];
    const mean: (number | null)[] = [];
    const min: (number | null)[] = [];
    const max: (number | null)[] = [];
    for (let k = 0; k < h.t.length; k++) {
      const ts = h.t[k]! / 1000;
      if (!(ts < first)) break;
      t.push(ts);
      mean.push(h.mean[k] ?? null);
      min.push(h.min[k] ?? null);
      max.push(h.max[k] ?? null);
    }
    this.t.unshift(...t);
    this.mean.unshift(...mean);
    this.min.unshift(...min);
    this.max.unshift(...max);
  }

  private draw(): void {
    if (this.destroyed) return;
    const U = window.uPlot;
    if (!U) {
      this.box.append(el('p', { class: 'bad' }, 'The plotting library did not load.'));
      return;
    }
    const width = Math.max(200, this.box.clientWidth - 10);
    const unit = unitOf(this.field);
    // The legend's values with a prefix of their own (12.03 MW); the y-axis one prefix for all its ticks.
    const value = (_u: uPlot, v: number | null): string => (v === null || v === undefined ? DASH : unit ? fmtPower(v, unit) : fmtNum(v));
    const opts: uPlot.Options = {
      title: `${this.device}: ${this.field}${unit ? ` (${unit})` : ''}`,
      width,
      height: 220,
      scales: { x: { time: true } },
      fmtDate: (tpl) => U.fmtDate(time24(tpl)),
      cursor: { drag: { x: true, y: false } },
      series: [
        { label: 'Time', value: '{YYYY}-{MM}-{DD} {HH}:{mm}:{ss}' },
        { label: 'mean', stroke: '#0b57a4', width: 1.5, spanGaps: false, value },
        { label: 'min', stroke: '#7a8a99', width: 1, dash: [4, 4], value },
        { label: 'max', stroke: '#b35c00', width: 1, dash: [4, 4], value },
      ],
      // y ticks with an SI prefix and the unit (12 MW, not 12000000): see siTicks in format.ts.
      axes: [{}, { size: 84, values: (_u, ticks) => siTicks(ticks, unit) }],
      hooks: {
        setSelect: [
          () => {
            this.dragged = true;
            this.windowS = null;
          },
        ],
      },
    };
    this.plot = new U(opts, this.data(), this.box);
    this.plot.root.addEventListener('dblclick', () => {
      this.dragged = false;
      this.windowS = null;
      this.redraw();
    });
    this.resize = new ResizeObserver(() => {
      const w = Math.max(200, this.box.clientWidth - 10);
      if (this.plot && Math.abs(this.plot.width - w) > 2) this.plot.setSize({ width: w, height: 220 });
    });
    this.resize.observe(this.box);
  }

  destroy(): void {
    this.destroyed = true;
    this.resize?.disconnect();
    this.plot?.destroy();
    this.box.remove();
  }

  private data(): uPlot.AlignedData {
    return [this.t, this.mean, this.min, this.max];
  }

  /** A live sample (ts in µs). */
  add(m: Measurement): void {
    const v = readPath(m, this.field);
    if (v === undefined) return;
    const ts = m.ts / 1e6;
    if (this.t.length && ts <= this.t[this.t.length - 1]!) return;
    this.t.push(ts);
    this.mean.push(v);
    this.min.push(v);
    this.max.push(v);
    let drop = 0;
    while (drop < this.t.length && this.t[drop]! < ts - HOUR_S) drop++;
    if (drop) for (const a of [this.t, this.mean, this.min, this.max]) a.splice(0, drop);
    this.redraw();
  }

  setWindow(seconds: number): void {
    this.dragged = false;
    this.windowS = seconds >= HOUR_S ? null : seconds;
    this.redraw();
  }

  private redraw(): void {
    const p = this.plot;
    if (!p) return;
    if (this.dragged) {
      p.setData(this.data(), false);
      return;
    }
    // Auto-range every scale first (a plot that had no data yet has no y range), then narrow x.
    p.setData(this.data(), true);
    if (this.windowS !== null && this.t.length) {
      const end = this.t[this.t.length - 1]!;
      p.setScale('x', { min: end - this.windowS, max: end });
    }
  }
}

/** Which devices the page lists, and how: the devices section's filter and picks (devices.ts). */
export interface DeviceSource {
  /** Every device whose name matches the filter, in natural order by name. */
  matchingNames(): string[];
  /** The filter as typed ('' for none). */
  filterText(): string;
  /** The devices picked with "Plot" on their cards, in natural order by name. */
  pinnedNames(): string[];
  /** Unpick every device (`undefined`). */
  setPinned(device: undefined, on: false): void;
}

export class PlotsView {
  private readonly body = byId('plots-body');
  private readonly select = byId<HTMLSelectElement>('plot-field');
  private readonly noteText = el('span');
  private readonly unpick = el('button', { type: 'button', id: 'plots-unpick', hidden: true }, 'Unpick all');
  private readonly note = el('p', { class: 'muted', id: 'plots-note', 'aria-live': 'polite' }, this.noteText, ' ', this.unpick);
  private plots: DevicePlot[] = [];
  private devices: string[] = [];
  /** The latest measurement of every device seen: which of them have the chosen field. */
  private readonly known = new Map<string, Measurement>();
  /** The field plotted: chosen in #plot-field, kept in the browser (localStorage) across reloads. */
  private field = readField();
  private windowS = HOUR_S;
  private pending: ReturnType<typeof setTimeout> | undefined;
  private readonly plottedListeners: (() => void)[] = [];

  constructor(private readonly source: DeviceSource) {
    this.body.before(this.note);
    this.unpick.addEventListener('click', () => this.source.setPinned(undefined, false));
    this.select.addEventListener('change', () => {
      this.field = this.select.value;
      writeField(this.field);
      this.devices = this.candidates().first;
      this.rebuild(true);
    });
    for (const b of document.querySelectorAll<HTMLButtonElement>('#plots [data-range]')) {
      b.setAttribute('aria-pressed', String(Number(b.dataset['range']) === this.windowS));
      b.addEventListener('click', () => {
        this.windowS = Number(b.dataset['range']);
        for (const o of document.querySelectorAll<HTMLButtonElement>('#plots [data-range]')) o.setAttribute('aria-pressed', String(o === b));
        for (const p of this.plots) p.setWindow(this.windowS);
      });
    }
  }

  /** A device the agent no longer knows: not a candidate any more; its plot goes at the next check. */
  forget(device: string): void {
    this.known.delete(device);
    this.checkDevices();
  }

  /** The fields offered (numeric paths of the devices seen, and the current choice even before a device has it), keeping the choice. */
  setFields(fields: string[]): void {
    const list = [...new Set(['p.total', this.field, ...fields])].sort();
    if (list.join() === [...this.select.options].map((o) => o.value).join()) return;
    this.select.replaceChildren(...list.map((f) => el('option', { value: f, selected: f === this.field }, f)));
  }

  /**
   * The devices picked (when any) or else those matching the page's filter, that have the chosen
   * field (in natural order), and the first PLOT_DEVICES of them.
   */
  private candidates(): { all: string[]; first: string[]; picks: string[] } {
    const picks = this.source.pinnedNames();
    const all = (picks.length ? picks : this.source.matchingNames()).filter((d) => {
      const m = this.known.get(d);
      return m !== undefined && readPath(m, this.field) !== undefined;
    });
    return { all, first: all.slice(0, PLOT_DEVICES), picks };
  }

  /**
   * Follow the devices plotted (a new device, or the filter changed); a change is applied after
   * 300 ms without another, so a burst of new devices or of typing rebuilds once.
   */
  checkDevices(): void {
    clearTimeout(this.pending);
    this.pending = setTimeout(() => this.checkNow(), 300);
  }

  /** Apply a change of the devices plotted now (before the page opens its event stream for them). */
  checkNow(): void {
    clearTimeout(this.pending);
    this.pending = undefined;
    const { first } = this.candidates();
    if (first.join('\n') !== this.devices.join('\n')) {
      this.devices = first;
      this.rebuild(false);
    } else this.renderNote();
  }

  /** The devices plotted now. */
  plottedNames(): string[] {
    return [...this.devices];
  }

  /** Call `f` whenever the devices plotted change (the page asks the event stream for them). */
  onPlottedChange(f: () => void): void {
    this.plottedListeners.push(f);
  }

  /** Plots for `this.devices` in order; `all`: every plot anew (the field changed), else the ones that stay are kept. */
  private rebuild(all: boolean): void {
    const keep = new Map(all ? [] : this.plots.map((p) => [p.device, p]));
    const wanted = new Set(this.devices);
    for (const p of this.plots) if (all || !wanted.has(p.device)) p.destroy();
    this.body.replaceChildren(...this.devices.flatMap((d) => keep.get(d)?.box ?? []));
    this.plots = this.devices.map((d) => {
      const kept = keep.get(d);
      if (kept) return kept;
      const p = new DevicePlot(d, this.field, this.body);
      if (this.windowS < HOUR_S) void p.ready.then(() => p.setWindow(this.windowS));
      return p;
    });
    this.body.append(...this.plots.map((p) => p.box)); // in order (appending moves a kept plot)
    this.renderNote();
    for (const f of this.plottedListeners) f();
  }

  /** Which devices are plotted and why: the picks, the filter, the limit, or none having the field. */
  private renderNote(): void {
    const { all, picks } = this.candidates();
    const f = this.source.filterText();
    const matching = f ? ` whose name holds “${f}”` : '';
    let text: string;
    if (picks.length) {
      if (all.length === 0) text = `None of the devices picked (${picks.join(', ')}) has ${this.field} yet.`;
      else if (all.length > this.plots.length) text = `${all.length} devices picked have ${this.field}; the first ${this.plots.length} by name are plotted.`;
      else text = `Plotting the devices picked with “Plot” on their cards (${picks.length}).`;
    } else if (all.length === 0) text = f ? `No device${matching} has ${this.field}.` : `No device has ${this.field} yet.`;
    else if (all.length > this.plots.length)
      text = `${all.length} devices${matching} have ${this.field}; the first ${this.plots.length} by name are plotted. Type part of a name in “Find a device” (Devices), or press “Plot” on a card, to plot others.`;
    else text = f ? `Plotting the devices whose name holds “${f}” (the “Find a device” box).` : '';
    if (this.noteText.textContent !== text) this.noteText.textContent = text;
    this.unpick.hidden = picks.length === 0;
  }

  /** A live measurement: plotted when its device is, and remembered for choosing the devices. */
  add(device: string, m: Measurement): void {
    const had = this.known.has(device);
    this.known.set(device, m);
    if (!had) this.checkDevices();
    for (const p of this.plots) if (p.device === device) p.add(m);
  }
}
