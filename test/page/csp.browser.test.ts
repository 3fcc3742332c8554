/**
 * The pages under their Content-Security-Policy (agent/http/security-headers.ts), in Debian's
 * Chromium, on the real agent with accounts: the API docs list the routes, the login page refuses a
 * wrong password and lets the right one in, the live page shows live values, plots and its styles,
 * and not one `securitypolicyviolation` event or console error is reported on the way. A script
 * added inline by the test itself is refused and reported, so the listener does hear violations.
 */
import t, { type Test } from 'tap';
import type { Page } from 'playwright-core';
import { startAgent } from '../helpers/agent-process.js';
import { card, livePage, text } from './live-page-harness.js';

const WAIT_MS = 30_000;
const { browser, ready, waitFor } = livePage(t, WAIT_MS);

/** The computed style `prop` of the first element matching `selector` (the test project has no DOM types). */
const style = (page: Page, selector: string, prop: string): Promise<unknown> =>
  page.evaluate(`getComputedStyle(document.querySelector(${JSON.stringify(selector)}))[${JSON.stringify(prop)}]`);

/** Every CSP violation the page's documents report (through a binding, so navigations keep them), and console errors. */
async function watched(t: Test, violations: string[], errors: string[]): Promise<Page> {
  const page = await browser().newPage({ viewport: { width: 1280, height: 900 } });
  t.teardown(() => page.close().catch(() => undefined));
  await page.exposeBinding('__cspViolation', (_src, v: string) => void violations.push(v));
  await page.addInitScript(`document.addEventListener('securitypolicyviolation', (e) =>
    window.__cspViolation(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.documentURI + ':' + e.lineNumber));`);
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => errors.push(`exception: ${e.message}`));
  return page;
}

t.test('docs, login and the live page work under the policy, with no violation', async (t) => {
  const agent = await startAgent({
    config: {
      drivers: [{ type: 'sim-pmu', id: 'pmu1', rate: 10, count: 2 }],
      http: { host: '0.0.0.0', users: [{ username: 'tech', password: 'tech-pw', role: 'viewer' }] },
      mqtt: { websocket: { enabled: false } },
    },
  });
  t.teardown(() => agent.stop('SIGKILL'));
  const violations: string[] = [];
  const errors: string[] = [];
  const page = await watched(t, violations, errors);

  // The API docs: public, drawn by their own script file.
  const docs = await page.goto(`${agent.httpUrl}/docs`, { waitUntil: 'load', timeout: WAIT_MS });
  t.match(docs?.headers()['content-security-policy'], /script-src 'self'/, 'the docs carry the policy');
  await page.waitForSelector('#ops h2', { timeout: WAIT_MS });
  t.match(await text(page, '#ops'), /GET \/api\/v1\/status/, 'the docs list the routes (their script ran)');
  t.equal(await style(page, 'h2 .m', 'fontWeight'), '700', 'and their style sheet applies');

  // The login page: its script refuses a wrong password with the agent's reason, then lets the user in.
  await page.goto(`${agent.httpUrl}/`, { waitUntil: 'load', timeout: WAIT_MS });
  t.match(page.url(), /\/login$/, 'to the login page first');
  t.equal(await style(page, 'body', 'maxWidth'), '352px', 'the login style sheet applies (22rem)');
  await page.fill('#u', 'tech');
  await page.fill('#p', 'wrong');
  await page.click('button[type=submit]');
  await page.waitForSelector('#err:has-text("wrong user name or password")', { timeout: WAIT_MS });
  t.equal(page.url(), `${agent.httpUrl}/login`, 'a wrong password stays on the login page');
  t.equal(await page.$eval('button[type=submit]', (b) => (b as unknown as { disabled: boolean }).disabled), false, 'the button can be pressed again');
  await page.fill('#p', 'tech-pw');
  await Promise.all([page.waitForURL(`${agent.httpUrl}/`, { timeout: WAIT_MS }), page.click('button[type=submit]')]);

  // The live page: values that change, a plot, its styles; the script-less status stays hidden.
  await ready(page);
  const cell = `${card('pmu1-1')} tbody tr:first-child td:nth-child(2)`;
  await page.waitForSelector(cell, { timeout: WAIT_MS });
  const before = await text(page, cell);
  await waitFor('a live value of pmu1-1 to change', async () => (await text(page, cell)) !== before);
  t.pass('live values arrive through the event stream');
  await page.waitForSelector('#plots figure[data-device="pmu1-1"] canvas', { timeout: WAIT_MS });
  t.pass('uPlot draws its plot (its styles are set from its script file, which the policy allows)');
  t.equal(await style(page, '#static-status', 'display'), 'none', 'page.css applies, noscript.css does not');
  t.equal(await style(page, 'header.top', 'position'), 'sticky', 'the header is styled');

  t.same(violations, [], 'no Content-Security-Policy violation on the docs, the login page or the live page');
  // The wrong password's 401 is the browser's own line for a refused request, expected here.
  const wrongPassword = /401 \(Unauthorized\) \(http:\/\/[^/]+\/api\/v1\/login\)$/;
  t.equal(errors.filter((e) => wrongPassword.test(e)).length, 1, 'the wrong password refused once');
  t.same(errors.filter((e) => !wrongPassword.test(e)), [], 'no other console errors');

  // The listener hears violations: an inline script added now is refused and reported.
  await page.evaluate(`(() => { const s = document.createElement('script'); s.textContent = 'window.__inline = 1'; document.head.append(s); })()`);
  await waitFor('the refused inline script to be reported', async () => violations.length > 0);
  t.equal(await page.evaluate('typeof window.__inline'), 'undefined', 'the inline script did not run');
  t.match(violations[0], /^script-src/, `reported: ${violations[0]}`);
});
