/**
 * The devices section: a card per device with its latest per-phase V, I, P, Q, S, PF, frequency,
 * every other value, the quality of the message and of each field (a symbol and a word, not colour
 * alone), a stale mark (from the status) and its age.
 *
 * The page keeps the latest values of every device it hears of, and every device a driver expects
 * that has sent nothing since the driver started (from the status: `seen: false`), and shows at most
 * MAX_CARDS of those whose name holds the filter box's text (ignoring case): stale devices and those
 * without any data first, then invalid, then questionable, then the rest, each group in natural order
 * by name (feeder-2 before feeder-10). A card without data says "✖ no data since start", which driver
 * (and type) expects the device, whether it is connected and its last error, and how long it has waited.
 * Each card's "Plot" button picks the device for the plots (plots.ts), remembered by the browser.
 * A card is built once and updated in place: each value's text and mark are set when they change;
 * the card's body is built again only when the set of values changes (a phase or a field appears).
 * Ages tick every second in between. Under 39em of card width the per-phase table shows each
 * phase as a block of labelled values instead of a row (`data-label`, see styles.ts).
 */
import type { Measurement } from '../../../../algorithms/common/measurement.js';
import { qualityOf } from '../../../../algorithms/common/field-quality.js';
import { DASH, fmtDuration, fmtFixed, fmtNum, fmtPhasor, fmtPower } from '../format.js';
import { byId, el } from './dom.js';

export interface DeviceUpdate {
  device: string;
  ageSeconds: number;
  latest: Measurement;
}

/**
 * A device the status says a driver expects but that has sent nothing since the driver started
 * (`seen: false` in a driver's `driverHealth.devices`, or in `staleDevices`): it gets a card too.
 */
export interface ExpectedDevice {
  device: string;
  driver: string;
  /** The driver's type (`modbus`, `opcua` ...), when the status names it. */
  type?: string;
  /** Milliseconds since the driver started (nothing arrived since). */
  ageMs: number;
  /** The driver's last error, the likeliest reason. */
  lastError?: string;
  /** The driver's connection, when it reports one. */
  connected?: boolean;
}

/** Cards shown at most (of the devices matching the filter). */
export const MAX_CARDS = 50;

/** The message keys that are not values of their own. */
const RESERVED = new Set(['device', 'ts', 'quality', 'reasons', 'field_quality']);
const ELECTRICAL = new Set(['v', 'i', 'p', 'q', 's', 'pf', 'freq', 'rocof', 'seq', 'v_total', 'i_total']);
const PHASES = ['a', 'b', 'c', 'total'] as const;

export const QUALITY_MARK: Record<string, string> = { good: '✓', questionable: '⚠', invalid: '✖' };

/** Every value beyond the electrical ones, as dotted path → leaf. */
export function otherValues(m: Measurement): [string, unknown][] {
  const out: [string, unknown][] = [];
  const walk = (o: Record<string, unknown>, prefix: string): void => {
    for (const [k, v] of Object.entries(o)) {
      const path = prefix + k;
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) walk(v as Record<string, unknown>, path + '.');
      else out.push([path, v]);
    }
  };
  const top: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(m)) if (!RESERVED.has(k) && !ELECTRICAL.has(k)) top[k] = v;
  walk(top, '');
  return out;
}

/** Numeric dotted paths of a measurement a plot can show (not timestamps, angles or sequence components). */
export function numericPaths(m: Measurement): string[] {
  const out: string[] = [];
  const walk = (o: Record<string, unknown>, prefix: string): void => {
    for (const [k, v] of Object.entries(o)) {
      const path = prefix + k;
      if (typeof v === 'number') {
        if (!path.endsWith('.ang')) out.push(path);
      } else if (v !== null && typeof v === 'object' && !Array.isArray(v)) walk(v as Record<string, unknown>, path + '.');
    }
  };
  const top: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(m)) if (!RESERVED.has(k) && k !== 'seq') top[k] = v;
  walk(top, '');
  return out;
}

function leafText(v: unknown): string {
  if (typeof v === 'number') return fmtNum(v);
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'number' ? fmtNum(x) : String(x))).join(', ');
  if (v === undefined || v === null) return DASH;
  return String(v);
}

