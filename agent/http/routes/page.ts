/**
 * The page routes: `GET /` the live page (an HTML shell and ES modules that fill it from the API and
 * the event stream, with the server-rendered status for browsers without script), and the page's static files under `/assets/` (a fixed list, see page/assets.ts). With accounts
 * configured every one of them needs a session like the API (the access check runs before them).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HttpDeps } from '../deps.js';
import { renderLivePage } from '../page/live-page.js';
import { assetTable, loadAsset, type LoadedAsset } from '../page/assets.js';
import { problem, sendProblem, shownPath } from '../problem.js';
import { acceptsGzip } from '../compress.js';

/**
 * Whether an `If-None-Match` header matches the current ETag of a file that exists (RFC 9110
 * §13.1.2): `*` matches any, otherwise any entity tag of the comma-separated list matches by weak
 * comparison (`W/"x"` and `"x"` are the same tag). A header that is not a list of entity tags (a bare
 * word, an unclosed quote) matches nothing: the file is sent.
 */
export function noneMatchHits(header: string | string[] | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const value = Array.isArray(header) ? header.join(',') : header;
  if (value.trim() === '*') return true;
  const opaque = etag.replace(/^W\//, '');
  // entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, in a list separated by commas and optional white space.
  const list = /\s*(?:W\/)?("[^"]*")\s*(?:,|$)/gy;
  let m: RegExpExecArray | null;
  let end = 0;
  while (end < value.length && (m = list.exec(value)) !== null) {
    if (m[1] === opaque) return true;
    end = list.lastIndex;
  }
  return false;
}

export function registerPageRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.get('/', { schema: { hide: true } }, async (req, reply) => {
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store'); // and the HTML pages' CSP (security-headers.ts)
    const user = req.session ? { username: req.session.username, role: req.session.role } : undefined;
    return renderLivePage({ status: deps.getStatus(), ...(user ? { user } : {}) });
  });

  const table = assetTable();
  const loaded = new Map<string, LoadedAsset>();
  const serve = async (req: FastifyRequest, reply: FastifyReply) => {
    const path = req.url.split('?')[0]!;
    const a = table.get(path);
    if (!a) return sendProblem(reply, problem(404, `no file ${shownPath(path)}`, path));
    let l = loaded.get(path);
    if (!l) {
      try {
        l = loadAsset(a);
      } catch (e) {
        deps.log.error({ file: a.file, err: (e as Error).message }, 'http: cannot read a page asset');
        return sendProblem(reply, problem(404, `no file ${shownPath(path)}`, path));
      }
      loaded.set(path, l);
    }
    // Each representation has its own strong ETag (RFC 9110 §8.8.3: the gzip form is other bytes),
    // and If-None-Match is compared with the one this request selects.
    const gzip = acceptsGzip(req.headers['accept-encoding']);
    const etag = gzip ? l.etag.replace(/"$/, '-gz"') : l.etag;
    reply.header('cache-control', 'no-cache').header('etag', etag).header('vary', 'accept-encoding').type(l.type);
    if (noneMatchHits(req.headers['if-none-match'], etag)) return reply.code(304).send();
    if (gzip) return reply.header('content-encoding', 'gzip').send(l.gzip);
    return reply.send(l.body);
  };
  app.get('/assets/*', { schema: { hide: true } }, serve);
}
