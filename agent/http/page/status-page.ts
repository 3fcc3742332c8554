/**
 * The server-rendered status: health and problems, the latest values per device, drivers, broker,
 * buffer, forwarders and counters, in plain HTML without script. The live page (`GET /`) carries
 * these sections for browsers that run no script (shown only there, with a 5 s refresh). Every
 * value goes through the escaping `html` template.
 */
import type { Measurement, PhaseValues } from '../../../algorithms/common/measurement.js';
import type { AgentStatus, DeviceStatus } from '../../core/status-types.js';
import { DASH, fmtBytes, fmtDuration, fmtFixed, fmtListeners, fmtNum, fmtPhasor, fmtPower, fmtSessions, fmtUnsent, fmtWhen } from './format.js';
import { Html, html } from './html.js';

const PHASE_ROWS = ['a', 'b', 'c', 'total'] as const;
type PhaseRow = (typeof PHASE_ROWS)[number];

const pv = (v: PhaseValues | undefined, ph: PhaseRow): number | undefined => v?.[ph];

function phasePresent(m: Measurement, ph: PhaseRow): boolean {
  if (ph !== 'total' && (m.v?.[ph] || m.i?.[ph])) return true;
  return [m.p, m.q, m.s, m.pf].some((x) => x?.[ph] !== undefined);
}

function qualityCell(m: Measurement): Html {
  const q = typeof m.quality === 'string' ? m.quality : 'unknown';
  const reasons = Array.isArray(m.reasons) ? m.reasons.map(String).join(', ') : '';
  return html`<span class="q ${q}">${q}</span>${reasons ? html` <span class="muted">(${reasons})</span>` : ''}`;
}

function deviceRows(d: DeviceStatus): Html[] {
  const m = d.latest;
  const phases = PHASE_ROWS.filter((ph) => phasePresent(m, ph));
  if (phases.length === 0) phases.push('total');
  const span = String(phases.length);
  return phases.map((ph, k) => {
    const first = k === 0;
    const v = ph === 'total' ? DASH : fmtPhasor(m.v?.[ph]);
    const i = ph === 'total' ? DASH : fmtPhasor(m.i?.[ph]);
    return html`<tr class="${first ? 'dev' : ''}">
${first ? html`<td class="l" rowspan="${span}"><b>${d.device}</b></td>` : ''}
<td class="l">${ph}</td><td>${v}</td><td>${i}</td>
<td>${fmtPower(pv(m.p, ph), 'W')}</td><td>${fmtPower(pv(m.q, ph), 'var')}</td><td>${fmtPower(pv(m.s, ph), 'VA')}</td><td>${fmtFixed(pv(m.pf, ph), 3)}</td>
${first ? html`<td rowspan="${span}">${fmtFixed(m.freq, 3)}</td><td class="l" rowspan="${span}">${d.stale ? html`<span class="q invalid stale">stale</span> ` : ''}${qualityCell(m)}</td><td rowspan="${span}">${fmtDuration(d.ageMs !== undefined ? d.ageMs / 1000 : d.ageSeconds)}</td>` : ''}
</tr>`;
  });
}

/** Device rows rendered at most (the page stays small and quick with thousands of devices). */
export const PAGE_MAX_DEVICES = 50;

/**
 * Drivers' devices that never sent a value since their driver started, stale or not yet (they have no
 * row of values): `staleDevices` and every driver's `driverHealth.devices` with `seen: false`.
 */
function neverSeenSection(s: AgentStatus): Html {
  const listed = new Set(s.devices.map((d) => d.device));
  const never = new Map<string, { device: string; driver: string; stale: boolean }>();
  for (const h of [...(s.staleDevices ?? []), ...s.drivers.flatMap((d) => d.driverHealth?.devices ?? [])])
    if (!h.seen && !listed.has(h.device) && !never.has(h.device)) never.set(h.device, h);
  if (never.size === 0) return html``;
  return html`<p class="problems">No value since the driver started: ${[...never.values()].map((h) => `${h.device} (driver ${h.driver}${h.stale ? ', stale' : ''})`).join(', ')}</p>`;
}

