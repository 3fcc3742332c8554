/**
 * The live page's entry module. On load it reads the status (health, plugins: which estimator to
 * draw), every device's latest values (a page of /api/v1/devices at a time) and the schedules, then
 * follows `GET /api/v1/events` (server-sent events, at most one update per device per second) for
 * the devices and plots, and reads the status again every 5 s for the health section. A lost event
 * stream is reopened by the browser; one the server refused (or a closed session) is retried after
 * 5 s, and a 401 leads to the login page.
 *
 * The stream asks only for what the page shows (`?devices=`: the devices with a card and those
 * plotted), which on a narrow link with hundreds of devices is most of the traffic saved. When that
 * set changes (the filter box, a device moving among the first cards, "Plot", the plotted field) a
 * new stream is opened for the new set and the old one closed once the new one is open, so a device
 * shown in both misses nothing; the new stream starts with the current values of every device it
 * names, so one that comes into view has them at once. Every other device comes as a light summary
 * (`event: summary`, its name and quality): a device the page has not heard of is read once from
 * `/api/v1/devices/{id}` (or, for many at once, every device again), so the device list, the "more
 * not shown" count and the plots' choices still learn of it; a change of quality may bring a device
 * among the first cards. Stale devices and those without data come from the status every 5 s.
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
/** Devices a page of /api/v1/devices holds at most (read on load until every device is read, at most READ_PAGES pages). */
const PAGE = 500;
const READ_PAGES = 20;
/** New devices read one by one at most; more at once are read as every device again. */
const READ_ONE_BY_ONE = 20;
/** A change of the devices shown is applied to the event stream after this long without another. */
const REFILTER_MS = 250;
/**
 * Longest event-stream address the page asks for, percent-encoded (the agent's HTTP parser takes
 * 16 KiB of request line and headers); beyond it (very long or non-Latin names) the stream is not narrowed.
 */
const MAX_URL_CHARS = 8000;
/** How often the status is probed while the agent cannot be reached. */
const PROBE_EVERY_MS = 2000;

const devices = new DevicesView();
/** The plots follow the devices' filter and order (the first few matching devices by name). */
const plots = new PlotsView(devices);
devices.onFilterChange(() => plots.checkDevices());
devices.onShownChange(() => {
  scheduleRefilter();
  readOutdated();
});
plots.onPlottedChange(() => scheduleRefilter());
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
  // The devices without data first: a stale one among them is new to the page on its first status
  // read and must be marked at once (setStale marks only the devices the page knows).
  devices.setExpected(expectedWithoutData(r.body));
  devices.setStale(new Set([...(r.body.staleDevices ?? []).map((h) => h.device), ...r.body.devices.filter((d) => d.stale).map((d) => d.device)]));
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

/** A device name as one entry of `?devices=`: a comma, star or backslash in it taken as itself. */
function filterEntry(name: string): string {
  return name.replace(/[\\,*]/g, '\\$&');
}

/** The event stream's address for the devices the page shows (cards and plots), or every device when that would be too long. */
function streamUrl(): string {
  const names = [...new Set([...devices.names(), ...plots.plottedNames()])].sort();
  const url = `/api/v1/events?${new URLSearchParams({ devices: names.map(filterEntry).join(',') })}`;
  return url.length > MAX_URL_CHARS ? '/api/v1/events' : url;
}

/** The stream the page follows, and one being opened to replace it (another set of devices). */
let current: { es: EventSource; url: string } | undefined;
let next: { es: EventSource; url: string } | undefined;
let refilterTimer: ReturnType<typeof setTimeout> | undefined;

function scheduleRefilter(delayMs = REFILTER_MS): void {
  clearTimeout(refilterTimer);
  refilterTimer = setTimeout(refilter, delayMs);
}

/** Open a stream for the devices shown now, unless the current one (or the one opening) is for them already. */
function refilter(): void {
  if (!current) return; // not following (yet, or retrying): follow() takes the set of then
  const url = streamUrl();
  if ((next ?? current).url === url) return;
  next?.es.close();
  next = open(url);
}

/** Devices the page has no values of that a summary named: read soon (one by one, or every device when many). */
const unknown = new Set<string>();
let unknownTimer: ReturnType<typeof setTimeout> | undefined;

