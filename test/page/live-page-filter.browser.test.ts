/**
 * The live page asks the event stream only for what it shows, in Debian's Chromium against the real
 * agent (120 simulated feeders, more devices published over MQTT): the stream's `?devices=` names
 * exactly the devices with a card and those plotted; typing in "Find a device" or picking a device
 * for the plots opens a stream for the new set and closes the old one (one stream open again), and
 * the cards shown keep updating; a device that appears later outside the cards shown is still
 * learned by the page (found by the filter box, with its values), and when it turns invalid it moves
 * among the first cards and is followed live; its 12 MW plot reads in MW; a name with a comma and a
 * star is escaped in the address and followed live.
 */
import t from 'tap';
import type { Page } from 'playwright-core';
import { getJson } from '../helpers/agent-process.js';
import { card, livePage, text } from './live-page-harness.js';

const WAIT_MS = 30_000;

const { openPage, ready, waitFor, feeders } = livePage(t, WAIT_MS);

/** The devices named by an event stream's address (none of these test names holds a comma or a star). */
const named = (url: string): string[] => {
  const v = new URL(url).searchParams.get('devices');
  return v === null ? ['(every device)'] : v === '' ? [] : v.split(',').sort();
};

/** What the page shows: the devices with a card and those plotted. */
const shown = async (page: Page): Promise<string[]> =>
  (await page.evaluate(`[...new Set([...document.querySelectorAll('#devices-body article.card, #plots-body figure.plot')].map((e) => e.dataset.device))]`) as string[]).sort();

