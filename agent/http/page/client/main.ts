/**
 * The live page's entry module. On load it reads the status (health, plugins: which estimator to
 * draw), the first devices and the schedules, then follows `GET /api/v1/events` (server-sent
 * events, at most one update per device per second) for the devices and plots, and reads the status
 * again every 5 s for the health section. A lost event stream is reopened by the browser; one the
 * server refused (or a closed session) is retried after 5 s, and a 401 leads to the login page.
 *
 * When the agent cannot be reached (a status read fails to connect, probed at once when the event
 * stream drops) the badge and the title say so and since when, the body is marked
 * `data-agent="unreachable"` (cards and health greyed, each card and the health section saying
 * "last known"), and the status is probed every 2 s until it answers again; the browser reopens the
 * event stream by itself.
 */
import type { AgentStatus } from '../../../core/status-types.js';
import { api, leavePage, setLostConnection } from './api.js';
import { byId } from './dom.js';
import { DevicesView, numericPaths, type DeviceUpdate, type ExpectedDevice } from './devices.js';
import { clockTime, renderBadge, renderHealth, renderUnreachable } from './health.js';
import { NetworkView } from './network.js';
import { PlotsView } from './plots.js';
import { SchedulesView } from './schedules.js';

const STATUS_EVERY_MS = 5000;
/** Devices read at once on load (the most a page of /api/v1/devices holds); the event stream brings the rest. */
const FIRST_READ = 500;
/** How often the status is probed while the agent cannot be reached. */
const PROBE_EVERY_MS = 2000;

const devices = new DevicesView();
/** The plots follow the devices' filter and order (the first few matching devices by name). */
const plots = new PlotsView(devices);
devices.onFilterChange(() => plots.checkDevices());
const network = new NetworkView();
const schedules = new SchedulesView();
const conn = byId('conn');
const fields = new Set<string>();

/** The connection as the page knows it; `renderConn` turns it into the one line in #conn. */
const link = {
  /** Since when status reads fail to reach the agent (undefined: the last one answered). */
  unreachableSince: undefined as number | undefined,
  unreachableDetail: '',
  /** When the status was last read. */
  lastStatusMs: undefined as number | undefined,
  /** A status read the agent answered with an error. */
  statusError: '',
  stream: 'connecting' as 'connecting' | 'open' | 'reconnecting' | 'stopped',
};

function renderConn(): void {
  if (link.unreachableSince !== undefined) {
    const last = link.lastStatusMs === undefined ? '' : ` The values below are the last known (status read at ${clockTime(link.lastStatusMs)}).`;
    conn.textContent = `✖ No answer from the agent since ${clockTime(link.unreachableSince)}: ${link.unreachableDetail}; trying again every ${PROBE_EVERY_MS / 1000} s.${last}`;
  } else if (link.statusError) conn.textContent = `⚠ Cannot read the status: ${link.statusError}`;
  else if (link.stream === 'reconnecting') conn.textContent = '⚠ Live updates interrupted; reconnecting…';
  else if (link.stream === 'stopped') conn.textContent = '⚠ Live updates stopped; trying again in 5 s.';
  else conn.textContent = '';
}

function setReachable(reachable: boolean): void {
  document.body.dataset['agent'] = reachable ? 'reachable' : 'unreachable';
  devices.setCurrent(reachable);
}

function onDevice(u: DeviceUpdate): void {
  devices.update(u);
  plots.add(u.device, u.latest);
  let added = false;
  for (const f of numericPaths(u.latest)) if (!fields.has(f)) added = fields.add(f) !== undefined;
  if (added) plots.setFields([...fields]);
}

let statusTimer: ReturnType<typeof setTimeout> | undefined;
let statusRunning: Promise<AgentStatus | undefined> | undefined;

/** Read the status now (joining a read in flight), then again in 5 s, or in 2 s while the agent cannot be reached. */
function status(): Promise<AgentStatus | undefined> {
  statusRunning ??= readStatus().finally(() => {
    statusRunning = undefined;
    clearTimeout(statusTimer);
    statusTimer = setTimeout(() => void status(), link.unreachableSince === undefined ? STATUS_EVERY_MS : PROBE_EVERY_MS);
  });
  return statusRunning;
}