function onSummary(s: { device: string; quality: string }): void {
  // A device known only as expected by a driver (no value yet) is read too: its first value came as a summary.
  if (devices.hasValues(s.device)) {
    // The stream does not carry it: the values the page has may age from now on.
    devices.markOutdated(s.device);
    devices.setQuality(s.device, s.quality);
    return readOutdated();
  }
  unknown.add(s.device);
  unknownTimer ??= setTimeout(() => {
    unknownTimer = undefined;
    const names = [...unknown];
    unknown.clear();
    if (names.length > READ_ONE_BY_ONE) return void readAll();
    for (const d of names)
      void api<DeviceUpdate>(`/api/v1/devices/${encodeURIComponent(d)}`).then((r) => {
        if (r.ok) onDevice(r.body);
      });
  }, 200);
}

/** Devices with a card whose values the page had from before (see readOutdated), to read at the next turn. */
const outdated = new Set<string>();
let outdatedTimer: ReturnType<typeof setTimeout> | undefined;

/**
 * Read the current values of the devices with a card whose values may be old (the page had them from
 * before they were shown: the stream carried only summaries of them), one by one, at once: the stream
 * opened for the new set of cards brings them too, but only once it is open (after REFILTER_MS, and
 * not at all while the agent refuses it), and until then the card would show old values as current.
 * A read that arrives after the stream brought newer values is dropped.
 */
function readOutdated(): void {
  for (const d of devices.outdatedShown()) outdated.add(d);
  if (outdated.size === 0) return;
  outdatedTimer ??= setTimeout(() => {
    outdatedTimer = undefined;
    const names = [...outdated];
    outdated.clear();
    for (const d of names)
      void api<DeviceUpdate>(`/api/v1/devices/${encodeURIComponent(d)}`).then((r) => {
        if (r.ok && devices.isOutdated(d)) onDevice(r.body);
      });
  }, 0);
}

/** A device the agent no longer knows (its driver removed by a reload): its card and plot go. */
function onRemoved(device: string): void {
  unknown.delete(device);
  devices.remove(device);
  plots.forget(device);
}

/** Every device's latest values, a page at a time. */
async function readAll(): Promise<void> {
  for (let k = 0, offset = 0; k < READ_PAGES; k++) {
    const r = await api<{ total: number; items: DeviceUpdate[] }>(`/api/v1/devices?limit=${PAGE}&offset=${offset}`);
    if (!r.ok) return;
    for (const d of r.body.items) onDevice(d);
    offset += r.body.items.length;
    if (r.body.items.length === 0 || offset >= r.body.total) return;
  }
}

/** An event stream at `url`: the current one, or the next (it replaces the current one when it opens). */
function open(url: string): { es: EventSource; url: string } {
  const es = new EventSource(url);
  const self = { es, url };
  const live = (): boolean => current === self || next === self;
  es.addEventListener('open', () => {
    if (next === self) {
      // The new set's stream is open (its first events are every device it names): the old one can go.
      current?.es.close();
      current = self;
      next = undefined;
    }
    if (current !== self) return;
    link.stream = 'open';
    renderConn();
    // The agent answers again: the status says how it is now (and ends the "unreachable" marks).
    if (link.unreachableSince !== undefined) void status();
    // The devices shown may have changed while this stream was opening.
    scheduleRefilter(0);
  });
  es.addEventListener('device', (e) => {
    if (live()) onDevice(JSON.parse((e as MessageEvent<string>).data) as DeviceUpdate);
  });
  es.addEventListener('removed', (e) => {
    if (live()) onRemoved((JSON.parse((e as MessageEvent<string>).data) as { device: string }).device);
  });
  es.addEventListener('summary', (e) => {
    if (live()) onSummary(JSON.parse((e as MessageEvent<string>).data) as { device: string; quality: string });
  });
  es.addEventListener('error', () => {
    if (next === self) {
      // Not opened (too many streams, or the agent away): keep the current one, try again later.
      es.close();
      next = undefined;
      scheduleRefilter(5000);
      return;
    }
    if (current !== self) return;
    // The stream dropped: a session refused from now on means the agent has most likely restarted.
    setLostConnection(true);
    if (es.readyState === EventSource.CLOSED) {
      link.stream = 'stopped';
      current = undefined;
      next?.es.close();
      next = undefined;
      // A refusal (too many streams) or an ended session: the status call finds out which.
      setTimeout(follow, 5000);
    } else link.stream = 'reconnecting';
    renderConn();
    // Is the agent still there? The status read says (and marks the page when it is not).
    void status();
  });
  return self;
}

function follow(): void {
  current = open(streamUrl());
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
  await readAll();
  // The cards and plots of the values read, so the stream asks for them from the start.
  devices.layoutNow();
  plots.checkNow();
  follow();
  const estimators = (s?.plugins?.analyzers ?? []).filter((a) => a.type === 'estimator').map((a) => a.id);
  await Promise.all([network.init(estimators), schedules.load()]);
  document.body.dataset['ready'] = 'true';
}

void main();
