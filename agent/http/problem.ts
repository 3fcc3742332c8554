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
  /** The request path the problem is about. */
  instance?: string;
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
  if (instance !== undefined) p.instance = instance;
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
