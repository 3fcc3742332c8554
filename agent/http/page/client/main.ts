/**
 * The live page's entry module. On load it reads the status (health, plugins: which estimator to
 * draw), the first devices and the schedules, then follows `GET /api/v1/events` (server-sent
 * events, at most one update per device per second) for the devices and plots, and reads the status
 * again every 5 s for the health section. A lost event stream is reopened by the browser; one the
 * server refused (or a closed session) is retried after 5 s, and a 401 leads to the login page.
 */
import type { AgentStatus } from '../../../core/status-types.js';
import { api } from './api.js';
import { byId } from './dom.js';
import { DevicesView, MAX_CARDS, numericPaths, type DeviceUpdate } from './devices.js';
import { renderBadge, renderHealth } from './health.js';
import { NetworkView } from './network.js';
import { PlotsView } from './plots.js';
import { SchedulesView } from './schedules.js';

const STATUS_EVERY_MS = 5000;

const devices = new DevicesView();
const plots = new PlotsView();
const network = new NetworkView();
const schedules = new SchedulesView();
const conn = byId('conn');
const fields = new Set<string>();

function onDevice(u: DeviceUpdate): void {
  devices.update(u);
  plots.add(u.device, u.latest);
  let added = false;
  for (const f of numericPaths(u.latest)) if (!fields.has(f)) added = fields.add(f) !== undefined;
  if (added) plots.setFields([...fields]);
}

async function status(): Promise<AgentStatus | undefined> {
  const r = await api<AgentStatus>('/api/v1/status');
  if (!r.ok) {
    conn.textContent = `⚠ Cannot read the status: ${r.detail}`;
    return undefined;
  }
  renderBadge(r.body);
  renderHealth(r.body);
  devices.setTotal(Math.max(r.body.devicesTotal ?? 0, r.body.devices.length));
  return r.body;
}

function follow(): void {
  const es = new EventSource('/api/v1/events');
  es.addEventListener('open', () => (conn.textContent = ''));
  es.addEventListener('device', (e) => onDevice(JSON.parse((e as MessageEvent<string>).data) as DeviceUpdate));
  es.addEventListener('error', () => {
    if (es.readyState === EventSource.CLOSED) {
      conn.textContent = '⚠ Live updates stopped; trying again in 5 s.';
      // A refusal (too many streams) or an ended session: the status call finds out which.
      setTimeout(() => {
        void status();
        follow();
      }, 5000);
    } else conn.textContent = '⚠ Live updates interrupted; reconnecting…';
  });
}

async function main(): Promise<void> {
  byId('logout', false)?.addEventListener('click', async () => {
    await api('/api/v1/logout', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    location.href = '/login';
  });
  const s = await status();
  const first = await api<{ items: DeviceUpdate[] }>(`/api/v1/devices?limit=${MAX_CARDS}`);
  if (first.ok) for (const d of first.body.items) onDevice(d);
  follow();
  setInterval(() => void status(), STATUS_EVERY_MS);
  const estimators = (s?.plugins?.analyzers ?? []).filter((a) => a.type === 'estimator').map((a) => a.id);
  await Promise.all([network.init(estimators), schedules.load()]);
  document.body.dataset['ready'] = 'true';
}

void main();
