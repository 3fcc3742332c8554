/**
 * The network section: the state estimator's network as an SVG graph (buses at the positions
 * `GET /api/v1/<id>/network` gives: CGMES DiagramLayout or a computed layout), each bus filled by its
 * estimated voltage from `GET /api/v1/<id>/state` (refreshed every 5 s) with the value written
 * beside it, and a legend naming the bands, so colour is never the only carrier. Each bus is a
 * focusable button: click, Enter or Space shows its details.
 */
import { api } from './api.js';
import { byId, el, svg } from './dom.js';

interface Drawing {
  name: string;
  layout: 'diagram' | 'computed';
  buses: { bus: number; name?: string; baseKV: number; type: string; x: number; y: number }[];
  branches: { branch: number; from: number; to: number; name?: string; status: boolean }[];
}

interface State {
  status: 'estimated' | 'held' | 'none';
  age_s?: number;
  reason?: string;
  J?: number;
  buses?: { bus: number; vm: number; va_deg: number }[];
}

/** Voltage bands (pu): upper bound, fill, name. */
export const BANDS: [number, string, string][] = [
  [0.95, '#2b6cd4', 'below 0.95 pu'],
  [0.98, '#8fb8ef', '0.95–0.98 pu'],
  [1.02, '#3fa34d', '0.98–1.02 pu'],
  [1.05, '#f0a53a', '1.02–1.05 pu'],
  [Infinity, '#d63a2f', 'above 1.05 pu'],
];
const NO_ESTIMATE = '#c8c8c8';

/** A legend's colour square (styled through the CSSOM: the page's policy allows no inline style attributes). */
function swatch(fill: string): HTMLElement {
  const s = el('span', { class: 'sw' });
  s.style.background = fill;
  return s;
}

/** The smallest distance between two buses at different points (Infinity for fewer than two; not checked beyond 500 buses). */
function closest(buses: readonly { x: number; y: number }[]): number {
  let best = Infinity;
  if (buses.length > 500) return best;
  for (let i = 0; i < buses.length; i++)
    for (let j = i + 1; j < buses.length; j++) {
      const dd = Math.hypot(buses[i]!.x - buses[j]!.x, buses[i]!.y - buses[j]!.y);
      if (dd > 0 && dd < best) best = dd;
    }
  return best;
}

export function bandOf(vm: number): [number, string, string] {
  return BANDS.find((b) => vm < b[0])!;
}

export class NetworkView {
  private readonly body = byId('network-body');
  private drawing: Drawing | undefined;
  private state: State | undefined;
  private readonly nodes = new Map<number, { g: SVGGElement; circle: SVGCircleElement; value: SVGTextElement }>();
  private readonly details = el('div', { class: 'details', 'aria-live': 'polite', hidden: true });
  private readonly summary = el('p', { class: 'muted' });
  private selected: number | undefined;
  private id: string | undefined;
  private drawnWidth = 0;

  /** `ids`: the estimator analyzers configured (from the status); none: the section says so. */
  async init(ids: string[]): Promise<void> {
    if (!ids.length) {
      this.body.replaceChildren(el('p', { class: 'muted' }, 'No state estimator is configured (the estimator section of the config names a network).'));
      return;
    }
    this.id = ids[0]!;
    const r = await api<Drawing>(`/api/v1/${encodeURIComponent(this.id)}/network`);
    if (!r.ok) {
      this.body.replaceChildren(el('p', { class: 'muted' }, `The network is not available: ${r.detail}`));
      setTimeout(() => void this.init(ids), 10_000);
      return;
    }
    this.drawing = r.body;
    this.render();
    let again: ReturnType<typeof setTimeout> | undefined;
    new ResizeObserver(() => {
      if (Math.abs(this.body.clientWidth - 12 - this.drawnWidth) < 40) return;
      clearTimeout(again);
      again = setTimeout(() => {
        this.render();
        this.paint();
      }, 200);
    }).observe(this.body);
    await this.refresh();
    setInterval(() => void this.refresh(), 5000);
  }