const COLUMNS = [
  ['V (V)', 'v'],
  ['I (A)', 'i'],
  ['P', 'p'],
  ['Q', 'q'],
  ['S', 's'],
  ['PF', 'pf'],
] as const;

/** What one value shows: its text and its own quality. */
interface SlotValue {
  text: string;
  /** The field's dotted path (its quality mark), or undefined for a value without one (the total's V and I). */
  path: string | undefined;
}

/** The values of a measurement by slot key (`a:v`, `total:p`, `dl:soc`), in the order they are shown. */
interface Layout {
  phases: string[];
  /** Label and path of each value below the table. */
  list: [string, string][];
}

function layoutOf(m: Measurement): Layout {
  const phases = PHASES.filter((ph) => (ph !== 'total' && (m.v?.[ph] || m.i?.[ph])) || [m.p, m.q, m.s, m.pf].some((x) => x?.[ph] !== undefined));
  const list: [string, string][] = [];
  if (m.freq !== undefined) list.push(['f (Hz)', 'freq']);
  if (m.rocof !== undefined) list.push(['ROCOF (Hz/s)', 'rocof']);
  for (const [path] of otherValues(m)) list.push([path, path]);
  return { phases, list };
}

function phaseValue(m: Measurement, ph: string, col: string): SlotValue {
  const key = ph as (typeof PHASES)[number];
  switch (col) {
    case 'v':
      return ph === 'total' ? { text: DASH, path: undefined } : { text: fmtPhasor(m.v?.[key as 'a']), path: `v.${ph}` };
    case 'i':
      return ph === 'total' ? { text: DASH, path: undefined } : { text: fmtPhasor(m.i?.[key as 'a']), path: `i.${ph}` };
    case 'p':
      return { text: fmtPower(m.p?.[key], 'W'), path: `p.${ph}` };
    case 'q':
      return { text: fmtPower(m.q?.[key], 'var'), path: `q.${ph}` };
    case 's':
      return { text: fmtPower(m.s?.[key], 'VA'), path: `s.${ph}` };
    default:
      return { text: fmtFixed(m.pf?.[key], 3), path: `pf.${ph}` };
  }
}

function listValue(m: Measurement, path: string): SlotValue {
  if (path === 'freq' || path === 'rocof') return { text: fmtFixed(m[path], 3), path };
  const found = otherValues(m).find(([p]) => p === path);
  return { text: leafText(found?.[1]), path };
}

/** A value shown on a card: its text node and its quality mark, changed only when they differ. */
class Slot {
  readonly text = document.createTextNode('');
  readonly mark = el('span', { class: 'fq' });
  private quality = '';

  set(m: Measurement, v: SlotValue): void {
    if (this.text.data !== v.text) this.text.data = v.text;
    const q = v.path === undefined ? 'good' : qualityOf(m, v.path);
    if (q === this.quality) return;
    this.quality = q;
    // A field worse than good carries its quality as symbol and word; a good one shows nothing.
    this.mark.className = q === 'good' ? 'fq' : `q ${q} fq`;
    this.mark.title = q === 'good' ? '' : `${v.path}: ${q}`;
    this.mark.textContent = q === 'good' ? '' : `${QUALITY_MARK[q] ?? '?'} ${q}`;
  }
}

interface Entry {
  device: string;
  /** The latest value; undefined for a device expected by a driver that has sent nothing yet. */
  latest: Measurement | undefined;
  /** Who expects it (from the status), while it has sent nothing. */
  expected?: ExpectedDevice;
  /** Seconds of age at `receivedMs` (for a device without data: since its driver started). */
  ageAt: number;
  receivedMs: number;
  /** The status says the device is stale (cleared by a newer value). */
  stale: boolean;
  /**
   * The message quality now: the latest value's, or newer from a summary of the event stream (a device
   * the page does not show gets only those; its `latest` is then the last value the page read).
   */
  quality?: string;
  /**
   * The values may be older than the agent's: a summary named the device, so the stream the page
   * follows does not carry it (it is not shown, or was not when that stream opened). Its card says
   * so ("⟳ updating") until current values arrive (the page reads them when the card appears).
   */
  outdated?: boolean;
  card?: Card;
}

