/**
 * The live page of a real agent with 200 devices (a sim-pmu driver of 200 feeders) and a Modbus
 * meter nobody answers, in Debian's Chromium, for what a technician commissioning it sees first:
 *
 * - the meter, stale without ever sending a value, has its card first, marked "⚠ stale" as soon as
 *   the page has drawn (not only from the next status read, 5 s later);
 * - the health section's driver table keeps the feeder driver's row short: its 200 devices fold into
 *   "200 devices" that opens from the keyboard to the whole list in natural order, and stays open
 *   (and focused) when the section is drawn again from the next status read;
 * - on a 390 px phone a health table scrolled sideways stays where the reader left it, and focused,
 *   when the section is drawn again;
 * - a medium-voltage meter's card (11.5 kV, 1.2 kA, -12 MW per phase) shows every per-phase value,
 *   the power factor included, within its card from a desktop to a phone (no column cut off);
 * - the status without script names 8 of the feeder driver's devices and counts the other 192.
 */
import t from 'tap';
import mqtt from 'mqtt';
import type { AgentStatus } from '../../agent/core/status-types.js';
import { getJson, startAgent } from '../helpers/agent-process.js';
import { refusedPort } from '../helpers/ports.js';
import { card, livePage, text } from './live-page-harness.js';

const WAIT_MS = 30_000;
const { openPage, ready, waitFor } = livePage(t, WAIT_MS);

