/**
 * The devices of the live page (`GET /`) of the real agent in Debian's Chromium: a stale device
 * (its card marked stale beside the quality it had, and first) among 120 more (natural order, a
 * filter box that reaches any of them, cards updated in place, not rebuilt), and the per-phase
 * values on a 390 px phone (every one on screen and labelled).
 */
import t from 'tap';
import type { AgentStatus } from '../../agent/core/status-types.js';
import { getJson, startAgent } from '../helpers/agent-process.js';
import { card, livePage, text } from './live-page-harness.js';

const WAIT_MS = 30_000;

const { openPage, ready, waitFor } = livePage(t, WAIT_MS);

t.test('a stale device and 120 more: stale first and marked, natural order, a filter, cards updated in place, a phone', async (t) => {
  // slow: a value every 20 s, stale 1 s after each; feeder-1 … feeder-120: a value every second.
  const agent = await startAgent({
    config: {
      drivers: [
        { type: 'sim-pmu', id: 'slow', rate: 0.05, staleAfterMs: 1000 },
        { type: 'sim-pmu', id: 'feeder', rate: 1, count: 120 },
      ],
    },
  });
  t.teardown(() => agent.stop('SIGKILL'));
  const errors: string[] = [];
  const page = await openPage(t, `${agent.httpUrl}/`, 1280, errors);
  await ready(page);

  t.test('a stale device: its card says stale beside the quality it had, and comes first', async (t) => {
    await waitFor('slow stale in /api/v1/status, with a value', async () => {
      const s = await getJson<AgentStatus>(`${agent.httpUrl}/api/v1/status`);
      return s.devices.some((d) => d.device === 'slow' && d.stale);
    });
    const seen = await waitFor('the card of slow marked stale and first', async () => {
      const r = (await page.evaluate(`(() => {
        const cards = [...document.querySelectorAll('#devices-body article.card')];
        const slow = document.querySelector('#devices article[data-device="slow"]');
        return { first: cards[0] && cards[0].dataset.device, header: slow ? slow.querySelector('header').textContent : '', stale: slow ? slow.classList.contains('stale') : false };
      })()`)) as { first: string; header: string; stale: boolean };
      return r.first === 'slow' && /stale/.test(r.header) ? r : undefined;
    });
    t.match(seen.header, /✓ good/, `the quality the last value had (${seen.header})`);
    t.match(seen.header, /stale/, 'and the stale mark');
    t.ok(seen.stale, 'the card is marked stale (class)');
  });

  t.test('120 devices: natural order, a filter reaches any of them', async (t) => {
    const names = () => page.$$eval('#devices-body article.card', (cs) => cs.map((c) => c.getAttribute('data-device') ?? ''));
    const shown = await waitFor('50 cards', async () => {
      const n = await names();
      return n.length === 50 && n.includes('feeder-49') ? n : undefined;
    });
    const feeders = shown.filter((n) => n.startsWith('feeder-'));
    t.same(feeders.slice(0, 11), ['feeder-1', 'feeder-2', 'feeder-3', 'feeder-4', 'feeder-5', 'feeder-6', 'feeder-7', 'feeder-8', 'feeder-9', 'feeder-10', 'feeder-11'], 'feeder-2 comes before feeder-10');
    t.match(await text(page, '#devices'), /7[01] more devices/, 'the page says how many are not shown');
    await page.fill('#device-filter', 'feeder-117');
    await waitFor('only feeder-117 shown', async () => JSON.stringify(await names()) === '["feeder-117"]');
    await page.fill('#device-filter', 'FEEDER-11');
    const eleven = await waitFor('feeder-11 and feeder-110 … 119 shown', async () => {
      const n = await names();
      return n.length === 11 ? n : undefined;
    });
    t.same(eleven, ['feeder-11', ...Array.from({ length: 10 }, (_, k) => `feeder-${110 + k}`)], 'a filter ignoring case, in natural order');
    await page.fill('#device-filter', 'no such device');
    await waitFor('no card and a line saying none match', async () => (await names()).length === 0 && /no device matches/i.test(await text(page, '#devices')));
    await page.fill('#device-filter', '');
    await waitFor('50 cards again', async () => (await names()).length === 50);
  });

  t.test('a card is updated in place, not rebuilt', async (t) => {
    const sel = `${card('feeder-1')} tbody tr:first-child td:nth-child(2)`;
    // Mark the element holding feeder-1's phase-a voltage; a rebuilt card would drop it.
    await page.waitForSelector(sel, { timeout: WAIT_MS });
    await page.evaluate(`document.querySelector('${sel}').__mark = 1`);
    const before = await text(page, sel);
    await waitFor("feeder-1's phase-a voltage to change", async () => (await text(page, sel)) !== before);
    t.equal(await page.evaluate(`document.querySelector('${sel}').__mark`), 1, 'the same element shows the new value');
  });

  t.test('a 390 px phone: every per-phase value is on screen, labelled', async (t) => {
    const phone = await openPage(t, `${agent.httpUrl}/`, 390, errors);
    await ready(phone);
    await phone.waitForSelector(`${card('feeder-1')} tbody td`, { timeout: WAIT_MS });
    const r = (await phone.evaluate(`(() => {
      const c = document.querySelector('#devices article[data-device="feeder-1"]');
      const box = c.querySelector('table').parentElement;
      const cells = [...c.querySelectorAll('tbody td')].map((td) => ({ label: td.dataset.label, right: td.getBoundingClientRect().right, visible: td.getBoundingClientRect().width > 0 }));
      return { hidden: box.scrollWidth - box.clientWidth, cardRight: c.getBoundingClientRect().right, cells };
    })()`)) as { hidden: number; cardRight: number; cells: { label: string; right: number; visible: boolean }[] };
    t.ok(r.hidden <= 0, `nothing hidden sideways in the table's box (${r.hidden} px)`);
    for (const label of ['V (V)', 'I (A)', 'P', 'Q', 'S', 'PF']) {
      const cells = r.cells.filter((c) => c.label === label);
      t.ok(cells.length >= 3, `${label}: a labelled cell per phase`);
      t.ok(cells.every((c) => c.visible && c.right <= r.cardRight), `${label}: within the card (right edges ${cells.map((c) => Math.round(c.right)).join(', ')} <= ${Math.round(r.cardRight)})`);
    }
    t.ok(((await phone.evaluate('document.documentElement.scrollWidth')) as number) <= 390, 'the page is no wider than the phone');
  });

  t.test('no exceptions', async (t) => {
    t.same(errors, [], 'none on the desktop or the phone');
  });
});
