/**
 * The devices section: one card per device (the first MAX_CARDS by name) with its latest per-phase
 * V, I, P, Q, S, PF, frequency, every other value, the quality of the message and of each field
 * (a symbol and a word, not colour alone) and its age. Cards are rebuilt from each update; ages
 * tick every second in between.
 */
import type { Measurement } from '../../../../algorithms/common/measurement.js';
import { qualityOf } from '../../../../algorithms/common/field-quality.js';
import { DASH, fmtDuration, fmtFixed, fmtNum, fmtPhasor, fmtPower } from '../format.js';
import { byId, el, scrollTable } from './dom.js';

export interface DeviceUpdate {
  device: string;
  ageSeconds: number;
  latest: Measurement;
}

export const MAX_CARDS = 50;

/** The message keys that are not values of their own. */
const RESERVED = new Set(['device', 'ts', 'quality', 'reasons', 'field_quality']);
const ELECTRICAL = new Set(['v', 'i', 'p', 'q', 's', 'pf', 'freq', 'rocof', 'seq', 'v_total', 'i_total']);
const PHASES = ['a', 'b', 'c', 'total'] as const;

export const QUALITY_MARK: Record<string, string> = { good: '✓', questionable: '⚠', invalid: '✖' };

/** A quality as symbol + word, styled by class (`q good` …). */
export function qualityLabel(q: string, reasons?: unknown): HTMLElement {
  const r = Array.isArray(reasons) && reasons.length ? ` (${reasons.map(String).join(', ')})` : '';
  return el('span', { class: `q ${q}` }, `${QUALITY_MARK[q] ?? '?'} ${q}${r}`);
}

/** The marker after a field whose quality is worse than good (nothing when good). */
function fieldMark(m: Measurement, path: string): HTMLElement | null {
  const q = qualityOf(m, path);
  if (q === 'good') return null;
  return el('span', { class: `q ${q} fq`, title: `${path}: ${q}` }, `${QUALITY_MARK[q]} ${q}`);
}

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

function phaseTable(m: Measurement): HTMLElement | null {
  const present = PHASES.filter((ph) => (ph !== 'total' && (m.v?.[ph] || m.i?.[ph])) || [m.p, m.q, m.s, m.pf].some((x) => x?.[ph] !== undefined));
  if (!present.length) return null;
  const cell = (text: string, path: string) => el('span', {}, text, fieldMark(m, path));
  const rows = present.map((ph) => [
    ph,
    ph === 'total' ? DASH : cell(fmtPhasor(m.v?.[ph]), `v.${ph}`),
    ph === 'total' ? DASH : cell(fmtPhasor(m.i?.[ph]), `i.${ph}`),
    cell(fmtPower(m.p?.[ph], 'W'), `p.${ph}`),
    cell(fmtPower(m.q?.[ph], 'var'), `q.${ph}`),
    cell(fmtPower(m.s?.[ph], 'VA'), `s.${ph}`),
    cell(fmtFixed(m.pf?.[ph], 3), `pf.${ph}`),
  ]);
  return scrollTable(['Phase', 'V (V)', 'I (A)', 'P', 'Q', 'S', 'PF'], rows, `${m.device}: values per phase`, [1, 2, 3, 4, 5, 6]);
}

interface Card {
  el: HTMLElement;
  age: HTMLElement;
  /** "last known" while the agent cannot be reached, else empty. */
  lastKnown: HTMLElement;
  ageAt: number;
  receivedMs: number;
}

export class DevicesView {
  private readonly cards = new Map<string, Card>();
  private readonly body = byId('devices-body');
  private total = 0;
  /** False while the agent cannot be reached: every card says its values are the last known. */
  private current = true;
  private readonly more = el('p', { class: 'muted' });

  constructor() {
    this.body.replaceChildren();
    this.body.after(this.more);
    setInterval(() => this.tickAges(), 1000);
  }

  /** How many devices the agent knows (for the "more not shown" line). */
  setTotal(n: number): void {
    this.total = n;
    this.updateMore();
  }

  update(u: DeviceUpdate): void {
    let c = this.cards.get(u.device);
    if (!c) {
      const names = [...this.cards.keys(), u.device].sort();
      if (names.indexOf(u.device) >= MAX_CARDS) return;
      c = { el: el('article', { class: 'card', 'data-device': u.device, 'aria-label': `Device ${u.device}` }), age: el('span', { class: 'muted age' }), lastKnown: el('span', { class: 'lastknown' }), ageAt: 0, receivedMs: 0 };
      this.markCurrent(c);
      this.cards.set(u.device, c);
      const after = names.slice(names.indexOf(u.device) + 1).find((n) => this.cards.get(n)?.el.isConnected);
      this.body.insertBefore(c.el, after ? this.cards.get(after)!.el : null);
      if (this.cards.size > MAX_CARDS) {
        const last = names.filter((n) => this.cards.has(n)).at(-1)!;
        this.cards.get(last)!.el.remove();
        this.cards.delete(last);
      }
    }
    c.ageAt = u.ageSeconds;
    c.receivedMs = Date.now();
    const m = u.latest;
    const values: HTMLElement[] = [];
    const dl = el('dl', { class: 'values' });
    const add = (k: string, v: string, path: string) => dl.append(el('div', {}, el('dt', {}, k), el('dd', {}, v, fieldMark(m, path))));
    if (m.freq !== undefined) add('f (Hz)', fmtFixed(m.freq, 3), 'freq');
    if (m.rocof !== undefined) add('ROCOF (Hz/s)', fmtFixed(m.rocof, 3), 'rocof');
    for (const [path, v] of otherValues(m)) add(path, leafText(v), path);
    if (dl.childElementCount) values.push(dl);
    this.renderAge(c);
    c.el.replaceChildren(
      el('header', {}, el('h3', {}, u.device), qualityLabel(m.quality, m.reasons), c.lastKnown, c.age),
      phaseTable(m) ?? '',
      ...values,
    );
    this.updateMore();
  }

  /** Whether the values are current (false: the agent cannot be reached; each card says "last known"). */
  setCurrent(current: boolean): void {
    if (current === this.current) return;
    this.current = current;
    for (const c of this.cards.values()) this.markCurrent(c);
  }

  private markCurrent(c: Card): void {
    c.lastKnown.textContent = this.current ? '' : '⏸ last known';
  }

  private renderAge(c: Card): void {
    const age = c.ageAt + (Date.now() - c.receivedMs) / 1000;
    c.age.textContent = `age ${fmtDuration(age)}`;
  }

  private tickAges(): void {
    for (const c of this.cards.values()) this.renderAge(c);
  }

  private updateMore(): void {
    const hidden = Math.max(0, this.total - this.cards.size);
    this.more.textContent = this.cards.size === 0 ? 'No measurements yet.' : hidden > 0 ? `${hidden} more devices not shown (the first ${this.cards.size} by name are).` : '';
  }

  names(): string[] {
    return [...this.cards.keys()].sort();
  }
}
