/**
 * The server-rendered status sections of `GET /` (what a browser without script sees, see
 * agent/http/README.md), of the real agent, opened in Debian's Chromium: read back out of the
 * rendered DOM and checked against `/api/v1/status`.
 */
import t, { type Test } from 'tap';
import mqtt from 'mqtt';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { AgentStatus, DeviceStatus } from '../../agent/core/status-types.js';
import { getJson, startAgent, type AgentProcess } from '../helpers/agent-process.js';
import { launchChromium, type LaunchedBrowser } from '../helpers/browser.js';
import { refusedPort } from '../helpers/ports.js';
import { waitFor as waitUntil } from '../helpers/wait.js';

// Content waits only (never a speed assertion): generous, so a busy 2-core machine stays green.
const WAIT_MS = 60_000;
t.setTimeout(600_000);

const TRANSPARENT = 'rgba(0, 0, 0, 0)';
const XSS_DEVICE = '<img src=x onerror=window.__xss=1>';

/** Probe the agent or the page every 250 ms until it answers `what`; a failing probe is tried again. */
function waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = WAIT_MS): Promise<T> {
  return waitUntil(what, probe, { timeoutMs, intervalMs: 250, retryErrors: true });
}

const status = (agent: AgentProcess): Promise<AgentStatus> => getJson<AgentStatus>(`${agent.httpUrl}/api/v1/status`);

/** What the page shows, read in one go inside the browser (the page reloads itself every 5 s). */
interface Snapshot {
  title: string;
  health: string;
  healthBackground: string;
  bodyColor: string;
  problems: string[];
  /** Tables under each `<h2>`, as rows of cell texts with rowspans expanded (row 0: the headers). */
  tables: Record<string, string[][]>;
  /** Quality labels in the devices table with their computed colour. */
  qualities: { text: string; color: string; background: string }[];
  xss: string;
  images: number;
}

// Runs in the page. Plain JS in a string: the test project compiles without the DOM lib.
const SNAPSHOT_JS = `(() => {
  const text = (el) => (el ? el.textContent || '' : '').replace(/\\s+/g, ' ').trim();
  const grid = (table) => {
    const rows = [];
    const carry = [];
    const takeCarried = (row, col) => {
      while (carry[col] && carry[col].left > 0) { row[col] = carry[col].text; carry[col].left--; col++; }
      return col;
    };
    for (const tr of table.rows) {
      const row = [];
      let col = 0;
      for (const cell of tr.cells) {
        col = takeCarried(row, col);
        const v = text(cell);
        for (let k = 0; k < (cell.colSpan || 1); k++) {
          row[col] = v;
          if (cell.rowSpan > 1) carry[col] = { text: v, left: cell.rowSpan - 1 };
          col++;
        }
      }
      takeCarried(row, col);
      rows.push(row);
    }
    return rows;
  };
  const tables = {};
  for (const h2 of document.querySelectorAll('h2')) {
    let el = h2.nextElementSibling;
    while (el && el.tagName !== 'H2' && el.tagName !== 'TABLE') el = el.nextElementSibling;
    if (el && el.tagName === 'TABLE') tables[text(h2)] = grid(el);
  }
  const badge = document.querySelector('.badge');
  const devicesH2 = [...document.querySelectorAll('h2')].find((h) => text(h) === 'Devices');
  let devTable = devicesH2 && devicesH2.nextElementSibling;
  const qualities = devTable && devTable.tagName === 'TABLE'
    ? [...devTable.querySelectorAll('.good, .questionable, .invalid')].map((s) => ({ text: text(s), color: getComputedStyle(s).color, background: getComputedStyle(s).backgroundColor }))
    : [];
  return {
    title: document.title,
    health: text(badge),
    healthBackground: badge ? getComputedStyle(badge).backgroundColor : '',
    bodyColor: getComputedStyle(document.body).color,
    problems: [...document.querySelectorAll('.problems li, li.err')].map(text),
    tables,
    qualities,
    xss: typeof window.__xss,
    images: document.images.length,
  };
})()`;

async function snapshot(page: Page): Promise<Snapshot> {
  // A self-refresh between two steps destroys the execution context: take the next load instead.
  return waitFor('a snapshot of the status page', async () => {
    await page.waitForLoadState('load');
    return (await page.evaluate(SNAPSHOT_JS)) as Snapshot;
  });
}

