/**
 * Debian's Chromium (`/usr/bin/chromium`), driven headless through playwright-core, for tests that
 * look at the agent's pages the way a technician's browser does. playwright-core ships no browser:
 * `.ci/setup.sh` installs the Debian package. A missing binary is an error, not a skip.
 */
import { accessSync, constants } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface LaunchedBrowser {
  browser: Browser;
  /** Close the browser (safe to call twice). */
  close(): Promise<void>;
}

/** Throws with the fix when Debian's chromium is not installed. */
export function requireChromium(path = CHROMIUM_PATH): void {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(
      `${path} is missing or not executable: the status page tests drive Debian's chromium. ` +
        'Run `.ci/setup.sh` (the README\'s `npm run test:all` runs it) to install it.',
    );
  }
}

/**
 * Launch headless Chromium. `chromium.launch` gives every browser a fresh temporary profile
 * (it refuses `--user-data-dir`) and removes it on close.
 */
export async function launchChromium(): Promise<LaunchedBrowser> {
  requireChromium();
  let browser: Browser;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      args: ARGS,
      // A cold start on a busy 2-core machine can be slow; this is only a safety net.
      timeout: 120_000,
    });
  } catch (err) {
    throw new Error(`could not launch ${CHROMIUM_PATH} through playwright-core: ${(err as Error).message}`);
  }
  let closed = false;
  return {
    browser,
    close: async () => {
      if (closed) return;
      closed = true;
      await browser.close().catch(() => undefined);
    },
  };
}