async function readStatus(): Promise<AgentStatus | undefined> {
  const r = await api<AgentStatus>('/api/v1/status');
  if (!r.ok) {
    if (r.status === 0) {
      link.unreachableSince ??= Date.now();
      link.unreachableDetail = r.detail;
      setLostConnection(true);
      renderUnreachable(link.unreachableSince, link.lastStatusMs);
      setReachable(false);
    } else link.statusError = r.detail;
    renderConn();
    return undefined;
  }
  link.unreachableSince = undefined;
  link.statusError = '';
  link.lastStatusMs = Date.now();
  if (link.stream === 'open') setLostConnection(false);
  renderBadge(r.body);
  renderHealth(r.body);
  setReachable(true);
  renderConn();
  devices.setTotal(Math.max(r.body.devicesTotal ?? 0, r.body.devices.length));
  devices.setStale(new Set([...(r.body.staleDevices ?? []).map((h) => h.device), ...r.body.devices.filter((d) => d.stale).map((d) => d.device)]));
  devices.setExpected(expectedWithoutData(r.body));
  return r.body;
}

/** The devices the drivers expect that have sent nothing since their driver started (`seen: false`), with the driver's state. */
function expectedWithoutData(s: AgentStatus): ExpectedDevice[] {
  const out = new Map<string, ExpectedDevice>();
  const drivers = new Map((s.plugins?.drivers ?? s.drivers).map((d) => [d.id, d]));
  const add = (h: { device: string; driver: string; ageMs: number; seen: boolean }): void => {
    if (h.seen || out.has(h.device)) return;
    const d = drivers.get(h.driver);
    const x: ExpectedDevice = { device: h.device, driver: h.driver, ageMs: h.ageMs };
    if (d?.type) x.type = d.type;
    if (d?.lastError) x.lastError = d.lastError;
    if (d?.driverHealth) x.connected = d.driverHealth.connected;
    out.set(h.device, x);
  };
  for (const d of drivers.values()) for (const h of d.driverHealth?.devices ?? []) add(h);
  for (const h of s.staleDevices ?? []) add(h);
  return [...out.values()];
}

function follow(): void {
  const es = new EventSource('/api/v1/events');
  es.addEventListener('open', () => {
    link.stream = 'open';
    renderConn();
    // The agent answers again: the status says how it is now (and ends the "unreachable" marks).
    if (link.unreachableSince !== undefined) void status();
  });
  es.addEventListener('device', (e) => onDevice(JSON.parse((e as MessageEvent<string>).data) as DeviceUpdate));
  es.addEventListener('error', () => {
    // The stream dropped: a session refused from now on means the agent has most likely restarted.
    setLostConnection(true);
    if (es.readyState === EventSource.CLOSED) {
      link.stream = 'stopped';
      // A refusal (too many streams) or an ended session: the status call finds out which.
      setTimeout(follow, 5000);
    } else link.stream = 'reconnecting';
    renderConn();
    // Is the agent still there? The status read says (and marks the page when it is not).
    void status();
  });
}

async function main(): Promise<void> {
  byId('logout', false)?.addEventListener('click', async () => {
    // Closing the session ends the event stream, whose status read then gets a 401: that one must
    // not send the browser to "session ended" instead of the plain login page.
    leavePage();
    await api('/api/v1/logout', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    location.href = '/login';
  });
  const s = await status();
  const first = await api<{ items: DeviceUpdate[] }>(`/api/v1/devices?limit=${FIRST_READ}`);
  if (first.ok) for (const d of first.body.items) onDevice(d);
  follow();
  const estimators = (s?.plugins?.analyzers ?? []).filter((a) => a.type === 'estimator').map((a) => a.id);
  await Promise.all([network.init(estimators), schedules.load()]);
  document.body.dataset['ready'] = 'true';
}

void main();