interface Card {
  el: HTMLElement;
  /** "Plot": picks the device for the plots (aria-pressed). */
  pin: HTMLButtonElement;
  quality: HTMLElement;
  staleMark: HTMLElement;
  lastKnown: HTMLElement;
  age: HTMLElement;
  body: HTMLElement;
  /** The line of a card without data (who expects the device, the driver's state and last error). */
  note: HTMLElement;
  /** The layout the body was built for (phases and value paths), as one string. */
  shape: string;
  slots: Map<string, Slot>;
}

/** Problem devices first: stale or without any data, then invalid, then questionable, then the rest. */
function rank(e: Entry): number {
  if (e.stale || !e.latest) return 0;
  const q = e.quality ?? e.latest.quality;
  return q === 'invalid' ? 1 : q === 'questionable' ? 2 : 3;
}

/** The text of a card without data: who expects the device, and what the driver says. */
export function noDataText(x: ExpectedDevice): string {
  const conn = x.connected === false ? '; not connected' : x.connected === true ? '; connected' : '';
  const err = x.lastError ? `; last error: ${x.lastError}` : '';
  return `Expected from driver ${x.driver}${x.type ? ` (${x.type})` : ''}, which has sent no value of it since it started${conn}${err}.`;
}

const natural = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

/** Natural order by name (feeder-2 before feeder-10), then plain order so the order is total. */
export function compareNames(a: string, b: string): number {
  return natural.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
}

const PINS_KEY = 'gridedge.plot-picks';

