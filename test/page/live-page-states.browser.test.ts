/**
 * The live page (`GET /`) of the real agent in Debian's Chromium, in the states a technician meets
 * beyond a healthy agent: the agent stopped and started again (the badge, the title and the values
 * say they are not current, and the page recovers by itself); with accounts the login page says why.
 * (Devices in their states: live-page-devices.browser.test.ts.)
 */
import t from 'tap';
import { startAgent, type AgentProcess } from '../helpers/agent-process.js';
import { card, livePage, text } from './live-page-harness.js';

const WAIT_MS = 60_000;
t.setTimeout(600_000);

const { openPage, ready, waitFor } = livePage(t, WAIT_MS);

/** The agent started again in the same folder on the same ports (the page reconnects to the same address). */
function restart(agent: AgentProcess, config: Record<string, unknown>): Promise<AgentProcess> {
  const c = config as { http?: object; mqtt?: object };
  return startAgent({ dir: agent.dir, config: { ...config, http: { ...(c.http ?? {}), port: agent.httpPort }, mqtt: { ...(c.mqtt ?? {}), port: agent.mqttPort } } });
}

t.test('the agent stops and starts again: the page says it cannot reach it, then recovers by itself', async (t) => {
  const config = { drivers: [{ type: 'sim-pmu', id: 'pmu1', rate: 10, count: 1 }] };
  let agent = await startAgent({ config });
  t.teardown(() => agent.stop('SIGKILL'));
  const errors: string[] = [];
  const page = await openPage(t, `${agent.httpUrl}/`, 1280, errors);
  await ready(page);
  await page.waitForSelector(card('pmu1'), { timeout: WAIT_MS });
  await waitFor('the badge to say healthy', async () => /healthy/.test(await text(page, '#health-badge')));

  await agent.stop('SIGTERM');
  const badge = await waitFor('the badge to say the agent cannot be reached', async () => {
    const b = await text(page, '#health-badge');
    return /cannot reach the agent/i.test(b) ? b : undefined;
  });
  t.notMatch(badge, /healthy/, `the badge no longer says healthy (${badge})`);
  t.match(badge, /since \d\d:\d\d:\d\d/, 'and says since when');
  t.match(await page.title(), /cannot reach the agent/i, 'so does the tab title');
  t.equal(await page.getAttribute('body', 'data-agent'), 'unreachable', 'the page is marked as showing last known values');
  const cardText = await text(page, card('pmu1'));
  t.match(cardText, /last known/i, `the device card says its values are the last known ones (${cardText})`);
  const opacity = Number(await page.evaluate(`getComputedStyle(document.querySelector('${card('pmu1')}')).opacity`));
  t.ok(opacity < 1, `the card is greyed (opacity ${opacity})`);
  t.match(await text(page, '#health-body'), /last known/i, 'so does the health section');
  t.match(await text(page, '#conn'), /cannot reach the agent/i, 'the connection line says the same');

  agent = await restart(agent, config);
  await waitFor('the badge to say healthy again', async () => /✓ healthy/.test(await text(page, '#health-badge')), 60_000);
  await waitFor('the page to drop the "last known" marks', async () => (await page.getAttribute('body', 'data-agent')) === 'reachable' && !/last known/i.test(await text(page, card('pmu1'))));
  t.match(await page.title(), /healthy/, 'the title says healthy again');
  t.same(errors, [], 'no exceptions');
});

t.test('with accounts, a restart ends the session: the login page says the agent restarted', async (t) => {
  const config = {
    drivers: [{ type: 'sim-pmu', id: 'pmu1', rate: 10, count: 1 }],
    http: { host: '0.0.0.0', users: [{ username: 'tech', password: 'tech-pw', role: 'viewer' }] },
    mqtt: { websocket: { enabled: false } },
  };
  let agent = await startAgent({ config });
  t.teardown(() => agent.stop('SIGKILL'));
  const page = await openPage(t, `${agent.httpUrl}/`, 390);
  t.equal(await text(page, '#why'), '', 'a first visit to the login page gives no reason');
  await page.fill('input[name=username]', 'tech');
  await page.fill('input[type=password]', 'tech-pw');
  await Promise.all([page.waitForURL(`${agent.httpUrl}/`, { timeout: WAIT_MS }), page.click('button[type=submit]')]);
  await ready(page);
  await page.waitForSelector(card('pmu1'), { timeout: WAIT_MS });
  await agent.stop('SIGTERM');
  agent = await restart(agent, config);
  await page.waitForURL(/\/login\?/, { timeout: WAIT_MS });
  const why = await waitFor('the login page to say why', async () => (await text(page, '#why')) || undefined);
  t.match(why, /has most likely restarted/i, `the reason: ${why}`);
  t.match(why, /sign in again/i);
  t.match(page.url(), /why=restart$/, 'set by the page, which lost its connection before the session was refused');
  await page.fill('input[name=username]', 'tech');
  await page.fill('input[type=password]', 'tech-pw');
  await Promise.all([page.waitForURL(`${agent.httpUrl}/`, { timeout: WAIT_MS }), page.click('button[type=submit]')]);
  await ready(page);
  t.pass('signing in again leads back to the page');
});
