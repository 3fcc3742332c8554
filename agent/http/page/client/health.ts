/**
 * The health section and the header badge, from `GET /api/v1/status`: health and problems, every
 * plugin by kind (drivers first) with its state, devices, last error and details, the broker, the
 * buffer, the forwarders, and every counter with its meaning from the metric catalogue the status
 * carries (`metrics`: the agent's one catalogue, plugins' own metrics included). The section is
 * drawn anew from every status read (every 5 s), keeping what the reader did (keepView).
 */
import type { AgentStatus, PluginStatus } from '../../../core/status-types.js';
import { fmtBytes, fmtDuration, fmtListeners, fmtNum, fmtSessions, fmtUnsent, fmtWhen } from '../format.js';
import { compareNames } from './devices.js';
import { byId, el, scrollTable } from './dom.js';

/**
 * Devices a plugin's row lists in full; more fold into a `<details>` ("200 devices, 3 stale") that
 * opens to the whole list: a driver of hundreds of devices otherwise made its row thousands of
 * pixels tall, with the buffer and the forwarders far below.
 */
export const DEVICES_INLINE = 8;

const STATE_MARK: Record<string, string> = { running: '✓', degraded: '⚠', starting: '…', stopped: '✖' };
const stateClass = (s: string): string => (s === 'running' ? 'ok' : s === 'stopped' ? 'bad' : 'warn');

function stateLabel(s: string): HTMLElement {
  return el('span', { class: stateClass(s) }, `${STATE_MARK[s] ?? '?'} ${s}`);
}

function yesNo(ok: boolean, yes = 'yes', no = 'no'): HTMLElement {
  return el('span', { class: ok ? 'ok' : 'bad' }, ok ? `✓ ${yes}` : `✖ ${no}`);
}