/** The devices picked for the plots in an earlier visit (none when the browser keeps no storage). */
function readPins(): string[] {
  try {
    const v: unknown = JSON.parse(localStorage.getItem(PINS_KEY) ?? '[]');
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

function writePins(names: string[]): void {
  try {
    if (names.length) localStorage.setItem(PINS_KEY, JSON.stringify(names));
    else localStorage.removeItem(PINS_KEY);
  } catch {
    // no storage (private mode, disabled): the picks last until the page is left
  }
}

export class DevicesView {
  private readonly entries = new Map<string, Entry>();
  private readonly body = byId('devices-body');
  private readonly filterBox = el('input', { id: 'device-filter', type: 'search', autocomplete: 'off', spellcheck: 'false', placeholder: 'part of a name' });
  private readonly more = el('p', { class: 'muted', 'aria-live': 'polite' });
  private total = 0;
  private filter = '';
  private readonly filterListeners: (() => void)[] = [];
  private readonly shownListeners: (() => void)[] = [];
  /** The devices picked for the plots ("Plot" on their cards), kept in the browser (localStorage) across reloads. */
  private readonly pinned = new Set<string>(readPins());
  /** False while the agent cannot be reached: every card says its values are the last known. */
  private current = true;
  private layoutTimer: ReturnType<typeof setTimeout> | undefined;
  /** The entries with a card, in the order shown. */
  private shown: Entry[] = [];
  /** How many devices matched the filter at the last layout. */
  private matching = 0;

  constructor() {
    this.body.replaceChildren();
    this.body.before(el('p', { class: 'controls' }, el('label', { for: 'device-filter' }, 'Find a device'), ' ', this.filterBox));
    this.body.after(this.more);
    this.filterBox.addEventListener('input', () => {
      this.filter = this.filterBox.value.trim().toLowerCase();
      this.layout();
      for (const f of this.filterListeners) f();
    });
    setInterval(() => this.tickAges(), 1000);
  }

  /** The devices picked for the plots, in natural order by name. */
  pinnedNames(): string[] {
    return [...this.pinned].sort(compareNames);
  }

  /** Pick or unpick a device for the plots (`undefined`: unpick all); the cards' buttons and the plots follow. */
  setPinned(device: string | undefined, on: boolean): void {
    if (device === undefined) this.pinned.clear();
    else if (on) this.pinned.add(device);
    else this.pinned.delete(device);
    writePins([...this.pinned]);
    for (const e of this.shown) if (e.card) this.renderPin(e);
    for (const f of this.filterListeners) f();
  }

  /** Call `f` whenever the filter box or the devices picked for the plots change (the plots follow them). */
  onFilterChange(f: () => void): void {
    this.filterListeners.push(f);
  }

  /** Call `f` whenever the devices with a card change (the page asks the event stream for those). */
  onShownChange(f: () => void): void {
    this.shownListeners.push(f);
  }

  /** Whether the page has values of the device (not only a driver's word that it is expected). */
  hasValues(device: string): boolean {
    return this.entries.get(device)?.latest !== undefined;
  }

  /**
   * The message quality of a device from a summary of the event stream (a device without a card gets
   * no values): it may move the device among the first cards (invalid and questionable come first).
   */
  setQuality(device: string, quality: string): void {
    const e = this.entries.get(device);
    if (!e || e.quality === quality) return;
    const before = rank(e);
    e.quality = quality;
    if (rank(e) !== before) this.scheduleLayout();
  }

  /** The stream the page follows does not carry the device (a summary named it): its values may be old. */
  markOutdated(device: string): void {
    const e = this.entries.get(device);
    if (!e?.latest || e.outdated) return;
    e.outdated = true;
    if (e.card) this.markCurrent(e);
  }

  /** Whether the page's values of the device may be older than the agent's (see {@link markOutdated}). */
  isOutdated(device: string): boolean {
    return this.entries.get(device)?.outdated === true;
  }

  /** The devices with a card whose values may be old: the page reads them (a card must show current values). */
  outdatedShown(): string[] {
    return this.shown.filter((e) => e.outdated).map((e) => e.device);
  }

  /** Lay the cards out now (before the page opens its event stream for them). */
  layoutNow(): void {
    this.layout();
  }

  /** How many devices the agent knows (for the "more not shown" line). */
  setTotal(n: number): void {
    this.total = n;
    this.updateMore();
  }

  /** The stale devices of the status (`staleDevices` and each device's `stale`): marked on their cards and shown first. */
  setStale(names: ReadonlySet<string>): void {
    let moved = false;
    for (const e of this.entries.values()) {
      const stale = names.has(e.device);
      if (stale === e.stale) continue;
      e.stale = stale;
      moved = true;
      if (e.card) this.renderHeader(e);
    }
    if (moved) this.scheduleLayout();
  }

  /**
   * The devices drivers expect that have sent nothing (from each status read): a card each, saying so
   * with the driver, until a value arrives. One no longer expected (its driver removed) and still
   * without data loses its card.
   */
  setExpected(list: readonly ExpectedDevice[]): void {
    const now = Date.now();
    const names = new Set<string>();
    let moved = false;
    for (const x of list) {
      names.add(x.device);
      let e = this.entries.get(x.device);
      if (e?.latest) continue;
      if (!e) {
        e = { device: x.device, latest: undefined, ageAt: 0, receivedMs: now, stale: false };
        this.entries.set(x.device, e);
        moved = true;
      }
      e.expected = x;
      e.ageAt = x.ageMs / 1000;
      e.receivedMs = now;
      if (e.card) this.render(e);
    }
    for (const [name, e] of this.entries)
      if (!e.latest && !names.has(name)) {
        this.entries.delete(name);
        moved = true;
      }
    if (moved) this.scheduleLayout();
  }

  update(u: DeviceUpdate): void {
    let e = this.entries.get(u.device);
    const rankBefore = e ? rank(e) : -1;
    if (!e) {
      e = { device: u.device, latest: u.latest, ageAt: u.ageSeconds, receivedMs: Date.now(), stale: false };
      this.entries.set(u.device, e);
    }
    // A newer value than the one marked stale: the device sends again (the stream may repeat the same one).
    if (u.latest.ts !== e.latest?.ts) e.stale = false;
    delete e.expected;
    const wasOutdated = e.outdated;
    delete e.outdated;
    e.latest = u.latest;
    e.quality = u.latest.quality;
    e.ageAt = u.ageSeconds;
    e.receivedMs = Date.now();
    if (e.card) {
      this.render(e);
      if (wasOutdated) this.markCurrent(e);
    }
    if (rank(e) !== rankBefore) this.scheduleLayout();
  }

  /**
   * A device the agent no longer knows: its card goes (the next status read names it again if a
   * driver still expects it). The plots' pick of it stays in the browser, in case it comes back.
   */
  remove(device: string): void {
    if (!this.entries.delete(device)) return;
    this.scheduleLayout();
    for (const f of this.filterListeners) f();
  }

  /** Whether the values are current (false: the agent cannot be reached; each card says "last known"). */
  setCurrent(current: boolean): void {
    if (current === this.current) return;
    this.current = current;
    for (const e of this.shown) if (e.card) this.markCurrent(e);
  }

  /** The devices with a card, in the order shown. */
  names(): string[] {
    return this.shown.map((e) => e.device);
  }

  /** Every device whose name holds the filter box's text (ignoring case), in natural order by name. */
  matchingNames(): string[] {
    const f = this.filter;
    return [...this.entries.keys()].filter((d) => !f || d.toLowerCase().includes(f)).sort(compareNames);
  }

  /** The filter box's text as typed (trimmed). */
  filterText(): string {
    return this.filterBox.value.trim();
  }

  /** Lay the cards out again soon (once for a burst of new devices or changes of rank). */
  private scheduleLayout(): void {
    this.layoutTimer ??= setTimeout(() => {
      this.layoutTimer = undefined;
      this.layout();
    }, 50);
  }

  /** Show the first MAX_CARDS matching devices in order: cards made or dropped as needed, moved only when out of place. */
  private layout(): void {
    clearTimeout(this.layoutTimer);
    this.layoutTimer = undefined;
    const f = this.filter;
    const matching = [...this.entries.values()].filter((e) => !f || e.device.toLowerCase().includes(f));
    matching.sort((a, b) => rank(a) - rank(b) || compareNames(a.device, b.device));
    const next = matching.slice(0, MAX_CARDS);
    const keep = new Set(next);
    for (const e of this.shown) {
      if (keep.has(e) || !e.card) continue;
      e.card.el.remove();
      delete e.card;
    }
    next.forEach((e, k) => {
      if (!e.card) {
        e.card = this.makeCard(e);
        this.render(e);
        this.markCurrent(e);
      }
      const at = this.body.children[k];
      if (at !== e.card.el) this.body.insertBefore(e.card.el, at ?? null);
    });
    const changed = next.length !== this.shown.length || next.some((e, k) => e !== this.shown[k]);
    this.shown = next;
    this.matching = matching.length;
    this.updateMore();
    if (changed) for (const f of this.shownListeners) f();
  }

  private makeCard(e: Entry): Card {
    const c: Card = {
      el: el('article', { class: 'card', 'data-device': e.device, 'aria-label': `Device ${e.device}` }),
      quality: el('span'),
      staleMark: el('span', { class: 'q invalid stale' }),
      lastKnown: el('span', { class: 'lastknown' }),
      age: el('span', { class: 'muted age' }),
      body: el('div'),
      note: el('p', { class: 'nodata' }),
      pin: el('button', { type: 'button', class: 'pin', 'aria-pressed': 'false', 'aria-label': `Plot ${e.device}` }, 'Plot'),
      shape: '',
      slots: new Map(),
    };
    c.el.append(el('header', {}, el('h3', {}, e.device), c.quality, c.staleMark, c.lastKnown, c.age, c.pin), c.body);
    c.pin.addEventListener('click', () => this.setPinned(e.device, !this.pinned.has(e.device)));
    return c;
  }

  /** Bring a card up to its entry's values, in place. */
  private render(e: Entry): void {
    const c = e.card!;
    const m = e.latest;
    this.renderHeader(e);
    this.renderAge(e);
    this.renderPin(e);
    if (!m) {
      if (c.shape !== 'nodata') {
        c.shape = 'nodata';
        c.slots.clear();
        c.body.replaceChildren(c.note);
      }
      const text = e.expected ? noDataText(e.expected) : '';
      if (c.note.textContent !== text) c.note.textContent = text;
      return;
    }
    const l = layoutOf(m);
    const shape = `${l.phases.join(',')}|${l.list.map(([, p]) => p).join('\n')}`;
    if (shape !== c.shape) this.build(e, l, shape);
    for (const ph of l.phases) for (const [, col] of COLUMNS) c.slots.get(`${ph}:${col}`)!.set(m, phaseValue(m, ph, col));
    for (const [, path] of l.list) c.slots.get(`dl:${path}`)!.set(m, listValue(m, path));
  }

  /** The card's table and list of values, built anew for a new layout (each value a Slot). */
  private build(e: Entry, l: Layout, shape: string): void {
    const c = e.card!;
    c.shape = shape;
    c.slots.clear();
    const slot = (key: string): Slot => {
      const s = new Slot();
      c.slots.set(key, s);
      return s;
    };
    const parts: HTMLElement[] = [];
    if (l.phases.length) {
      const rows = l.phases.map((ph) =>
        el(
          'tr',
          {},
          el('td', { class: 'l', 'data-label': 'Phase' }, ph),
          ...COLUMNS.map(([label, col]) => {
            const s = slot(`${ph}:${col}`);
            return el('td', { class: 'r', 'data-label': label }, s.text, s.mark);
          }),
        ),
      );
      const head = el('tr', {}, el('th', { class: 'l', scope: 'col' }, 'Phase'), ...COLUMNS.map(([label]) => el('th', { class: 'r', scope: 'col' }, label)));
      parts.push(el('div', { class: 'scroll', tabindex: 0, role: 'region', 'aria-label': `${e.device}: values per phase` }, el('table', { class: 'ph' }, el('thead', {}, head), el('tbody', {}, ...rows))));
    }
    if (l.list.length) {
      const dl = el('dl', { class: 'values' });
      for (const [label, path] of l.list) {
        const s = slot(`dl:${path}`);
        dl.append(el('div', {}, el('dt', {}, label), el('dd', {}, s.text, s.mark)));
      }
      parts.push(dl);
    }
    c.body.replaceChildren(...parts);
  }

  private renderHeader(e: Entry): void {
    const c = e.card!;
    const m = e.latest;
    const r = m && Array.isArray(m.reasons) && m.reasons.length ? ` (${m.reasons.map(String).join(', ')})` : '';
    const cls = m ? `q ${m.quality}` : 'q invalid nodata';
    const text = m ? `${QUALITY_MARK[m.quality] ?? '?'} ${m.quality}${r}` : '✖ no data since start';
    if (c.quality.className !== cls) c.quality.className = cls;
    if (c.el.classList.contains('nodata') === !!m) c.el.classList.toggle('nodata', !m);
    if (c.quality.textContent !== text) c.quality.textContent = text;
    const stale = e.stale ? '⚠ stale' : '';
    if (c.staleMark.textContent !== stale) {
      c.staleMark.textContent = stale;
      c.el.classList.toggle('stale', e.stale);
    }
  }

  private renderPin(e: Entry): void {
    const pin = e.card!.pin;
    const on = String(this.pinned.has(e.device));
    if (pin.getAttribute('aria-pressed') === on && pin.title) return;
    pin.setAttribute('aria-pressed', on);
    pin.title = on === 'true' ? `${e.device} is plotted (picked); press to unpick` : `Plot ${e.device} (pick it for the plots)`;
  }

  /** "⚠ last known" while the agent cannot be reached, "⟳ updating" while the values may be old (outdated), else nothing. */
  private markCurrent(e: Entry): void {
    const text = !this.current ? '⚠ last known' : e.outdated ? '⟳ updating' : '';
    if (e.card!.lastKnown.textContent !== text) e.card!.lastKnown.textContent = text;
  }

  private renderAge(e: Entry): void {
    const age = e.ageAt + (Date.now() - e.receivedMs) / 1000;
    const text = e.latest ? `age ${fmtDuration(age)}` : `waiting ${fmtDuration(age)}`;
    if (e.card && e.card.age.textContent !== text) e.card.age.textContent = text;
  }

  private tickAges(): void {
    for (const e of this.shown) this.renderAge(e);
  }

  private updateMore(): void {
    const shown = this.shown.length;
    let text: string;
    if (this.entries.size === 0) text = 'No measurements yet.';
    else if (this.filter) {
      const m = this.matching;
      text = m === 0 ? `No device matches “${this.filterBox.value.trim()}”.` : m > shown ? `${m - shown} more devices match; the first ${shown} are shown (problems first, then by name).` : '';
    } else {
      // The agent's count is of devices with data; those still without are the page's own entries.
      let noData = 0;
      for (const e of this.entries.values()) if (!e.latest) noData++;
      const hidden = Math.max(this.total + noData, this.entries.size) - shown;
      text = hidden > 0 ? `${hidden} more devices not shown (the first ${shown}: problems first, then by name); type part of a name to find one.` : '';
    }
    this.more.textContent = text;
  }
}
