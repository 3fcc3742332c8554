/**
 * The live page (`GET /`) of the real agent in Debian's Chromium (playwright-core): two simulated
 * PMUs, a meter with values beyond the electrical ones, and the state estimator on the CIGRE MV
 * network (CGMES with its DiagramLayout) fed with a full measurement set from our power flow of
 * that network. It checks what a person sees: live values that change, plots drawn on their canvas,
 * every bus of the network with its estimated voltage as text, bus details by mouse and keyboard,
 * schedule plots, markup in a value shown as text, no console errors, nothing wider than a 390 px
 * phone; and, with `http.users`, the login form first and a viewer refused a change (403).
 * Screenshots (desktop and 390 px) are written to the agent's temporary folder and named in the output.
 */
import t, { type Test } from 'tap';
import mqtt from 'mqtt';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { loadNetwork } from '../../algorithms/grid/load.js';
import { injections, voltages } from '../../algorithms/grid/model.js';
import { runPowerFlow } from '../../algorithms/grid/powerflow.js';
import { repoRoot, startAgent, type AgentProcess } from '../helpers/agent-process.js';
import { livePage } from './live-page-harness.js';

const WAIT_MS = 60_000;
t.setTimeout(600_000);

const CIGRE = join(repoRoot(), 'test', 'gridstate', 'fixtures', 'cigre-mv');
const SCHEDULE_INPUT = JSON.parse(readFileSync(join(repoRoot(), 'test', 'scheduler', 'fixtures', 'scheduling_rule_based.json'), 'utf8')) as object;
const MARKUP = '<img src=x onerror="window.__xss=1">';
const SCRIPT = '<script>window.__xss=2</script>';
/** The plots' "mean" series colour (plots.ts). */
const SERIES_RGB = [11, 87, 164];

const { openPage: openLivePage, ready, waitFor, browser } = livePage(t, WAIT_MS);
/** Pages here also record console errors. */
const openPage = (t: Test, url: string, width: number, errors: string[]): Promise<Page> => openLivePage(t, url, width, errors, { consoleErrors: true });

// The CIGRE MV network solved by our power flow; vm and P, Q injections at every energised bus
// make every bus observable, so the estimate equals the power flow.
const net = loadNetwork(CIGRE);
const pf = runPowerFlow(net);
const model = pf.model;
const v = voltages(pf.vm, pf.va);
const n = model.n;
const [p, q, iRe, iIm] = [new Float64Array(n), new Float64Array(n), new Float64Array(n), new Float64Array(n)];
injections(model, v.re, v.im, p, q, iRe, iIm);
const seMeasurements: { type: string; bus: number; value: number; sigma: number }[] = [];
for (let i = 0; i < n; i++) {
  if (!model.energized[i]) continue;
  const bus = model.busIds[i]!;
  seMeasurements.push({ type: 'vm', bus, value: pf.vm[i]!, sigma: 0.004 }, { type: 'p_inj', bus, value: p[i]!, sigma: 0.01 }, { type: 'q_inj', bus, value: q[i]!, sigma: 0.01 });
}
const vmByBus = new Map(pf.buses.map((b) => [b.bus, b.vm]));
const estimatorConfig = {
  network: CIGRE,
  intervalS: 0.5,
  maxAgeS: 3600,
  measurements: seMeasurements.map((m, k) => ({ device: 'scada', field: `m${k}`, type: m.type, bus: m.bus, sigma: m.sigma })),
};
const scadaValues = Object.fromEntries(seMeasurements.map((m, k) => [`m${k}`, m.value]));


/**
 * The little of the browser's DOM the functions run in the page use. The tests are compiled without
 * the DOM library (only the page's own modules are, agent/http/page/client/tsconfig.json).
 */
interface PageCanvas {
  width: number;
  height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } } | null;
}
interface PageGlobals {
  document: { querySelectorAll(selector: string): Iterable<PageCanvas> };
}

