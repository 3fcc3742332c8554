/**
 * gzip for JSON answers: a response whose body Fastify serialised to a string of at least
 * `MIN_BYTES`, with a JSON content type, to a client that sent `Accept-Encoding: gzip`, goes out
 * gzipped (`Content-Encoding: gzip`, `Vary: Accept-Encoding`). History series, status documents and
 * device pages shrink several times; small answers, streams (the server-sent events gzip themselves,
 * routes/events.ts) and files that the page's asset route already compresses are left alone. Compression runs synchronously on the event
 * loop (about 1 ms for 40 kB at level 6); bodies above `MAX_BYTES` are sent as they are, so one
 * request never holds the loop for long.
 */
import type { FastifyInstance } from 'fastify';
import { gzipSync } from 'node:zlib';

const MIN_BYTES = 1024;
const MAX_BYTES = 4 * 1024 * 1024;

/** Whether an Accept-Encoding header allows gzip (a `q=0` refuses it). */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  const h = Array.isArray(header) ? header.join(',') : header ?? '';
  for (const part of h.split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    if (name !== 'gzip' && name !== '*') continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  }
  return false;
}

export function registerCompression(app: FastifyInstance): void {
  app.addHook('onSend', async (req, reply, payload) => {
    if (typeof payload !== 'string' || payload.length < MIN_BYTES || payload.length > MAX_BYTES) return payload;
    const type = String(reply.getHeader('content-type') ?? '');
    if (!/^application\/(problem\+)?json/.test(type) || reply.hasHeader('content-encoding')) return payload;
    reply.header('vary', 'Accept-Encoding');
    if (!acceptsGzip(req.headers['accept-encoding'])) return payload;
    reply.header('content-encoding', 'gzip');
    reply.removeHeader('content-length');
    return gzipSync(payload, { level: 6 });
  });
}
