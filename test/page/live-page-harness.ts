/**
 * What the live page's browser tests share: one Chromium for the file (launched before the first
 * test, closed after the last), pages that record uncaught exceptions (and, when asked, console
 * errors) in a list the test checks, and the page's ready mark, card selector and text reader.
 */
import type { Test } from 'tap';
import type { Page } from 'playwright-core';
import mqtt, { type MqttClient } from 'mqtt';
import { getJson, startAgent, type AgentProcess } from '../helpers/agent-process.js';
import { launchChromium, type LaunchedBrowser } from '../helpers/browser.js';
import { waitFor as waitUntil } from '../helpers/wait.js';

export interface LivePage {
  /** A new page at `url`, `width` px wide, closed at the end of `t`; errors go to `errors`. */
  openPage(t: Test, url: string, width: number, errors?: string[], opts?: { consoleErrors?: boolean }): Promise<Page>;
  /** Resolves once the page's script has rendered its first status (`body[data-ready=true]`). */
  ready(page: Page): Promise<unknown>;
  /** The shared browser, for contexts of a test's own (such as JavaScript off). */
  browser(): LaunchedBrowser['browser'];
  /** Polls `probe` (errors count as not yet) every 250 ms until it gives a value, or fails naming `what`. */
  waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs?: number): Promise<T>;
  /**
   * An agent whose sim-pmu driver `feeder` has `count` devices at 1/s, and an MQTT client `clientId`
   * of it (both ended with `t`); resolves once `/api/v1/devices` lists all of them.
   */
  feeders(t: Test, count: number, clientId: string): Promise<{ agent: AgentProcess; client: MqttClient }>;
}

/** The selector of a device's card. */
export const card = (device: string): string => `#devices article[data-device="${device}"]`;

/** An element's text with its white space folded. */
export const text = async (page: Page, selector: string): Promise<string> => ((await page.textContent(selector)) ?? '').replace(/\s+/g, ' ').trim();

/** Registers the shared Chromium on the file's top-level test `top`; waits default to `waitMs`. */
export function livePage(top: Test, waitMs: number): LivePage {
  let chromium: LaunchedBrowser | undefined;
  top.before(async () => {
    chromium = await launchChromium();
  });
  top.teardown(() => chromium?.close());
  return {
    async openPage(t, url, width, errors = [], opts = {}) {
      const page = await chromium!.browser.newPage({ viewport: { width, height: 900 } });
      t.teardown(() => page.close().catch(() => undefined));
      if (opts.consoleErrors)
        page.on('console', (m) => {
          if (m.type() === 'error') errors.push(`console: ${m.text()} (${m.location().url})`);
        });
      page.on('pageerror', (e) => errors.push(`exception: ${e.message}`));
      await page.goto(url, { waitUntil: 'load', timeout: waitMs });
      return page;
    },
    browser: () => chromium!.browser,
    ready: (page) => page.waitForSelector('body[data-ready=true]', { timeout: waitMs }),
    waitFor: (what, probe, timeoutMs = waitMs) => waitUntil(what, probe, { timeoutMs, intervalMs: 250, retryErrors: true }),
    async feeders(t, count, clientId) {
      const agent = await startAgent({ config: { drivers: [{ type: 'sim-pmu', id: 'feeder', rate: 1, count }] } });
      t.teardown(() => agent.stop('SIGKILL'));
      const client = await mqtt.connectAsync(agent.mqttUrl, { clientId });
      t.teardown(() => client.end(true));
      await waitUntil(
        `${count} feeders in /api/v1/devices`,
        async () => (await getJson<{ total: number }>(`${agent.httpUrl}/api/v1/devices`)).total === count,
        { timeoutMs: waitMs, intervalMs: 250, retryErrors: true },
      );
      return { agent, client };
    },
  };
}
