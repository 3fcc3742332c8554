/**
 * RFC 9457 problem details: every error the HTTP server answers (unknown route, bad request, a
 * route's own refusal, an internal failure) is one JSON shape, `application/problem+json`:
 * `{ type, title, status, detail, instance }`. Internal failures say only that they happened (the
 * log has the details); nothing of a stack trace or a secret leaves the process.
 */
import type { FastifyReply } from 'fastify';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface Problem {
  /** A URI naming the problem kind; `about:blank` when the status code says it all. */
  type: string;
  title: string;
  status: number;
  detail?: string;
  /** The request path the problem is about, as {@link shownPath} writes it. */
  instance?: string;
}

/** The most characters of a request path a problem repeats (its `instance`, and in a detail); a longer one is cut and ends with `…`. */
export const MAX_SHOWN_PATH = 256;

/**
 * A request path as a problem repeats it: every character outside printable ASCII (control
 * characters, spaces, non-ASCII, as a route may build the path from a decoded parameter) percent-encoded
 * as UTF-8 (Node's parser itself refuses such raw bytes in a request line), so the document stays one
 * readable line whatever was sent; then cut to {@link MAX_SHOWN_PATH} characters (never inside a
 * `%XX`, nor inside the escapes of one UTF-8 character) with `…` after it. A path of 16 KB (the most Node's parser takes) is not repeated in full.
 * Already percent-encoded paths come back unchanged.
 */
export function shownPath(path: string): string {
  // As UTF-8 bytes (a lone surrogate as U+FFFD's).
  let s = path.replace(/[^\x21-\x7e]/gu, (c) => [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''));
  if (s.length <= MAX_SHOWN_PATH) return s;
  s = s.slice(0, MAX_SHOWN_PATH).replace(/%[0-9A-Fa-f]?$/, '');
  // Nor inside a character's UTF-8 escapes: a lead byte whose continuation bytes were cut goes too.
  const tail = /%([C-Fc-f][0-9A-Fa-f])((?:%[89ABab][0-9A-Fa-f])*)$/.exec(s);
  if (tail) {
    const lead = parseInt(tail[1]!, 16);
    const needs = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
    if (1 + tail[2]!.length / 3 < needs) s = s.slice(0, tail.index);
  }
  return `${s}…`;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function problem(status: number, detail?: string, instance?: string, type = 'about:blank'): Problem {
  const p: Problem = { type, title: TITLES[status] ?? (status >= 500 ? 'Server Error' : 'Client Error'), status };
  if (detail !== undefined) p.detail = detail;
  if (instance !== undefined) p.instance = shownPath(instance);
  return p;
}

/** Send a problem: sets the status and the problem+json type. Returns the body for fastify to send. */
export function sendProblem(reply: FastifyReply, p: Problem): Problem {
  reply.code(p.status).type(PROBLEM_CONTENT_TYPE);
  return p;
}

/** The JSON Schema of a problem body (OpenAPI responses). */
export const problemSchema = {
  title: 'Problem',
  type: 'object',
  required: ['type', 'title', 'status'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
  },
} as const;