  /** Drawn for the width the section has, so labels keep their size on a phone; drawn again when it changes much. */
  private render(): void {
    const d = this.drawing!;
    const avail = Math.max(300, this.body.clientWidth - 12);
    this.drawnWidth = avail;
    const xs = d.buses.map((b) => b.x);
    const ys = d.buses.map((b) => b.y);
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const w = Math.max(x1 - x0, 1e-9);
    const h = Math.max(y1 - y0, 1e-9);
    const pad = 40;
    // The width available (labels need 60 px right of a bus), and at most 80 % of the window's height;
    // but no two buses closer than 40 px (on a phone the drawing then scrolls inside its box).
    const fit = Math.min((avail - 2 * pad - 60) / w, Math.max(400, window.innerHeight * 0.8 - 2 * pad) / h);
    const s = Math.max(fit, Math.min(40 / closest(d.buses), 4 * fit));
    // 60 more on the right for the labels of the rightmost buses.
    const W = w * s + 2 * pad + 60;
    const H = Math.max(h * s, 0) + 2 * pad;
    const at = (b: { x: number; y: number }) => ({ x: pad + (b.x - x0) * s, y: pad + (b.y - y0) * s });
    const pos = new Map(d.buses.map((b) => [b.bus, at(b)]));
    const root = svg('svg', { viewBox: `0 0 ${W.toFixed(0)} ${H.toFixed(0)}`, width: W.toFixed(0), height: H.toFixed(0), role: 'group', 'aria-label': `Network ${d.name}: ${d.buses.length} buses, ${d.branches.length} branches` });
    const lines = svg('g', { class: 'branches' });
    for (const br of d.branches) {
      const a = pos.get(br.from);
      const b = pos.get(br.to);
      if (!a || !b) continue;
      lines.append(svg('line', { x1: a.x, y1: a.y, x2: b.x, y2: b.y, 'stroke-dasharray': br.status ? undefined : '6 4' }, svg('title', {}, `branch ${br.branch}: ${br.from}–${br.to}${br.status ? '' : ' (out of service)'}`)));
    }
    root.append(lines);
    const buses = svg('g', { class: 'buses' });
    this.nodes.clear();
    for (const b of d.buses) {
      const p = pos.get(b.bus)!;
      const circle = svg('circle', { cx: p.x, cy: p.y, r: 9, fill: NO_ESTIMATE });
      const value = svg('text', { x: p.x + 12, y: p.y + 16 }, '—');
      const g = svg('g', { class: 'bus', tabindex: 0, role: 'button', 'data-bus': b.bus }, circle, svg('text', { x: p.x + 12, y: p.y - 4, 'font-weight': 'bold' }, String(b.bus)), value);
      const show = () => this.select(b.bus);
      g.addEventListener('click', show);
      g.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          show();
        }
      });
      this.nodes.set(b.bus, { g, circle, value });
      buses.append(g);
    }
    root.append(buses);
    const legend = el(
      'p',
      { class: 'legend' },
      ...BANDS.map(([, fill, name]) => el('span', {}, swatch(fill), name)),
      el('span', {}, swatch(NO_ESTIMATE), 'no estimate'),
    );
    const layout = d.layout === 'diagram' ? 'positions from the diagram layout' : 'positions computed (the model has no diagram layout)';
    this.body.replaceChildren(
      el('p', { class: 'muted' }, `${d.name}: ${d.buses.length} buses, ${d.branches.length} branches; ${layout}. Select a bus for its details.`),
      this.summary,
      el('div', { class: 'net' }, root),
      legend,
      this.details,
    );
  }

  private async refresh(): Promise<void> {
    const r = await api<State>(`/api/v1/${encodeURIComponent(this.id!)}/state`);
    this.state = r.ok ? r.body : undefined;
    const st = this.state;
    this.summary.textContent = !r.ok
      ? `No estimate: ${r.detail}`
      : st!.status === 'estimated'
        ? `Estimated${st!.J !== undefined ? ` (J = ${st!.J.toFixed(2)})` : ''}.`
        : st!.status === 'held'
          ? `⚠ Holding the estimate of ${Math.round(st!.age_s ?? 0)} s ago: ${st!.reason ?? ''}`
          : `No estimate yet: ${st!.reason ?? ''}`;
    this.paint();
  }

  /** Fill and label every bus from the last state read. */
  private paint(): void {
    const st = this.state;
    const vm = new Map((st?.buses ?? []).map((b) => [b.bus, b]));
    for (const [bus, n] of this.nodes) {
      const e = vm.get(bus);
      n.circle.setAttribute('fill', e ? bandOf(e.vm)[1] : NO_ESTIMATE);
      n.value.textContent = e ? `${e.vm.toFixed(3)} pu` : '—';
      const b = this.drawing!.buses.find((x) => x.bus === bus)!;
      n.g.setAttribute('aria-label', `Bus ${bus}${b.name ? ` ${b.name}` : ''}: ${e ? `${e.vm.toFixed(3)} pu, ${bandOf(e.vm)[2]}` : 'no estimate'}`);
    }
    if (this.selected !== undefined) this.select(this.selected);
  }

  private select(bus: number): void {
    this.selected = bus;
    for (const [k, n] of this.nodes) n.g.classList.toggle('selected', k === bus);
    const b = this.drawing!.buses.find((x) => x.bus === bus)!;
    const e = this.state?.buses?.find((x) => x.bus === bus);
    const rows: [string, string][] = [
      ['Bus', String(b.bus)],
      ['Name', b.name ?? '—'],
      ['Type', b.type],
      ['Base voltage', `${b.baseKV} kV`],
      ['Voltage', e ? `${e.vm.toFixed(4)} pu = ${(e.vm * b.baseKV).toFixed(3)} kV (${bandOf(e.vm)[2]})` : 'no estimate'],
      ['Angle', e ? `${e.va_deg.toFixed(3)}°` : '—'],
      ['Branches', this.drawing!.branches.filter((x) => x.from === bus || x.to === bus).map((x) => `${x.branch} (${x.from}–${x.to})`).join(', ') || '—'],
    ];
    this.details.hidden = false;
    this.details.replaceChildren(el('h3', {}, `Bus ${b.bus}${b.name ? `: ${b.name}` : ''}`), el('dl', { class: 'values' }, ...rows.map(([k, v]) => el('div', {}, el('dt', {}, k), el('dd', {}, v)))));
  }
}