t.test('200 devices and a meter that never answered', async (t) => {
  const port = await refusedPort();
  const agent = await startAgent({
    config: {
      drivers: [
        { type: 'sim-pmu', id: 'feeder', rate: 1, count: 200 },
        // Nobody answers: stale after 3 × 500 ms without a value.
        { type: 'modbus', id: 'meter-x', tcp: `127.0.0.1:${port}`, unit: 1, interval: 500, reconnectMinMs: 200, reconnectMaxMs: 500, registers: [{ field: 'v.a.mag', function: 'input', address: 0, type: 'f32' }] },
      ],
    },
  });
  t.teardown(() => agent.stop('SIGKILL'));
  await waitFor('meter-x stale and never seen, and 200 feeders, in /api/v1/status', async () => {
    const s = await getJson<AgentStatus>(`${agent.httpUrl}/api/v1/status`);
    return s.staleDevices?.some((h) => h.device === 'meter-x' && !h.seen) && (s.devicesTotal ?? 0) >= 200;
  });
  const errors: string[] = [];
  const page = await openPage(t, `${agent.httpUrl}/`, 1280, errors, { consoleErrors: true });
  await ready(page);

  t.test('the meter that never sent a value is marked stale from the first status read', async (t) => {
    // Read at once: the page has drawn its cards from its first status read, the next comes 5 s later.
    const r = (await page.evaluate(`(() => {
      const first = document.querySelector('#devices-body article.card');
      const meter = document.querySelector('#devices article[data-device="meter-x"]');
      return { first: first && first.dataset.device, header: meter ? meter.querySelector('header').textContent : '' };
    })()`)) as { first: string; header: string };
    t.equal(r.first, 'meter-x', 'its card comes first');
    t.match(r.header, /✖ no data since start/, `it says it has sent nothing (${r.header})`);
    t.match(r.header, /⚠ stale/, 'and that it is stale, as the status says');
  });

  t.test("health: the driver of 200 devices keeps a short row; the list opens from the keyboard and stays open", async (t) => {
    const list = '#health-body details.devlist[data-plugin="drivers/feeder"]';
    await page.waitForSelector(list, { state: 'attached', timeout: WAIT_MS });
    t.equal(await text(page, `${list} summary`), '200 devices', 'the summary counts them');
    const rowHeight = (await page.evaluate(`document.querySelector('${list}').closest('tr').getBoundingClientRect().height`)) as number;
    t.ok(rowHeight < 100, `the feeder row is ${Math.round(rowHeight)} px tall (under 100)`);
    const meterRow = (await page.evaluate(`(() => {
      const row = [...document.querySelectorAll('#health-body tr')].find((tr) => tr.cells[0] && tr.cells[0].textContent === 'meter-x');
      return row ? row.textContent : '';
    })()`)) as string;
    t.match(meterRow, /meter-x.*meter-x/, `a driver of one device lists it (${meterRow.slice(0, 60)}…)`);
    t.notOk(await page.isVisible(`${list} .wrap`), 'the names are folded');

    await page.focus(`${list} summary`);
    await page.keyboard.press('Enter');
    await waitFor('the list open', async () => page.isVisible(`${list} .wrap`));
    const names = (await text(page, `${list} .wrap`)).split(', ');
    t.equal(names.length, 200, 'every device is listed');
    t.same(names.slice(0, 11), Array.from({ length: 11 }, (_, k) => `feeder-${k + 1}`), 'in natural order (feeder-2 before feeder-10)');
    t.equal(names[199], 'feeder-200', 'the last one last');

    // The section is drawn anew from every status read (every 5 s): wait for the next one.
    await page.evaluate(`document.querySelector('#health-body').firstElementChild.__mark = 1`);
    await waitFor('the health section drawn again', async () => (await page.evaluate(`document.querySelector('#health-body').firstElementChild.__mark`)) === undefined);
    t.ok(await page.isVisible(`${list} .wrap`), 'the list is still open');
    t.equal(await page.evaluate(`document.activeElement && document.activeElement.matches('${list} summary')`), true, 'and its summary still has the focus');
    await page.keyboard.press('Enter');
    await waitFor('the list closed again', async () => !(await page.isVisible(`${list} .wrap`)));
    t.pass('Enter closes it again');
  });

  t.test('health on a 390 px phone: a table scrolled sideways stays scrolled, and focused, over the redraw', async (t) => {
    const phone = await openPage(t, `${agent.httpUrl}/`, 390, errors, { consoleErrors: true });
    await ready(phone);
    const drivers = `#health-body .scroll[aria-label="drivers"]`;
    await phone.waitForSelector(drivers, { timeout: WAIT_MS });
    const w = (await phone.evaluate(`(() => { const r = document.querySelector('${drivers}'); return { scroll: r.scrollWidth, client: r.clientWidth }; })()`)) as { scroll: number; client: number };
    t.ok(w.scroll > w.client + 100, `the drivers' table is wider than the phone (${w.scroll} > ${w.client} px): it scrolls sideways`);
    // As a reader would: focus the table (Tab) and scroll it (arrow keys) to the columns on the right.
    await phone.focus(drivers);
    await phone.evaluate(`document.querySelector('${drivers}').scrollLeft = 100`);
    await phone.evaluate(`document.querySelector('#health-body').firstElementChild.__mark = 1`);
    await waitFor('the health section drawn again', async () => (await phone.evaluate(`document.querySelector('#health-body').firstElementChild.__mark`)) === undefined);
    t.equal(await phone.evaluate(`document.querySelector('${drivers}').scrollLeft`), 100, 'the table is still scrolled to where the reader left it');
    t.equal(await phone.evaluate(`document.activeElement && document.activeElement.matches('${drivers}')`), true, 'and still has the focus');
  });

  t.test("a card's per-phase values all in view at any width (a medium-voltage meter's wide values)", async (t) => {
    const client = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'wide-values' });
    t.teardown(() => client.end(true));
    const ph = (mag: number, ang: number) => ({ mag, ang });
    const three = (x: number) => ({ a: x, b: x, c: x, total: 3 * x });
    // 11.5 kV phase voltages and 1.2 kA in the third quadrant: the widest values a card shows.
    const m = {
      ts: Date.now() * 1000,
      quality: 'good',
      v: { a: ph(11547.1, -179.9), b: ph(11547.1, -119.9), c: ph(11547.1, -159.9) },
      i: { a: ph(1234.5, -179.9), b: ph(1234.5, -179.9), c: ph(1234.5, -179.9) },
      p: three(-12.345e6),
      q: three(-243.8e3),
      s: three(12.35e6),
      pf: { a: -0.95, b: -0.95, c: -0.95, total: -0.95 },
    };
    await client.publishAsync('bal/raw/mv-meter', JSON.stringify(m), { qos: 1 });
    const view = await openPage(t, `${agent.httpUrl}/`, 1280, errors, { consoleErrors: true });
    await ready(view);
    await view.fill('#device-filter', 'mv-meter');
    const region = `${card('mv-meter')} .scroll`;
    await view.waitForSelector(region, { timeout: WAIT_MS });
    // A desktop with two columns of cards, one column, a tablet, a phone held sideways and upright.
    for (const width of [1280, 1200, 1024, 700, 640, 600, 390]) {
      await view.setViewportSize({ width, height: 900 });
      const r = (await view.evaluate(`(() => {
        const box = document.querySelector('${region}');
        const last = [...box.querySelectorAll('tbody tr:first-child td')].pop();
        return { scroll: box.scrollWidth, client: box.clientWidth, lastRight: last.getBoundingClientRect().right, boxRight: box.getBoundingClientRect().right, last: last.textContent };
      })()`)) as { scroll: number; client: number; lastRight: number; boxRight: number; last: string };
      t.ok(r.scroll <= r.client + 1 && r.lastRight <= r.boxRight + 1, `${width} px: the values fit their card (table ${r.scroll} px in ${r.client}; "${r.last}" ends at ${Math.round(r.lastRight)} <= ${Math.round(r.boxRight)})`);
    }
    t.match(await text(view, card('mv-meter')), /-0\.950/, 'the power factor is shown');
  });

  t.test('the status without script: the driver of 200 devices names a few and counts the rest', async (t) => {
    const plain = await (await fetch(`${agent.httpUrl}/`)).text();
    const row = /<tr><td class="l">feeder<\/td>[\s\S]*?<\/tr>/.exec(plain)?.[0] ?? '';
    t.ok(row, "the feeder driver's row is in the page");
    const named = row.match(/feeder-\d+/g) ?? [];
    t.equal(named.length, 8, `8 devices named (${named.join(', ')})`);
    t.match(row, /and 192 more/, 'and the rest counted');
    const meter = /<tr><td class="l">meter-x<\/td>[\s\S]*?<\/tr>/.exec(plain)?.[0] ?? '';
    t.match(meter, /meter-x \(stale\)/, 'a driver of one stale device names it, marked stale');
  });

  t.test('no exceptions or console errors', async (t) => {
    t.same(errors, []);
  });
});
