/**
 * A device the page does not show gets only summaries on the event stream (name and quality), so the
 * page's values of it age while it is hidden. When it is shown again its card must not pass those off
 * as current: it says "⟳ updating" until the current values arrive, which the page reads at once
 * (the stream opened for the new cards brings them too, but only once the agent lets it open).
 * In Debian's Chromium against the real agent: 60 simulated feeders fill the 50 cards, a late device
 * published over MQTT is hidden behind them (by name, or by the filter box while it is invalid).
 */
import t from 'tap';
import { getJson } from '../helpers/agent-process.js';
import { card, livePage, text } from './live-page-harness.js';

const WAIT_MS = 30_000;

const { openPage, ready, waitFor, feeders } = livePage(t, WAIT_MS);

t.test('a hidden device that turned good again shows its current values when shown again', async (t) => {
  const { agent, client } = await feeders(t, 60, 'hidden-test');
  const publish = (quality: string, p: number) =>
    client.publishAsync('bal/raw/zz-late', JSON.stringify({ ts: Date.now() * 1000, quality, p: { a: p / 3, b: p / 3, c: p / 3, total: p } }), { qos: 1 });
  const agentHas = async (mw: string, quality: string) => {
    const d = await getJson<{ latest: { quality: string; p: { total: number } } }>(`${agent.httpUrl}/api/v1/devices/zz-late`);
    return (d.latest.p.total / 1e6).toFixed(2) === mw && d.latest.quality === quality;
  };
  const streams = async () => (await getJson<{ counters: Record<string, unknown> }>(`${agent.httpUrl}/api/v1/counters`)).counters['http_sse_clients'];

  await publish('good', 12e6);
  await waitFor('zz-late in the agent', () => agentHas('12.00', 'good'));
  const errors: string[] = [];
  const page = await openPage(t, `${agent.httpUrl}/`, 1280, errors);
  await ready(page);
  const cards = async () => page.$$eval('#devices-body article.card', (cs) => cs.map((c) => c.getAttribute('data-device')));
  await waitFor('the page has zz-late (12.00 MW) behind the 50 cards', async () => {
    const n = await cards();
    return n.length === 50 && !n.includes('zz-late') && (await streams()) === 1;
  });

  // Every text zz-late's card shows, from the moment it is made.
  await page.evaluate(`window.__zz = [];
    new MutationObserver(() => {
      const c = document.querySelector('#devices-body article[data-device="zz-late"]');
      if (c) window.__zz.push(c.textContent.replace(/\\s+/g, ' '));
    }).observe(document.getElementById('devices-body'), { subtree: true, childList: true, characterData: true });`);

  // Hidden by the filter box, it turns invalid, then good again with new values: the page hears only its quality.
  await page.fill('#device-filter', 'feeder');
  await publish('invalid', 13e6);
  await waitFor('13 MW, invalid, in the agent', () => agentHas('13.00', 'invalid'));
  await publish('good', 15e6);
  await waitFor('15 MW, good, in the agent', () => agentHas('15.00', 'good'));
  await waitFor('one stream open (feeders only)', async () => (await streams()) === 1);

  // The agent refuses any new stream (32 open): the page keeps the one it has, which does not carry zz-late.
  const held: AbortController[] = [];
  t.teardown(() => held.forEach((c) => c.abort()));
  for (let k = 0; k < 31; k++) {
    const c = new AbortController();
    held.push(c);
    const r = await fetch(`${agent.httpUrl}/api/v1/events?devices=`, { signal: c.signal });
    t.equal(r.status, 200, `stream ${k + 2} of 32`);
  }

  // Shown again: its current values, not the ones the page last had.
  await page.fill('#device-filter', 'zz');
  let seen = '';
  await waitFor('the card of zz-late with its current value (15.00 MW, good)', async () => {
    seen = await text(page, card('zz-late'));
    return /15\.00 MW/.test(seen) && /✓ good/.test(seen) && !/updating/.test(seen);
  }).catch((e: Error) => Promise.reject(new Error(`${e.message}; the card said: ${seen}`)));
  const shownTexts = (await page.evaluate('window.__zz')) as string[];
  t.ok(shownTexts.length > 0, `the card's texts were recorded (${shownTexts.length})`);
  const passedOff = shownTexts.filter((s) => /12\.00 MW/.test(s) && !/⟳ updating/.test(s));
  t.same(passedOff, [], 'the old values (12.00 MW) were never shown without "⟳ updating"');
  t.same(errors, [], 'no page errors');
});