function devicesSection(s: AgentStatus): Html {
  if (s.devices.length === 0) return html`${neverSeenSection(s)}<p class="muted">No measurements yet.</p>`;
  const total = Math.max(s.devicesTotal ?? 0, s.devices.length);
  const shown = s.devices.slice(0, PAGE_MAX_DEVICES);
  const more = total - shown.length;
  return html`${neverSeenSection(s)}<table>
<tr><th class="l">Device</th><th class="l">Phase</th><th>Voltage <small>(V)</small></th><th>Current <small>(A)</small></th><th>P</th><th>Q</th><th>S</th><th>PF</th><th>f <small>(Hz)</small></th><th class="l">Quality</th><th>Age</th></tr>
${shown.map(deviceRows)}
</table>${more > 0 ? html`<p class="muted">${String(more)} more devices not shown (the first ${String(shown.length)} are: stale and bad-quality ones first, then by name).</p>` : ''}`;
}

/** Devices a driver's row names at most; the rest are counted (the JSON status lists them all). */
export const DRIVER_DEVICES_NAMED = 8;

/**
 * A driver's devices: stale ones first and marked, then the others, at most DRIVER_DEVICES_NAMED
 * named and the rest counted ("and 192 more, 3 of them stale"). A driver of 200 devices made its row
 * thousands of pixels tall, with the buffer and the forwarders far below.
 */
function driverDevices(list: readonly { device: string; stale: boolean }[]): Html {
  const ordered = [...list.filter((h) => h.stale), ...list.filter((h) => !h.stale)];
  const named = ordered.slice(0, DRIVER_DEVICES_NAMED);
  const rest = ordered.slice(DRIVER_DEVICES_NAMED);
  const staleRest = rest.filter((h) => h.stale).length;
  const more = rest.length ? ` and ${String(rest.length)} more${staleRest ? `, ${String(staleRest)} of them stale` : ''}` : '';
  return html`${named.map((h, k) => html`${k ? ', ' : ''}${h.stale ? html`<span class="err">${h.device} (stale)</span>` : h.device}`)}${more}`;
}

function driversSection(s: AgentStatus, now: number): Html {
  if (s.drivers.length === 0) return html`<p class="muted">No drivers configured.</p>`;
  return html`<table>
<tr><th class="l">Driver</th><th class="l">Type</th><th class="l">State</th><th class="l">Connected</th><th>Reads</th><th>Errors</th><th>Retries</th><th>Reconnects</th><th class="l">Devices</th><th class="l">Last error</th><th class="l">Info</th></tr>
${s.drivers.map(
  (d) => html`<tr><td class="l">${d.id}</td><td class="l">${d.type}</td>
<td class="l"><span class="${d.state === 'running' ? 'yes' : d.state === 'stopped' ? 'no' : 'degraded'}">${d.state}</span></td>
<td class="l">${d.driverHealth ? html`<span class="${d.driverHealth.connected ? 'yes' : 'no'}">${d.driverHealth.connected ? 'yes' : 'no'}</span>` : DASH}</td>
<td>${fmtNum(d.driverHealth?.reads)}</td><td>${fmtNum(d.driverHealth?.errors)}</td><td>${fmtNum(d.driverHealth?.retries)}</td><td>${fmtNum(d.driverHealth?.reconnects)}</td>
<td class="l">${driverDevices(d.driverHealth?.devices ?? (d.devices ?? []).map((name) => ({ device: name, stale: false })))}</td>
<td class="l">${d.lastError ? html`<span class="err">${d.lastError}</span> <span class="muted">${fmtWhen(d.lastErrorAt, now)}</span>` : ''}</td>
<td class="l">${Object.entries(d.info ?? {})
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ')}</td></tr>`,
)}
</table>`;
}

function brokerSection(s: AgentStatus): Html {
  const b = s.broker;
  return html`<table><tr><th class="l">Listening</th><th>Clients</th><th>Subscriptions</th><th>Sessions</th></tr>