/** Header → cell text, one object per body row. */
function records(grid: string[][] | undefined, what: string): Record<string, string>[] {
  if (!grid || grid.length === 0) throw new Error(`the page has no ${what} table`);
  const [head, ...rows] = grid;
  return rows.map((r) => Object.fromEntries(head!.map((h, k) => [h, r[k] ?? ''])));
}

/** "74.07 kW" → 74070 (the unit must be the expected one). */
function parseQuantity(s: string | undefined, unit: string): number {
  const m = /^(-?\d+(?:\.\d+)?) ([kMG]?)(\S+)$/.exec(s ?? '');
  if (!m || m[3] !== unit) throw new Error(`expected a value in ${unit}, got ${JSON.stringify(s)}`);
  return Number(m[1]) * ({ '': 1, k: 1e3, M: 1e6, G: 1e9 } as Record<string, number>)[m[2]!]!;
}

/** "229.8∠41.0°" (the unit is in the column header): magnitude and angle in degrees. */
function parsePhasor(s: string | undefined): { mag: number; ang: number } {
  const m = /^(-?\d+(?:\.\d+)?)∠(-?\d+(?:\.\d+)?)°$/.exec(s ?? '');
  if (!m) throw new Error(`expected a phasor like 230.0∠-120.0°, got ${JSON.stringify(s)}`);
  return { mag: Number(m[1]), ang: Number(m[2]) };
}

function parseNumber(s: string | undefined): number {
  const n = Number(s);
  if (s === undefined || s.trim() === '' || !Number.isFinite(n)) throw new Error(`expected a number, got ${JSON.stringify(s)}`);
  return n;
}

/** "0.4 s", "12 s", "3 min 5 s" → seconds. */
function parseAge(s: string | undefined): number {
  const m = /^(?:(\d+) min )?(\d+(?:\.\d+)?) s$/.exec(s ?? '');
  if (!m) throw new Error(`expected an age like "0.4 s", got ${JSON.stringify(s)}`);
  return Number(m[1] ?? 0) * 60 + Number(m[2]);
}

const relClose = (a: number, b: number, rel: number): boolean => Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b));

const isPng = (buf: Buffer): boolean => buf.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));

let chromium: LaunchedBrowser | undefined;
t.before(async () => {
  chromium = await launchChromium();
});
t.teardown(() => chromium?.close());

async function openPage(t: Test, url: string): Promise<Page> {
  const page = await chromium!.browser.newPage({ viewport: { width: 1280, height: 900 } });
  t.teardown(() => page.close().catch(() => undefined));
  await page.goto(url, { waitUntil: 'load', timeout: WAIT_MS });
  return page;
}

