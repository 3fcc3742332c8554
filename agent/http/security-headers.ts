/**
 * Security headers of every answer (an `onSend` hook, so route groups added later are covered too):
 *
 * - every answer: `X-Content-Type-Options: nosniff` (a browser takes each file as the type it is
 *   served with, never guesses script out of a device name echoed in a problem) and
 *   `Referrer-Policy: same-origin` (the page's own links keep it; no address leaves the gateway);
 * - every HTML answer (the live page, the login page, the API docs; any `text/html`):
 *   {@link HTML_CSP} and `X-Frame-Options: DENY` (the same as `frame-ancestors 'none'`, for older
 *   browsers). A route that sets its own `Content-Security-Policy` keeps it.
 *
 * The server-sent event stream writes its headers itself (routes/events.ts: these two among them; it
 * carries no markup, so no CSP), and so do the answers to what Node's HTTP parser refuses and the
 * router's refusals (a path that is not valid percent-encoding, too long a path segment; app.ts).
 */
import type { FastifyInstance } from 'fastify';

/**
 * The Content-Security-Policy of every HTML page: scripts, styles, images and connections from this
 * server only. No inline script, no `eval`, no inline style (neither `<style>` nor `style="..."`
 * attributes; setting an element's style from a script file is still allowed, which uPlot does),
 * no plugins, no `<base>`, no framing, forms post only here. `data:` images only for the empty favicon.
 */
export const HTML_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');

/** The headers of every answer; also written by hand where no hook runs (app.ts's answers to what Node's parser and the router refuse). */
export const EVERY_ANSWER_HEADERS = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'same-origin' } as const;

export function registerSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.headers(EVERY_ANSWER_HEADERS);
    const type = reply.getHeader('content-type');
    if (typeof type === 'string' && /^text\/html\b/i.test(type)) {
      if (!reply.hasHeader('content-security-policy')) reply.header('content-security-policy', HTML_CSP);
      reply.header('x-frame-options', 'DENY');
    }
    return payload;
  });
}
