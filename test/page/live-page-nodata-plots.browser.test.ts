/**
 * The live page of the real agent in Debian's Chromium, for what a technician looks for first:
 *
 * - devices a driver expects that never sent a value have a card saying "no data since start" with
 *   the driver and its type (two Modbus meters nobody answers: one stale, first among the cards, one
 *   without a stale threshold; the status without script lists both), and the card shows the values
 *   once the meter answers;
 * - the plots follow the devices' order and filter: the first 6 of 12 feeders in natural order
 *   (feeder-2 before feeder-10), a line saying how many more have the field, the "Find a device" box
 *   narrows them (a plot that stays is kept, not drawn again); or the devices picked with "Plot" on
 *   their cards, remembered over a reload (with the field plotted), until "Unpick all".
 */
import t from 'tap';
import type { Page } from 'playwright-core';
import type { AgentStatus } from '../../agent/core/status-types.js';
import { getJson, startAgent } from '../helpers/agent-process.js';
import { refusedPort } from '../helpers/ports.js';
import { Registers, startTcpServer } from '../modbus/server.js';
import { card, livePage, text } from './live-page-harness.js';

const WAIT_MS = 30_000;
const { openPage, ready, waitFor } = livePage(t, WAIT_MS);

const meter = (id: string, port: number, extra: Record<string, unknown>) => ({
  type: 'modbus',
  id,
  tcp: `127.0.0.1:${port}`,
  unit: 1,
  registers: [{ field: 'v.a.mag', function: 'input', address: 0, type: 'f32' }],
  reconnectMinMs: 200,
  reconnectMaxMs: 500,
  ...extra,
});

const cardNames = (page: Page) => page.$$eval('#devices-body article.card', (cs) => cs.map((c) => c.getAttribute('data-device') ?? ''));
const plotNames = (page: Page) => page.$$eval('#plots-body figure.plot', (fs) => fs.map((f) => f.getAttribute('data-device') ?? ''));