t.test('the event stream follows the cards and plots shown', async (t) => {
  const { agent, client } = await feeders(t, 120, 'filter-test');
  const streams = async () => (await getJson<{ counters: Record<string, unknown> }>(`${agent.httpUrl}/api/v1/counters`)).counters['http_sse_clients'];

  const errors: string[] = [];
  const urls: string[] = [];
  const page = await openPage(t, 'about:blank', 1280, errors, { consoleErrors: true });
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === '/api/v1/events') urls.push(r.url());
  });
  await page.goto(`${agent.httpUrl}/`, { waitUntil: 'load', timeout: WAIT_MS });
  await ready(page);

  await t.test('on load: the 50 cards and the 6 plots, nothing else', async (t) => {
    await waitFor('50 cards and 6 plots', async () => (await page.$$('#devices-body article.card')).length === 50 && (await page.$$('#plots-body figure.plot')).length === 6);
    const want = await shown(page);
    t.equal(want.length, 50, 'the plots are of devices with a card (the first by name)');
    const url = await waitFor('a stream for exactly those', async () => urls.find((u) => named(u).join() === want.join()));
    t.ok(url.length < 2000, `one stream's address for 50 devices (${url.length} characters)`);
    t.same(named(urls[0]!), want, 'the first stream the page opened already named them (no stream of every device)');
    t.notOk(named(url).includes('feeder-99'), 'a device without a card is not asked for');
    const before = await text(page, `${card('feeder-1')} tbody`);
    await waitFor("feeder-1's values to change", async () => (await text(page, `${card('feeder-1')} tbody`)) !== before);
  });

  await t.test('typing in "Find a device" and picking a device for the plots narrow the stream; the old one is closed', async (t) => {
    await page.fill('#device-filter', 'feeder-117');
    await waitFor('a stream of feeder-117 alone', async () => urls.some((u) => named(u).join() === 'feeder-117'));
    await waitFor('one stream open again (the old one closed)', async () => (await streams()) === 1);
    const before = await text(page, `${card('feeder-117')} tbody`);
    await waitFor("feeder-117's values to change through the narrowed stream", async () => (await text(page, `${card('feeder-117')} tbody`)) !== before);

    await page.click(`${card('feeder-117')} button.pin`);
    await page.fill('#device-filter', 'feeder-3');
    const cards = ['feeder-3', ...Array.from({ length: 10 }, (_, k) => `feeder-${30 + k}`)];
    const want = [...cards, 'feeder-117'].sort();
    await waitFor('a stream of the 11 cards and the picked feeder-117', async () => urls.some((u) => named(u).join() === want.join()));
    t.same(await shown(page), want, 'what the page shows');
    await waitFor('one stream open', async () => (await streams()) === 1);
    const plotted = await page.$$eval('#plots-body figure.plot', (fs) => fs.map((f) => f.getAttribute('data-device')));
    t.same(plotted, ['feeder-117'], 'the picked device is plotted though it has no card');
    await page.click('#plots-unpick');
    await page.fill('#device-filter', '');
    await waitFor('the 50 cards again', async () => (await page.$$('#devices-body article.card')).length === 50);
  });

  await t.test('a device that appears outside the cards is learned; turning invalid brings it first, followed live', async (t) => {
    const publish = (quality: string, p: number) =>
      client.publishAsync('bal/raw/zz-late', JSON.stringify({ ts: Date.now() * 1000, quality, p: { a: p / 3, b: p / 3, c: p / 3, total: p } }), { qos: 1 });
    await publish('good', 12e6);
    // zz-late comes after feeder-1 … feeder-120 by name: no card, so the stream does not carry it.
    await page.fill('#device-filter', 'zz');
    await waitFor('the card of zz-late found by the filter box, with its values', async () => /12\.00 MW/.test(await text(page, card('zz-late'))));
    t.pass('the page learned of a device it did not ask the stream for');
    await page.fill('#device-filter', '');
    await waitFor('the 50 cards again, zz-late not among them', async () => {
      const n = await page.$$eval('#devices-body article.card', (cs) => cs.map((c) => c.getAttribute('data-device')));
      return n.length === 50 && !n.includes('zz-late');
    });

    await publish('invalid', 12.5e6);
    const first = await waitFor('zz-late first among the cards, invalid', async () => {
      const f = await page.$eval('#devices-body article.card', (c) => c.getAttribute('data-device'));
      return f === 'zz-late' && /✖ invalid/.test(await text(page, card('zz-late'))) ? f : undefined;
    });
    t.equal(first, 'zz-late', 'a problem device is shown first, though it was not in the stream');
    await waitFor('a stream that names zz-late', async () => urls.some((u) => named(u).includes('zz-late')));
    await publish('invalid', 13e6);
    await waitFor('the card follows zz-late live (13.00 MW)', async () => /13\.00 MW/.test(await text(page, card('zz-late'))));

    // Its plot: p.total in MW on the axis and in the legend (the legend is text; the axis is canvas).
    await page.click(`${card('zz-late')} button.pin`);
    const fig = '#plots-body figure.plot[data-device="zz-late"]';
    await page.waitForSelector(`${fig} .u-over`, { timeout: WAIT_MS });
    let seen = '';
    const legend = await waitFor('the legend of zz-late in MW', async () => {
      // The cursor over the newest point (the legend shows the values under the cursor).
      const over = page.locator(`${fig} .u-over`);
      const box = (await over.boundingBox())!;
      await over.hover({ position: { x: box.width - 1, y: box.height / 2 } });
      seen = await text(page, `${fig} .u-legend`);
      return /1[23]\.\d\d MW/.test(seen) ? seen : undefined;
    }).catch((e: Error) => Promise.reject(new Error(`${e.message}; the legend said: ${seen}`)));
    t.match(legend, /mean\s*1[23]\.\d\d MW/, `the legend reads in MW (${legend})`);
    await page.click('#plots-unpick');
  });

  await t.test('a name with a comma and a star is escaped in the address, and followed live', async (t) => {
    const name = 'odd,name*x';
    const publish = (p: number) => client.publishAsync(`bal/raw/${name}`, JSON.stringify({ ts: Date.now() * 1000, quality: 'good', p: { total: p } }), { qos: 1 });
    await publish(1500);
    await page.fill('#device-filter', 'odd,');
    await waitFor('the card of odd,name*x', async () => /1\.500 kW/.test(await text(page, card(name))));
    const url = await waitFor('a stream that names it, escaped', async () => urls.find((u) => new URL(u).searchParams.get('devices') === 'odd\\,name\\*x'));
    t.ok(url, `the stream's address: ${decodeURIComponent(new URL(url).search)}`);
    await publish(2500);
    await waitFor('its new value through that stream', async () => /2\.500 kW/.test(await text(page, card(name))));
    await page.fill('#device-filter', '');
  });

  t.same(errors, [], 'no console errors');
});