<tr><td class="l">${fmtListeners(b)}</td><td>${b.clients}</td><td>${b.subscriptions}</td><td>${fmtSessions(b)}</td></tr></table>`;
}

function bufferSection(s: AgentStatus): Html {
  const b = s.buffer;
  if (!b) return html`<p class="muted">No buffer.</p>`;
  return html`<table>
<tr><th class="l">File</th><th>Rows</th><th>Unsent</th><th>Size</th><th>Seq</th><th>Oldest</th><th class="l">Write</th></tr>
<tr><td class="l">${b.path}</td><td>${b.rows}</td><td>${fmtUnsent(b)}</td><td>${fmtBytes(b.bytes)}</td><td>${b.firstSeq} … ${b.lastSeq}</td>
<td>${fmtDuration(b.oldestAgeSeconds)}</td>
<td class="l">${b.writeError ? html`<span class="err">${b.writeError}</span>` : html`<span class="yes">ok</span>`}</td></tr>
</table>`;
}

function forwardersSection(s: AgentStatus, now: number): Html {
  if (s.forwarders.length === 0) return html`<p class="muted">No forwarders configured.</p>`;
  return html`<table>
<tr><th class="l">Forwarder</th><th class="l">Type</th><th class="l">Connected</th><th class="l">Last success</th><th>Lag (rows)</th><th>Lag</th><th>Drain (rows/s)</th><th>Dropped</th><th class="l">Last error</th></tr>
${s.forwarders.map(
  (f) => html`<tr><td class="l">${f.id}</td><td class="l">${f.type}</td>
<td class="l"><span class="${f.connected ? 'yes' : 'no'}">${f.connected ? 'yes' : 'no'}</span></td>
<td class="l">${fmtWhen(f.lastSuccess, now)}</td><td>${f.lag}</td><td>${fmtDuration(f.lagSeconds)}</td>
<td>${fmtNum(f.drainRate)}</td><td>${f.dropped}</td><td class="l">${f.lastError ? html`<span class="err">${f.lastError}</span> <span class="muted">${fmtWhen(f.lastErrorAt, now)}</span>` : ''}</td></tr>`,
)}
</table>`;
}

function countersSection(s: AgentStatus): Html {
  const rows: Html[] = [];
  // Each name with its meaning from the metric catalogue, on its first row.
  for (const [name, v] of Object.entries(s.counters)) {
    const help = s.metrics?.[name]?.help ?? '';
    const series = typeof v === 'number' ? [['', v] as const] : Object.entries(v);
    series.forEach(([labels, n], k) =>
      rows.push(html`<tr><td class="l" title="${help}">${name}</td><td class="l">${labels}</td><td>${n}</td><td class="l muted">${k === 0 ? help : ''}</td></tr>`),
    );
  }
  if (rows.length === 0) return html`<p class="muted">No counters yet.</p>`;
  return html`<table><tr><th class="l">Counter</th><th class="l">Labels</th><th>Value</th><th class="l">Meaning</th></tr>${rows}</table>`;
}

/**
 * The status as server-rendered sections (health badge and problems, devices, drivers, broker,
 * buffer, forwarders, counters): the page without script, and what the live page carries for
 * browsers that run none.
 */
export function renderStatusSections(s: AgentStatus, nowMs = Date.now()): Html {
  return html`<p><span class="badge ${s.health}">${s.health}</span> · version ${s.version} · up ${fmtDuration(s.uptimeSeconds)} · started ${fmtWhen(s.startedAt, nowMs)}</p>
${s.problems.length ? html`<h2>Problems</h2><ul class="problems">${s.problems.map((p) => html`<li class="err">${p}</li>`)}</ul>` : ''}
<h2>Devices</h2>
${devicesSection(s)}
<h2>Drivers</h2>
${driversSection(s, nowMs)}
<h2>Broker</h2>
${brokerSection(s)}
<h2>Buffer</h2>
${bufferSection(s)}
<h2>Forwarders</h2>
${forwardersSection(s, nowMs)}
<h2>Counters</h2>
${countersSection(s)}
`;
}