t.test('devices without data get a card; plots follow the order and the filter', async (t) => {
  const stalePort = await refusedPort();
  const laterPort = await refusedPort();
  const agent = await startAgent({
    config: {
      drivers: [
        { type: 'sim-pmu', id: 'feeder', rate: 1, count: 12 },
        // Nobody answers: stale after 3 × 500 ms without a value.
        meter('meter-a', stalePort, { interval: 500 }),
        // Nobody answers yet; no stale mark for an hour.
        meter('meter-b', laterPort, { interval: 500, staleAfterMs: 3_600_000 }),
      ],
    },
  });
  t.teardown(() => agent.stop('SIGKILL'));
  const errors: string[] = [];
  const page = await openPage(t, `${agent.httpUrl}/`, 1280, errors, { consoleErrors: true });
  await ready(page);

  t.test('a device that never sent a value has a card saying so, with its driver', async (t) => {
    const s = await waitFor('meter-a stale and never seen in /api/v1/status', async () => {
      const st = await getJson<AgentStatus>(`${agent.httpUrl}/api/v1/status`);
      return st.staleDevices?.some((h) => h.device === 'meter-a' && !h.seen) ? st : undefined;
    });
    t.notOk(s.devices.some((d) => d.device === 'meter-a' || d.device === 'meter-b'), 'neither meter has a value in the status');
    t.notOk(s.staleDevices?.some((h) => h.device === 'meter-b'), 'meter-b is not stale (its threshold is an hour)');
    const header = await waitFor('the card of meter-a marked stale', async () => {
      const h = await text(page, `${card('meter-a')} header`).catch(() => '');
      return /stale/.test(h) ? h : undefined;
    });
    t.match(header, /✖ no data since start/, `meter-a says it has sent nothing (${header})`);
    t.match(header, /waiting \d/, 'and how long it has waited');
    t.match(await text(page, card('meter-a')), /Expected from driver meter-a \(modbus\), which has sent no value of it since it started/, 'with its driver and type');
    const b = await text(page, card('meter-b'));
    t.match(b, /✖ no data since start/, 'meter-b too, without a stale threshold');
    t.notMatch(b, /⚠ stale/, 'but not marked stale');
    const names = await cardNames(page);
    t.same(names.slice(0, 2), ['meter-a', 'meter-b'], 'the devices without data come first (problems first)');
    t.ok(names.includes('feeder-12'), 'the feeders have their cards too');
    t.notOk(await page.isVisible(`${card('meter-a')} table`), 'no table of values for a device without any');
    // The status for browsers without script names both too (not only the stale one).
    const plain = await (await fetch(`${agent.httpUrl}/`)).text();
    t.match(plain, /No value since the driver started: meter-a \(driver meter-a, stale\), meter-b \(driver meter-b\)/, 'the page without script lists both');
  });

  t.test('when the device answers, its card shows the values', async (t) => {
    const regs = new Registers();
    regs.set(1, 'input', 0, 231.5, 'f32', 'ABCD');
    const server = await startTcpServer(regs, laterPort);
    t.teardown(() => server.close());
    await waitFor("meter-b's card to show its voltage", async () => /231\.5/.test(await text(page, card('meter-b')).catch(() => '')));
    const b = await text(page, card('meter-b'));
    t.notMatch(b, /no data since start/, `the "no data" line is gone (${b})`);
    t.match(b, /age \d/, 'an age instead of the waiting time');
  });

  t.test('plots: the first 6 by natural order, narrowed by the filter box', async (t) => {
    const first = await waitFor('six plots', async () => {
      const n = await plotNames(page);
      return n.length === 6 ? n : undefined;
    });
    t.same(first, ['feeder-1', 'feeder-2', 'feeder-3', 'feeder-4', 'feeder-5', 'feeder-6'], 'in natural order by name, not feeder-10 after feeder-1');
    t.equal(await text(page, '#plots figure[data-device="feeder-1"] .u-title'), 'feeder-1: p.total (W)', 'the title says the unit (the axis has plain numbers)');
    t.match(await text(page, '#plots-note'), /12 devices have p\.total; the first 6 by name are plotted/, 'the page says more have the field');
    await page.waitForSelector('#plots figure[data-device="feeder-1"] canvas', { timeout: WAIT_MS });
    await page.evaluate(`document.querySelector('#plots figure[data-device="feeder-1"]').__mark = 1`);

    await page.fill('#device-filter', 'feeder-1');
    const ones = await waitFor('the plots of feeder-1 and feeder-10 … 12', async () => {
      const n = await plotNames(page);
      return n.length === 4 ? n : undefined;
    });
    t.same(ones, ['feeder-1', 'feeder-10', 'feeder-11', 'feeder-12'], 'the devices the filter matches, in natural order');
    t.equal(await page.evaluate(`document.querySelector('#plots figure[data-device="feeder-1"]').__mark`), 1, "feeder-1's plot was kept, not drawn again");
    t.match(await text(page, '#plots-note'), /Plotting the devices whose name holds “feeder-1”/, 'the note names the filter');

    await page.fill('#device-filter', 'FEEDER-12');
    await waitFor('only feeder-12 plotted', async () => JSON.stringify(await plotNames(page)) === '["feeder-12"]');
    await page.fill('#device-filter', 'meter');
    await waitFor('no plot and a line saying why', async () => (await plotNames(page)).length === 0 && /No device whose name holds “meter” has p\.total/.test(await text(page, '#plots-note')));
    t.pass('a filter matching no device with the field: no plot, and the page says why');
    await page.fill('#device-filter', '');
    await waitFor('six plots again', async () => (await plotNames(page)).length === 6);
  });

  t.test('plots: devices picked with "Plot" on their cards and the field, remembered over a reload, until "Unpick all"', async (t) => {
    await page.click(`${card('feeder-12')} button.pin`);
    await page.click(`${card('feeder-9')} button.pin`);
    const picked = await waitFor('the plots of the two devices picked', async () => {
      const n = await plotNames(page);
      return n.length === 2 ? n : undefined;
    });
    t.same(picked, ['feeder-9', 'feeder-12'], 'only the picked devices, in natural order');
    t.equal(await page.getAttribute(`${card('feeder-9')} button.pin`, 'aria-pressed'), 'true', 'the button says it is pressed');
    t.equal(await page.getAttribute(`${card('feeder-1')} button.pin`, 'aria-pressed'), 'false', 'the others are not');
    t.match(await text(page, '#plots-note'), /Plotting the devices picked with “Plot” on their cards \(2\)/, 'the note says why these');
    await page.selectOption('#plot-field', 'v.a.mag');
    await waitFor("feeder-9's plot of v.a.mag", async () => (await text(page, '#plots figure[data-device="feeder-9"] .u-title').catch(() => '')) === 'feeder-9: v.a.mag (V)');

    await page.reload({ waitUntil: 'load' });
    await ready(page);
    const again = await waitFor('the picked devices plotted after a reload', async () => {
      const n = await plotNames(page);
      return n.length === 2 ? n : undefined;
    });
    t.same(again, ['feeder-9', 'feeder-12'], 'the browser remembers the picks');
    t.equal(await page.inputValue('#plot-field'), 'v.a.mag', 'and the field chosen');
    const title = await waitFor("feeder-9's plot drawn", async () => text(page, '#plots figure[data-device="feeder-9"] .u-title').catch(() => ''));
    t.equal(title, 'feeder-9: v.a.mag (V)', 'the plots show that field');
    await page.selectOption('#plot-field', 'p.total');

    await page.click('#plots-unpick');
    const back = await waitFor('six plots by the filter again', async () => {
      const n = await plotNames(page);
      return n.length === 6 ? n : undefined;
    });
    t.same(back, ['feeder-1', 'feeder-2', 'feeder-3', 'feeder-4', 'feeder-5', 'feeder-6'], '"Unpick all" goes back to the first by name');
    t.equal(await page.getAttribute(`${card('feeder-9')} button.pin`, 'aria-pressed'), 'false', 'and the buttons say so');
    t.notOk(await page.isVisible('#plots-unpick'), 'the button hides when nothing is picked');
  });

  t.test('a plot tells the time as the rest of the page: 24 hours, year-month-day, seconds', async (t) => {
    const over = '#plots figure[data-device="feeder-1"] .u-over';
    await page.waitForSelector(over, { timeout: WAIT_MS });
    await page.hover(over);
    const when = await waitFor('the legend to show the time under the cursor', async () => {
      const v = await text(page, '#plots figure[data-device="feeder-1"] .u-legend .u-series:first-child .u-value').catch(() => '');
      return v && v !== '--' ? v : undefined;
    });
    t.match(when, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/, `the legend's time (${when}), not 3:53pm`);
  });

  t.test("health: a driver's last error is in view beside its state, not past a long list of devices", async (t) => {
    await page.waitForSelector('#health-body table', { timeout: WAIT_MS });
    const r = (await page.evaluate(`(() => {
      const table = [...document.querySelectorAll('#health-body .scroll')].find((b) => b.getAttribute('aria-label') === 'drivers');
      const heads = [...table.querySelectorAll('th')].map((th) => th.textContent);
      const row = [...table.querySelectorAll('tbody tr')].find((tr) => tr.cells[0].textContent === 'meter-a');
      const cell = row.cells[heads.indexOf('Last error')];
      return { heads, error: cell.textContent, right: cell.getBoundingClientRect().right, boxRight: table.getBoundingClientRect().right };
    })()`)) as { heads: string[]; error: string; right: number; boxRight: number };
    t.same(r.heads.slice(0, 4), ['Id', 'Type', 'State', 'Last error'], 'the last error right after the state');
    t.match(r.error, /127\.0\.0\.1/, `meter-a's error (${r.error})`);
    t.ok(r.right <= r.boxRight + 1, `the error cell is inside the visible box (right edge ${Math.round(r.right)} <= ${Math.round(r.boxRight)})`);
  });

  t.test('no exceptions or console errors', async (t) => {
    t.same(errors, []);
  });
});
