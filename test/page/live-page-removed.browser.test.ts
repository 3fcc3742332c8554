/**
 * A reload that removes a driver, seen on the open live page in Debian's Chromium: the removed
 * driver's devices lose their cards and plots without reloading the page (the event stream says
 * `event: removed`); the kept driver's device stays. Before, their cards stayed
 * with values growing older until the page was reloaded.
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { startAgent } from '../helpers/agent-process.js';
import { card, livePage } from './live-page-harness.js';

const WAIT_MS = 30_000;
const { openPage, ready, waitFor } = livePage(t, WAIT_MS);

const cardNames = (page: Page) => page.$$eval('#devices-body article.card', (cs) => cs.map((c) => c.getAttribute('data-device') ?? '').sort());
const plotNames = (page: Page) => page.$$eval('#plots-body figure.plot', (fs) => fs.map((f) => f.getAttribute('data-device') ?? '').sort());

t.test('the cards and plots of a removed driver go at the reload', async (t) => {
  const agent = await startAgent({
    config: {
      drivers: [
        { type: 'sim-pmu', id: 'keep', rate: 5 },
        { type: 'sim-pmu', id: 'gone', rate: 5, count: 2 },
      ],
    },
  });
  t.teardown(() => agent.stop('SIGKILL'));
  const errors: string[] = [];
  const page = await openPage(t, `${agent.httpUrl}/`, 1280, errors, { consoleErrors: true });
  await ready(page);
  const all = ['gone-1', 'gone-2', 'keep'];
  await waitFor('a card for each device', async () => JSON.stringify(await cardNames(page)) === JSON.stringify(all));
  await waitFor('a plot for each device', async () => JSON.stringify(await plotNames(page)) === JSON.stringify(all));

  const cfg = JSON.parse(readFileSync(agent.configFile, 'utf8')) as Record<string, unknown>;
  cfg['drivers'] = [{ type: 'sim-pmu', id: 'keep', rate: 5 }];
  writeFileSync(agent.configFile, JSON.stringify(cfg));
  agent.child.kill('SIGHUP');
  await agent.waitForLog((l) => l.msg === 'config reloaded', 'the reload applied');

  await waitFor('only the kept card', async () => JSON.stringify(await cardNames(page)) === '["keep"]');
  await waitFor('only the kept plot', async () => JSON.stringify(await plotNames(page)) === '["keep"]');
  t.ok(await page.$(card('keep')), 'the kept device still has its card');
  t.same(await cardNames(page), ['keep'], 'the removed devices have no card');
  t.same(errors, [], 'no page error');
});