/** A wall-clock time as the browser's local HH:MM:SS. */
export function clockTime(ms: number): string {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

/**
 * The badge and title while the agent cannot be reached (since `sinceMs`); the problems and the
 * health section stay as last read, with a line saying they are the last known (read at `lastMs`).
 */
export function renderUnreachable(sinceMs: number, lastMs: number | undefined): void {
  const b = byId('health-badge');
  b.className = 'hbadge down';
  b.textContent = `✖ cannot reach the agent since ${clockTime(sinceMs)}`;
  document.title = `gridedge ${document.body.dataset['gateway'] ?? ''}: cannot reach the agent`;
  const body = byId('health-body');
  const note = lastMs === undefined ? 'Not read yet: the agent cannot be reached.' : `Last known, read at ${clockTime(lastMs)}: the agent cannot be reached.`;
  const old = body.querySelector('.lastknown');
  if (old) old.textContent = note;
  else body.prepend(el('p', { class: 'lastknown' }, note));
}

export function renderBadge(s: AgentStatus): void {
  const b = byId('health-badge');
  b.className = `hbadge ${s.health}`;
  b.textContent = s.health === 'healthy' ? '✓ healthy' : '⚠ degraded';
  document.title = `gridedge ${s.gateway}: ${s.health}`;
  const p = byId('problems');
  p.hidden = s.problems.length === 0;
  p.replaceChildren(...s.problems.map((x) => el('li', {}, x)));
}

/**
 * A plugin's devices in natural order by name: listed when few, else a `<details>` whose summary
 * counts them (and the stale ones, from the driver's health) and that opens to the full list
 * (`open`: it was open before the section was drawn again).
 */
function devicesCell(kind: string, p: PluginStatus, open: boolean): HTMLElement | string {
  const names = [...(p.devices ?? [])].sort(compareNames);
  if (names.length === 0) return '';
  const list = el('span', { class: 'wrap' }, names.join(', '));
  if (names.length <= DEVICES_INLINE) return list;
  const stale = (p.driverHealth?.devices ?? []).filter((h) => h.stale).length;
  const summary = el('summary', {}, `${names.length} devices${stale ? `, ${stale} stale` : ''}`);
  return el('details', { class: 'devlist', 'data-plugin': `${kind}/${p.id}`, open }, summary, list);
}

export function renderHealth(s: AgentStatus): void {
  const now = Date.now();
  const body = byId('health-body');
  const kept = keepView(body);
  const open = new Set([...body.querySelectorAll('details.devlist[open]')].map((d) => d.getAttribute('data-plugin') ?? ''));
  const parts: HTMLElement[] = [];
  parts.push(el('p', {}, `Version ${s.version} · up ${fmtDuration(s.uptimeSeconds)} · started ${fmtWhen(s.startedAt, now)}`));
  const kinds = Object.entries(s.plugins ?? { drivers: s.drivers }).sort(([a], [b]) => (a === 'drivers' ? -1 : b === 'drivers' ? 1 : a.localeCompare(b)));
  for (const [kind, list] of kinds) {
    if (!list.length) continue;
    parts.push(
      el('h3', {}, kind[0]!.toUpperCase() + kind.slice(1)),
      scrollTable(
        // The last error next to the state, and long lists wrapped: neither is off to the right of a wide table.
        ['Id', 'Type', 'State', 'Last error', 'Devices', 'Details'],
        (list as PluginStatus[]).map((p) => [
          p.id,
          p.type,
          stateLabel(p.state),
          p.lastError ? el('span', { class: 'wrap' }, el('span', { class: 'bad' }, p.lastError), ' ', el('span', { class: 'muted' }, fmtWhen(p.lastErrorAt, now))) : '',
          devicesCell(kind, p, open.has(`${kind}/${p.id}`)),
          Object.entries(p.info ?? {})
            .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
            .join(' '),
        ]),
        kind,
      ),
    );
  }
  const b = s.broker;
  parts.push(el('h3', {}, 'Broker'), scrollTable(['Listening', 'Clients', 'Subscriptions', 'Sessions'], [[fmtListeners(b), String(b.clients), String(b.subscriptions), fmtSessions(b)]], 'Broker', [1, 2, 3]));
  const buf = s.buffer;
  parts.push(
    el('h3', {}, 'Buffer'),
    buf
      ? scrollTable(
          ['File', 'Rows', 'Unsent', 'Size', 'Seq', 'Oldest', 'Write'],
          [[buf.path, String(buf.rows), fmtUnsent(buf), fmtBytes(buf.bytes), `${buf.firstSeq} … ${buf.lastSeq}`, fmtDuration(buf.oldestAgeSeconds), buf.writeError ? el('span', { class: 'bad' }, `✖ ${buf.writeError}`) : yesNo(true, 'ok')]],
          'Buffer',
          [1, 2, 3, 4, 5],
        )
      : el('p', { class: 'muted' }, 'No buffer.'),
  );
  parts.push(
    el('h3', {}, 'Forwarders'),
    s.forwarders.length
      ? scrollTable(
          ['Forwarder', 'Type', 'Connected', 'Last success', 'Lag (rows)', 'Lag', 'Drain (rows/s)', 'Dropped', 'Last error'],
          s.forwarders.map((f) => [f.id, f.type, yesNo(f.connected), fmtWhen(f.lastSuccess, now), String(f.lag), fmtDuration(f.lagSeconds), fmtNum(f.drainRate), String(f.dropped), f.lastError ? el('span', {}, el('span', { class: 'bad' }, f.lastError), ' ', el('span', { class: 'muted' }, fmtWhen(f.lastErrorAt, now))) : '']),
          'Forwarders',
          [4, 5, 6, 7],
        )
      : el('p', { class: 'muted' }, 'No forwarders configured.'),
  );
  const rows: (string | HTMLElement)[][] = [];
  for (const [name, v] of Object.entries(s.counters).sort(([a], [b]) => a.localeCompare(b))) {
    const help = s.metrics?.[name]?.help ?? '';
    const series = typeof v === 'number' ? [['', v] as const] : Object.entries(v);
    series.forEach(([labels, n], k) => rows.push([name, labels, Number.isInteger(n) ? String(n) : fmtNum(n), k === 0 ? el('span', { class: 'muted' }, help) : '']));
  }
  parts.push(el('h3', {}, 'Counters'), rows.length ? scrollTable(['Counter', 'Labels', 'Value', 'Meaning'], rows, 'Counters', [2]) : el('p', { class: 'muted' }, 'No counters yet.'));
  body.replaceChildren(...parts);
  kept.restore();
}

/**
 * What a reader has done in the health section that its redraw (every status read, 5 s) must keep:
 * how far each table is scrolled sideways (a phone shows a few columns at a time) and which table
 * or device list has the keyboard focus. Tables are known by their label, device lists by their
 * plugin; `restore` applies both to the section drawn anew.
 */
function keepView(body: HTMLElement): { restore(): void } {
  const scrolled = new Map<string, number>();
  for (const r of body.querySelectorAll<HTMLElement>('.scroll[aria-label]')) if (r.scrollLeft > 0) scrolled.set(r.getAttribute('aria-label')!, r.scrollLeft);
  const active = document.activeElement;
  const inside = active && body.contains(active) ? active : null;
  const list = inside?.closest('details.devlist')?.getAttribute('data-plugin');
  const table = inside?.closest('.scroll[aria-label]')?.getAttribute('aria-label');
  return {
    restore() {
      for (const r of body.querySelectorAll<HTMLElement>('.scroll[aria-label]')) {
        const left = scrolled.get(r.getAttribute('aria-label')!);
        if (left !== undefined) r.scrollLeft = left;
      }
      const find = (sel: string, attr: string, v: string) => [...body.querySelectorAll<HTMLElement>(sel)].find((e) => e.getAttribute(attr) === v);
      // The innermost first: a device list sits inside the drivers' table.
      if (list != null) find('details.devlist', 'data-plugin', list)?.querySelector('summary')?.focus({ preventScroll: true });
      else if (table != null) find('.scroll[aria-label]', 'aria-label', table)?.focus({ preventScroll: true });
    },
  };
}