t.test('a healthy agent with two simulated PMUs, as a technician sees it', async (t) => {
  const agent = await startAgent({ config: { drivers: [{ type: 'sim-pmu', id: 'pmu1', rate: 10, count: 2 }] } });
  t.teardown(() => agent.stop('SIGKILL'));

  const before = await waitFor('pmu1-1 and pmu1-2 in /api/v1/status', async () => {
    const s = await status(agent);
    const names = s.devices.map((d) => d.device);
    return names.includes('pmu1-1') && names.includes('pmu1-2') && typeof s.counters['processed'] === 'number' ? s : null;
  });

  // A device name that is markup: it must reach the page as text, never as an element.
  const client = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'page-test' });
  t.teardown(() => client.end(true));
  // 230 V ∠0°, 5 A ∠−10°: P = V·I·cos φ = 1150·cos 10° = 1132.5 W (IEC 60050-131-11-42, active power).
  const xssMeasurement = {
    device: XSS_DEVICE,
    ts: Date.now() * 1000,
    quality: 'good',
    v: { a: { mag: 230, ang: 0 } },
    i: { a: { mag: 5, ang: -10 } },
  };
  let xssAccepted = true;
  try {
    await client.publishAsync(`bal/raw/${XSS_DEVICE}`, JSON.stringify(xssMeasurement), { qos: 1 });
    await waitFor('the markup-named device in /api/v1/status', async () => (await status(agent)).devices.some((d) => d.device === XSS_DEVICE), 20_000);
  } catch (err) {
    xssAccepted = false;
    t.comment(`the agent did not take the markup-named device (${(err as Error).message}); checking that nothing executes anyway`);
  }

  // A measurement the device itself marks questionable: the technician must notice it.
  await client.publishAsync(
    'bal/raw/meter7',
    JSON.stringify({ device: 'meter7', ts: Date.now() * 1000, quality: 'questionable', reasons: ['clock_unsync'], v: { a: { mag: 231 } } }),
    { qos: 1 },
  );
  await waitFor('meter7 in /api/v1/status', async () => (await status(agent)).devices.some((d) => d.device === 'meter7'));

  const page = await openPage(t, `${agent.httpUrl}/`);
  const snap = await waitFor('both devices in the devices table', async () => {
    const s = await snapshot(page);
    const rows = s.tables['Devices'] ?? [];
    if (['pmu1-1', 'pmu1-2', 'meter7'].every((d) => rows.some((r) => r[0] === d))) return s;
    await page.reload({ waitUntil: 'load' });
    return null;
  });
  // Read after the page: the health may change for a moment between the page's read and this one
  // (CI saw a loaded machine's agent degraded for a moment), so this waits for the API to agree.
  let lastRead: AgentStatus | undefined;
  const after = await waitUntil(
    '/api/v1/status to give the health the badge shows',
    async () => {
      lastRead = await status(agent);
      return lastRead.health === snap.health ? lastRead : null;
    },
    { timeoutMs: WAIT_MS, intervalMs: 250, retryErrors: true, detail: () => `API: ${lastRead?.health} ${JSON.stringify(lastRead?.problems)}; page: ${snap.health}` },
  );

  t.test('health', async (t) => {
    t.equal(snap.health, after.health, 'the health badge says what /api/v1/status says');
    t.equal(snap.health, 'healthy');
    t.match(snap.title, /healthy/, 'the tab title carries the health too');
    t.same(snap.problems, [], 'no problems listed');
    t.not(snap.healthBackground, TRANSPARENT, `the health badge has a background (${snap.healthBackground})`);
  });

  t.test('a questionable measurement stands out', async (t) => {
    const rows = records(snap.tables['Devices'], 'devices').filter((r) => r['Device'] === 'meter7');
    t.same(rows.map((r) => r['Phase']), ['a'], 'one phase row (no power without a current)');
    t.equal(cell(rows[0]!, 'Quality'), 'questionable (clock_unsync)', 'quality with its reason');
    t.equal(cell(rows[0]!, 'Voltage (V)'), '231.0', 'a magnitude-only voltage');
    const q = snap.qualities.find((x) => x.text === 'questionable');
    const good = snap.qualities.find((x) => x.text === 'good');
    t.ok(q, 'the questionable label is marked up');
    t.not(q?.background, TRANSPARENT, `questionable has a background (${q?.background})`);
    t.not(q?.background, good?.background, 'and looks different from good');
  });

  t.test('devices table: per phase V and I, P/Q/S/PF, frequency, quality, age', async (t) => {
    const rows = records(snap.tables['Devices'], 'devices');
    const header = snap.tables['Devices']![0]!;
    for (const h of ['Device', 'Phase', 'Voltage (V)', 'Current (A)', 'P', 'Q', 'S', 'PF', 'f (Hz)', 'Quality', 'Age']) t.ok(header.includes(h), `column ${h}`);
    for (const name of ['pmu1-1', 'pmu1-2']) {
      const mine = rows.filter((r) => r['Device'] === name);
      t.same(mine.map((r) => r['Phase']), ['a', 'b', 'c', 'total'], `${name}: one row per phase and the total`);
      const byPhase = Object.fromEntries(mine.map((r) => [r['Phase']!, r]));
      const api = after.devices.find((d) => d.device === name) as DeviceStatus;
      for (const ph of ['a', 'b', 'c'] as const) {
        const r = byPhase[ph]!;
        const v = parsePhasor(cell(r, 'Voltage (V)'));
        const i = parsePhasor(cell(r, 'Current (A)'));
        // sim-pmu defaults: 230 V nominal with 1 % unbalance, 100 A × a load factor of 0.8–1.2 (±5 %).
        t.ok(v.mag > 220 && v.mag < 240, `${name} V${ph} = ${v.mag} V is near 230 V`);
        t.ok(i.mag > 70 && i.mag < 130, `${name} I${ph} = ${i.mag} A is near 100 A`);
        t.ok(Math.abs(v.ang) <= 180 && Math.abs(i.ang) <= 180, `${name} phase ${ph}: angles in (−180°, 180°]`);
        t.ok(relClose(v.mag, api.latest.v![ph]!.mag, 0.03), `${name} V${ph} ${v.mag} V matches the API (${api.latest.v![ph]!.mag.toFixed(2)} V)`);
      }
      const num = (ph: string, c: string, unit: string) => parseQuantity(cell(byPhase[ph]!, c), unit);
      const pTotal = num('total', 'P', 'W');
      const pSum = num('a', 'P', 'W') + num('b', 'P', 'W') + num('c', 'P', 'W');
      t.ok(relClose(pTotal, pSum, 0.01), `${name}: P total ${pTotal} W is the sum of the phases (${pSum} W)`);
      t.ok(relClose(pTotal, api.latest.p!.total!, 0.03), `${name}: P total on the page ${pTotal} W is within 3 % of the API's ${api.latest.p!.total!.toFixed(0)} W`);
      for (const ph of ['a', 'b', 'c', 'total']) {
        const p = num(ph, 'P', 'W');
        const q = num(ph, 'Q', 'var');
        const s = num(ph, 'S', 'VA');
        const pf = parseNumber(cell(byPhase[ph]!, 'PF'));
        // |S|² = P² + Q² and PF = P/|S| (IEEE 1459-2010, sinusoidal case).
        t.ok(relClose(s, Math.hypot(p, q), 0.01), `${name} ${ph}: S ${s} VA = √(P² + Q²)`);
        t.ok(Math.abs(pf - p / s) < 0.01, `${name} ${ph}: PF ${pf} = P/S`);
        // sim-pmu's default load power factor is 0.95 lagging: Q > 0.
        t.ok(Math.abs(pf - 0.95) < 0.01 && q > 0, `${name} ${ph}: PF ≈ 0.95 lagging`);
      }
      const first = byPhase['a']!;
      const f = parseNumber(cell(first, 'f (Hz)'));
      t.ok(Math.abs(f - 50) < 0.1, `${name}: frequency ${f} Hz near 50 Hz`);
      t.ok(Math.abs(f - api.latest.freq!) < 0.05, `${name}: frequency matches the API (${api.latest.freq!.toFixed(3)} Hz)`);
      t.equal(first['Quality'], 'good', `${name}: quality`);
      t.ok(parseAge(first['Age']) >= 0, `${name}: age shown in seconds (${first['Age']})`);
      t.equal(cell(byPhase['total']!, 'Voltage (V)'), '—', `${name}: no voltage on the total row`);
    }
    const good = snap.qualities.filter((q) => q.text === 'good');
    t.ok(good.length >= 2, 'quality labels are marked up');
    for (const q of good) t.not(q.color, snap.bodyColor, `quality "good" is coloured (${q.color}), not body text`);
  });

  t.test('a device name made of markup stays text', async (t) => {
    t.equal(snap.xss, 'undefined', 'window.__xss was never set');
    t.equal(snap.images, 0, 'no <img> element on the page');
    if (!xssAccepted) return;
    const rows = records(snap.tables['Devices'], 'devices').filter((r) => r['Device'] === XSS_DEVICE);
    t.same(rows.map((r) => r['Phase']), ['a', 'total'], 'shown as text, with its one phase and the total');
    const header = snap.tables['Devices']![0]!;
    const p = parseQuantity(cell(rows[0]!, 'P'), 'W');
    t.ok(Math.abs(p - 1150 * Math.cos((10 * Math.PI) / 180)) < 1, `P = 230 V · 5 A · cos 10° ≈ 1132.5 W (page: ${p} W)`);
  });

  t.test('buffer and counters', async (t) => {
    const buf = records(snap.tables['Buffer'], 'buffer');
    t.equal(buf.length, 1, 'one buffer');
    t.equal(buf[0]!['File'], after.buffer!.path, 'the buffer file path');
    const seq = /^(\d+) … (\d+)$/.exec(buf[0]!['Seq'] ?? '');
    t.ok(seq, `sequence range shown (${buf[0]!['Seq']})`);
    const lastSeq = Number(seq?.[2]);
    t.ok(lastSeq >= before.buffer!.lastSeq && lastSeq <= after.buffer!.lastSeq, `last seq ${lastSeq} between the API's before (${before.buffer!.lastSeq}) and after (${after.buffer!.lastSeq})`);
    t.ok(parseNumber(buf[0]!['Rows']) > 0, 'rows buffered');
    t.equal(buf[0]!['Write'], 'ok', 'buffer writes ok');

    const counters = records(snap.tables['Counters'], 'counters');
    const value = (name: string, labels = '') => {
      const r = counters.find((c) => c['Counter'] === name && c['Labels'] === labels);
      return r ? parseNumber(r['Value']) : undefined;
    };
    const processed = value('processed');
    t.ok(processed !== undefined && processed > 0, `processed shown (${processed})`);
    t.ok(processed! >= (before.counters['processed'] as number) && processed! <= (after.counters['processed'] as number), 'processed between the API before and after the page');
    const fromDrivers = value('received', 'source=driver');
    t.ok(fromDrivers !== undefined && fromDrivers > 0, `received from drivers shown (${fromDrivers})`);
    if (xssAccepted) t.ok((value('received', 'source=mqtt') ?? 0) >= 1, 'received over MQTT counted');
  });

  t.test('screenshot', async (t) => {
    const file = join(agent.dir, 'status-page.png');
    await page.screenshot({ path: file, fullPage: true });
    const png = readFileSync(file);
    t.ok(isPng(png), 'a PNG file');
    t.ok(png.length > 5000, `not empty (${png.length} bytes)`);
    t.comment(`screenshot: ${file}`);
  });
});

