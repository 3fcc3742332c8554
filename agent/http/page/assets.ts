/**
 * The static files of the live page, served from a fixed list (never from a path the request
 * names, so `..` or an encoded slash cannot reach another file):
 *
 * - `/assets/js/<path>`: the page's compiled ES modules (every `.js` file of the compiled
 *   `agent/http/page/client/` folder) and the pure modules they share with the agent
 *   (`agent/http/page/format.js`, `agent/core/duration-text.js`, `agent/core/buffer-unsent.js`,
 *   `algorithms/common/field-quality.js`), by their path under
 *   the compiled output folder, so their relative imports resolve in the browser as on disk;
 * - `/assets/uplot/uPlot.min.js` and `/assets/uplot/uPlot.min.css`: uPlot's own files, read from
 *   its npm package (a production dependency, so the .deb ships it);
 * - `/assets/page.css`: the page's style sheet (styles.ts); `/assets/noscript.css` what it loads inside
 *   `<noscript>`; `/assets/login.css` and `/assets/docs.css` those of the login page and the API docs
 *   (every page's script and style is a file here: the pages' Content-Security-Policy allows no inline
 *   script or style, security-headers.ts).
 *
 * The files of the two pages open without a session (`PUBLIC_ASSETS`: the login page's and the API
 * docs' script and style, which import nothing); every other one needs a session when accounts are
 * configured, like the page.
 *
 * Each file is read on its first request and kept in memory with its gzip form and an ETag; a
 * request with `Accept-Encoding: gzip` gets the gzip form, one with the current ETag a 304. A file
 * that cannot be read answers 404 (logged once).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { DOCS_CSS, LOGIN_CSS, NOSCRIPT_CSS, PAGE_CSS } from './styles.js';

export interface Asset {
  type: string;
  /** The file to read, or the text itself. */
  file?: string;
  text?: string;
}

export interface LoadedAsset {
  type: string;
  body: Buffer;
  gzip: Buffer;
  etag: string;
}

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

/** The compiled output folder (dist/ in a checkout, /usr/lib/gridedge/dist in the .deb). */
function outputRoot(): string {
  // This file is <root>/agent/http/page/assets.js.
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
}

/** Modules of the agent the page imports besides its own folder (pure, no Node APIs). */
const SHARED = ['agent/http/page/format.js', 'agent/core/duration-text.js', 'agent/core/buffer-unsent.js', 'algorithms/common/field-quality.js'];

const CLIENT = '/assets/js/agent/http/page/client';

/** The login page's (auth.ts) and the API docs' (routes/docs.ts) script and style, by the paths their HTML names. */
export const LOGIN_FILES = { js: `${CLIENT}/login.js`, css: '/assets/login.css' } as const;
export const DOCS_FILES = { js: `${CLIENT}/docs.js`, css: '/assets/docs.css' } as const;

/** The login page's and the API docs' files: served without a session (auth.ts), the login page needs them before one exists. */
export const PUBLIC_ASSETS: ReadonlySet<string> = new Set([LOGIN_FILES.js, LOGIN_FILES.css, DOCS_FILES.js, DOCS_FILES.css]);

/** URL path → what to serve. */
export function assetTable(): Map<string, Asset> {
  const root = outputRoot();
  const table = new Map<string, Asset>();
  const addJsDir = (rel: string): void => {
    let names: string[] = [];
    try {
      names = readdirSync(join(root, rel));
    } catch {
      return;
    }
    for (const n of names) if (/^[a-z0-9-]+\.js$/.test(n)) table.set(`/assets/js/${rel}/${n}`, { type: JS, file: join(root, rel, n) });
  };
  addJsDir('agent/http/page/client');
  for (const rel of SHARED) table.set(`/assets/js/${rel}`, { type: JS, file: join(root, rel) });
  const uplot = dirname(createRequire(import.meta.url).resolve('uplot'));
  table.set('/assets/uplot/uPlot.min.js', { type: JS, file: join(uplot, 'uPlot.iife.min.js') });
  table.set('/assets/uplot/uPlot.min.css', { type: CSS, file: join(uplot, 'uPlot.min.css') });
  table.set('/assets/page.css', { type: CSS, text: PAGE_CSS });
  table.set('/assets/noscript.css', { type: CSS, text: NOSCRIPT_CSS });
  table.set(LOGIN_FILES.css, { type: CSS, text: LOGIN_CSS });
  table.set(DOCS_FILES.css, { type: CSS, text: DOCS_CSS });
  return table;
}

export function loadAsset(a: Asset): LoadedAsset {
  const raw = a.text !== undefined ? Buffer.from(a.text) : readFileSync(a.file!);
  // The compiled modules end with a source map comment; the maps are not served.
  const body = a.type === JS ? Buffer.from(raw.toString('utf8').replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n')) : raw;
  return { type: a.type, body, gzip: gzipSync(body, { level: 9 }), etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}