/** Count the canvas pixels of the given colour (± 8 per channel) under `selector`, in the page. */
function seriesPixels(page: Page, selector: string, rgb = SERIES_RGB): Promise<number> {
  return page.evaluate(
    ([sel, c]) => {
      let count = 0;
      for (const canvas of (globalThis as unknown as PageGlobals).document.querySelectorAll(sel)) {
        const ctx = canvas.getContext('2d');
        if (!ctx || !canvas.width || !canvas.height) continue;
        const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
        for (let k = 0; k < d.length; k += 4) if (d[k + 3]! > 200 && Math.abs(d[k]! - c[0]!) <= 8 && Math.abs(d[k + 1]! - c[1]!) <= 8 && Math.abs(d[k + 2]! - c[2]!) <= 8) count++;
      }
      return count;
    },
    [selector, rgb] as const,
  );
}

/**
 * A screenshot of the whole page: the viewport is first made as tall as the page (a full-page
 * capture resizes it, and the plots redraw their canvases on a resize), and when `plots` names
 * canvases the capture waits until their series are drawn again.
 */
async function screenshot(t: Test, page: Page, agent: AgentProcess, name: string, plots?: string): Promise<void> {
  const file = join(agent.dir, `${name}.png`);
  const width = page.viewportSize()!.width;
  await page.setViewportSize({ width, height: (await page.evaluate('document.documentElement.scrollHeight')) as number });
  if (plots) await waitFor(`the plots (${plots}) drawn for the screenshot`, async () => (await seriesPixels(page, plots)) >= 20, 30_000);
  await page.screenshot({ path: file, fullPage: true });
  await page.setViewportSize({ width, height: 900 });
  const png = readFileSync(file);
  t.ok(png.length > 10_000, `screenshot ${name} written (${png.length} bytes)`);
  t.comment(`screenshot: ${file}`);
}