t.test('a degraded agent shows its health and problems prominently', async (t) => {
  // An MQTT forwarder pointed at a port nobody listens on: the agent is up but degraded.
  const deadPort = await refusedPort();
  const agent = await startAgent({
    config: {
      drivers: [{ type: 'sim-pmu', id: 'pmu1', rate: 10, count: 1 }],
      forwarders: [{ type: 'mqtt', id: 'central', url: `mqtt://127.0.0.1:${deadPort}`, reconnectMinMs: 100, reconnectMaxMs: 1000, connectTimeoutMs: 2000 }],
    },
  });
  t.teardown(() => agent.stop('SIGKILL'));
  const api = await waitFor('health degraded in /api/v1/status', async () => {
    const s = await status(agent);
    return s.health === 'degraded' && s.devices.length > 0 ? s : null;
  });
  const page = await openPage(t, `${agent.httpUrl}/`);
  const snap = await waitFor('a degraded page with its problems', async () => {
    const s = await snapshot(page);
    if (s.health === 'degraded' && s.problems.length > 0) return s;
    await page.reload({ waitUntil: 'load' });
    return null;
  });
  t.equal(snap.health, 'degraded');
  t.match(snap.title, /degraded/);
  t.ok(snap.problems.some((p) => p.includes('forwarder central is not connected')), `the problem is listed: ${JSON.stringify(snap.problems)}`);
  t.ok(api.problems.some((p) => p.includes('forwarder central')), 'the API agrees');
  t.not(snap.healthBackground, TRANSPARENT, `the degraded badge has a background (${snap.healthBackground})`);
  const fwd = records(snap.tables['Forwarders'], 'forwarders');
  t.equal(fwd[0]?.['Forwarder'], 'central');
  t.equal(fwd[0]?.['Connected'], 'no');
  const file = join(agent.dir, 'status-page-degraded.png');
  await page.screenshot({ path: file, fullPage: true });
  t.ok(isPng(readFileSync(file)), 'degraded screenshot is a PNG');
  t.comment(`screenshot: ${file}`);
});

/** A cell of a record by its column header (a missing column is an error, not undefined). */
function cell(r: Record<string, string>, name: string): string {
  const v = r[name];
  if (v === undefined) throw new Error(`no column "${name}" in ${JSON.stringify(Object.keys(r))}`);
  return v;
}