t.test('the live page of an agent with PMUs, a meter and the estimator on CIGRE MV', async (t) => {
  const agent = await startAgent({ config: { drivers: [{ type: 'sim-pmu', id: 'pmu1', rate: 10, count: 2 }], estimator: estimatorConfig } });
  t.teardown(() => agent.stop('SIGKILL'));
  const client = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'page-test' });
  t.teardown(() => client.end(true));
  await client.publishAsync('bal/raw/scada', JSON.stringify({ ts: Date.now() * 1000, quality: 'good', ...scadaValues }), { qos: 1 });
  const meter = { ts: Date.now() * 1000, quality: 'questionable', soc: 53.2, breaker: { q1: true }, mode: 'auto', note: MARKUP, label: SCRIPT, field_quality: { soc: 'questionable' } };
  await client.publishAsync('bal/raw/meter9', JSON.stringify(meter), { qos: 1 });
  await waitFor('an estimate of the CIGRE MV network', async () => {
    const r = await fetch(`${agent.httpUrl}/api/v1/estimator/state`);
    return r.ok && ((await r.json()) as { status: string }).status === 'estimated';
  });

  const errors: string[] = [];
  const page = await openPage(t, `${agent.httpUrl}/`, 1280, errors);
  await ready(page);

  t.test('devices: live values that change, values beyond the electrical ones, quality as text', async (t) => {
    const card = (d: string) => `#devices article[data-device="${d}"]`;
    await page.waitForSelector(card('pmu1-2'), { timeout: WAIT_MS });
    const read = () => page.$eval(card('pmu1-1'), (e) => e.textContent ?? '');
    // The values (per-phase table and the list below it), not the age in the card's header.
    const values = () => page.$eval(card('pmu1-1'), (e) => [...e.querySelectorAll('tbody, dl')].map((x) => x.textContent).join('|'));
    const first = await read();
    const firstValues = await values();
    t.match(first, /f \(Hz\)\s*(49|50)\.\d{3}/, 'frequency shown');
    t.match(first, /✓ good/, 'quality as symbol and word');
    const header = await page.$$eval(`${card('pmu1-1')} th`, (ths) => ths.map((h) => h.textContent));
    t.same(header, ['Phase', 'V (V)', 'I (A)', 'P', 'Q', 'S', 'PF'], 'per-phase columns');
    const rows = await page.$$eval(`${card('pmu1-1')} tbody tr`, (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    t.same(rows.map((r) => r[0]), ['a', 'b', 'c', 'total'], 'phases a, b, c and the total');
    t.match(rows[0]![1], /^2\d\d\.\d∠-?\d+\.\d°$/, `V a as magnitude∠angle (${rows[0]![1]})`);
    t.match(rows[3]![3], /^\d+(\.\d+)? kW$/, `P total in kW (${rows[3]![3]})`);
    const changed = await waitFor('the values of pmu1-1 to change on the page (live updates)', async () => {
      const now = await values();
      return now !== firstValues ? now : undefined;
    }, 20_000);
    t.not(changed, firstValues, 'the values of pmu1-1 changed without a reload');

    const meterText = await page.$eval(card('meter9'), (e) => e.textContent ?? '');
    t.match(meterText, /⚠ questionable/, 'the meter is questionable, said in words');
    const meterValues = await page.$$eval(`${card('meter9')} dl.values dt`, (dts) => dts.map((dt) => [dt.textContent, dt.nextElementSibling?.textContent]));
    const byPath = Object.fromEntries(meterValues) as Record<string, string>;
    t.equal(byPath['soc'], '53.20⚠ questionable', 'soc with its own field quality');
    t.equal(byPath['breaker.q1'], 'true', 'a breaker position by its dotted path');
    t.equal(byPath['mode'], 'auto', 'a mode string');
    t.equal(byPath['note'], MARKUP, 'markup in a value is shown as text');
    t.equal(byPath['label'], SCRIPT, 'so is a script tag');
    t.equal(await page.evaluate('typeof window.__xss'), 'undefined', 'nothing ran');
    t.equal(await page.locator('#devices img, #devices script').count(), 0, 'no element made from a value');
  });

  t.test('plots: uPlot canvases drawn from the live data', async (t) => {
    await page.waitForSelector('#plots figure[data-device="pmu1-1"] canvas', { timeout: WAIT_MS });
    const px = await waitFor('the p.total line of pmu1-1 drawn on its canvas', async () => {
      const k = await seriesPixels(page, '#plots figure[data-device="pmu1-1"] canvas');
      return k >= 20 ? k : undefined;
    }, 30_000);
    t.ok(px >= 20, `${px} pixels of the series colour on the canvas`);
    t.ok(await page.$eval('#plot-field', (s) => Array.from((s as unknown as { options: ArrayLike<{ value: string }> }).options).some((o) => o.value === 'freq')), 'other fields can be chosen (freq)');
    await page.selectOption('#plot-field', 'freq');
    const fpx = await waitFor('the freq plot of pmu1-1 drawn', async () => {
      const title = await page.$eval('#plots figure[data-device="pmu1-1"] .u-title', (e) => e.textContent).catch(() => '');
      const k = title === 'pmu1-1: freq (Hz)' ? await seriesPixels(page, '#plots figure[data-device="pmu1-1"] canvas') : 0;
      return k >= 20 ? k : undefined;
    }, 30_000);
    t.ok(fpx >= 20, 'the chosen field is plotted');
    await page.selectOption('#plot-field', 'p.total');
    await page.click('#plots button[data-range="60"]');
    t.equal(await page.getAttribute('#plots button[data-range="60"]', 'aria-pressed'), 'true', 'the range buttons say which is chosen');
  });

  t.test('network: every bus of CIGRE MV with its estimated voltage as text; details by click and Enter', async (t) => {
    await page.waitForSelector('#network svg g.bus', { timeout: WAIT_MS });
    const count = await page.locator('#network svg g.bus').count();
    t.equal(count, net.buses.length, `${net.buses.length} bus nodes`);
    const shown = await waitFor('every bus labelled with its estimated voltage', async () => {
      const list = await page.$$eval('#network svg g.bus', (gs) =>
        gs.map((g) => ({ bus: Number(g.getAttribute('data-bus')), value: g.querySelector('text:last-of-type')?.textContent ?? '', fill: g.querySelector('circle')?.getAttribute('fill') ?? '' })),
      );
      return list.every((b) => / pu$/.test(b.value)) ? list : undefined;
    });
    for (const b of shown) {
      const want = vmByBus.get(b.bus)!;
      t.ok(Math.abs(parseFloat(b.value) - want) < 0.0015, `bus ${b.bus}: ${b.value} (power flow ${want.toFixed(4)} pu)`);
      t.not(b.fill, '#c8c8c8', `bus ${b.bus} filled by its voltage band`);
    }
    t.same(new Set(shown.map((b) => b.bus)), new Set(net.buses.map((b) => b.bus)), 'the buses of the case, by number');
    await page.click('#network g.bus[data-bus="5"]');
    t.match(await page.textContent('#network .details'), /Bus 5/, 'a click shows the bus details');
    await page.focus('#network g.bus[data-bus="7"]');
    await page.keyboard.press('Enter');
    const details = (await page.textContent('#network .details')) ?? '';
    t.match(details, /Bus 7/, 'Enter on a focused bus shows its details');
    t.match(details, /kV/, 'with its voltage in kV');
  });

  t.test('schedules: a battery schedule as power and SoC plots', async (t) => {
    const r = await fetch(`${agent.httpUrl}/api/v1/optimizations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(SCHEDULE_INPUT) });
    t.equal(r.status, 202);
    const { id } = (await r.json()) as { id: string };
    await waitFor(`job ${id} to succeed`, async () => {
      const j = await fetch(`${agent.httpUrl}/api/v1/optimizations/${id}`);
      return j.ok && ((await j.json()) as { status: string }).status === 'success';
    });
    await page.click('#schedules button:has-text("Refresh")');
    const sel = `#schedules [data-job="${id}"] canvas`;
    await page.waitForSelector(sel, { timeout: WAIT_MS });
    t.equal(await page.locator(`#schedules [data-job="${id}"] figure`).count(), 2, 'a power plot and a SoC plot');
    const px = await waitFor('the schedule drawn', async () => {
      const k = await seriesPixels(page, sel);
      return k >= 20 ? k : undefined;
    });
    t.ok(px >= 20, `the first battery's series drawn (${px} pixels)`);
  });

  t.test('health: plugins, buffer and counters with the catalogue help texts', async (t) => {
    const text = (await page.textContent('#health-body')) ?? '';
    t.match(text, /sim-pmu/, 'the driver');
    t.match(text, /estimator/, 'the analyzer');
    t.match(text, /buffer\.db/, 'the buffer file');
    const catalogue = (await (await fetch(`${agent.httpUrl}/api/v1/counters`)).json()) as { metrics: Record<string, { help: string }> };
    t.ok(text.includes(catalogue.metrics['processed']!.help), 'the counter "processed" with its help text from the catalogue');
    t.match(await page.textContent('#health-badge'), /healthy|degraded/, 'the health badge');
  });

  t.test('desktop screenshot, and no console errors', async (t) => {
    await screenshot(t, page, agent, 'live-page-desktop', '#plots canvas');
    t.same(errors, [], 'no console errors or exceptions');
  });

  t.test('a 390 px phone: nothing runs past the right edge', async (t) => {
    const phoneErrors: string[] = [];
    const phone = await openPage(t, `${agent.httpUrl}/`, 390, phoneErrors);
    await ready(phone);
    await phone.waitForSelector('#devices article[data-device="pmu1-1"] table', { timeout: WAIT_MS });
    await phone.waitForSelector('#network svg g.bus', { timeout: WAIT_MS });
    await waitFor('the p.total plot of pmu1-1 drawn on the phone (from live updates)', async () => (await seriesPixels(phone, '#plots figure[data-device="pmu1-1"] canvas')) >= 20, 30_000);
    const width = await phone.evaluate('document.documentElement.scrollWidth');
    t.ok((width as number) <= 390, `document width ${width} px <= 390 px`);
    await screenshot(t, phone, agent, 'live-page-390px', '#plots canvas');
    t.same(phoneErrors, [], 'no console errors');
    // Keyboard: the first Tab reaches the skip link, focus is drawn.
    await phone.keyboard.press('Tab');
    t.equal(await phone.evaluate('document.activeElement && document.activeElement.className'), 'skip', 'Tab starts at the skip link');
    const outline = await phone.evaluate('getComputedStyle(document.activeElement).outlineStyle');
    t.not(outline, 'none', 'the focused element has a visible outline');
  });

  t.test('without JavaScript: the server-rendered status, reloading itself, within 390 px', async (t) => {
    const ctx = await browser().newContext({ javaScriptEnabled: false, viewport: { width: 390, height: 900 } });
    t.teardown(() => ctx.close().catch(() => undefined));
    const plain = await ctx.newPage();
    await plain.goto(`${agent.httpUrl}/`, { waitUntil: 'load', timeout: WAIT_MS });
    t.ok(await plain.isVisible('#static-status'), 'the status sections are shown');
    t.notOk(await plain.isVisible('#devices'), 'the live sections are not');
    const devices = await plain.$$eval('#static-status table tr td:first-child b', (bs) => bs.map((b) => b.textContent));
    t.ok(['meter9', 'pmu1-1', 'pmu1-2'].every((d) => devices.includes(d)), `the devices table lists the devices (${devices.join(', ')})`);
    t.equal(await plain.locator('noscript').count(), 1, 'a refresh for script-less browsers');
    const width = await plain.evaluate('document.documentElement.scrollWidth');
    t.ok((width as number) <= 390, `document width ${width} px <= 390 px (wide tables scroll in place)`);
    await screenshot(t, plain, agent, 'live-page-no-js-390px');
  });
});

t.test('with http.users: the login form first, and a viewer cannot submit an optimisation', async (t) => {
  const agent = await startAgent({
    config: {
      drivers: [{ type: 'sim-pmu', id: 'pmu1', rate: 10, count: 1 }],
      http: { host: '0.0.0.0', users: [{ username: 'view', password: 'view-pw', role: 'viewer' }] },
      mqtt: { websocket: { enabled: false } },
    },
  });
  t.teardown(() => agent.stop('SIGKILL'));
  const errors: string[] = [];
  const page = await openPage(t, `${agent.httpUrl}/`, 390, errors);
  t.match(page.url(), /\/login$/, 'the page sends a visitor without a session to the login form');
  t.equal(await page.locator('input[name=username]').count(), 1, 'a user field');
  t.equal(await page.locator('input[type=password]').count(), 1, 'a password field');
  const asset = await fetch(`${agent.httpUrl}/assets/js/agent/http/page/client/main.js`);
  t.equal(asset.status, 401, 'the page files need a session too');
  const events = await fetch(`${agent.httpUrl}/api/v1/events`);
  t.equal(events.status, 401, 'so do the live events');

  await page.fill('input[name=username]', 'view');
  await page.fill('input[type=password]', 'view-pw');
  await Promise.all([page.waitForURL(`${agent.httpUrl}/`, { timeout: WAIT_MS }), page.click('button[type=submit]')]);
  await ready(page);
  await page.waitForSelector('#devices article[data-device="pmu1"]', { timeout: WAIT_MS });
  t.match(await page.textContent('header .user'), /view \(viewer\)/, 'the user and role in the header');
  const refused = await page.request.post(`${agent.httpUrl}/api/v1/optimizations`, { data: SCHEDULE_INPUT, headers: { 'content-type': 'application/json' } });
  t.equal(refused.status(), 403, 'a viewer submitting an optimisation: 403');
  t.match(await refused.json(), { status: 403, detail: /view is viewer; this needs operator/ });
  // The login page declares an empty icon, so the browser asks for no /favicon.ico without a session.
  t.same(errors, [], 'no console errors, on the login page either');
  await Promise.all([page.waitForURL(/\/login$/, { timeout: WAIT_MS }), page.click('#logout')]);
  t.pass('Log out leads back to the login form');
  const again = await page.request.get(`${agent.httpUrl}/api/v1/status`);
  t.equal(again.status(), 401, 'the session is gone');
});
