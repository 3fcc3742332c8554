/** GET <url>/api/v1/status from a running agent, with a clear reason when it cannot be had. */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AgentStatus } from '../core/status-types.js';

export const STATUS_PATH = '/api/v1/status';

export type FetchResult = { ok: true; status: AgentStatus; url: string } | { ok: false; url: string; reason: string };

/** Why a request failed, in words, with the system error code (ECONNREFUSED, ENOTFOUND ...). */
export function reasonOf(e: unknown, timeoutS: number): string {
  const err = e as NodeJS.ErrnoException;
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return `no answer within ${timeoutS} s`;
  const words: Record<string, string> = {
    ECONNREFUSED: 'connection refused (is the agent running, on this port?)',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'host name lookup failed',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    ECONNRESET: 'connection reset',
    ETIMEDOUT: 'connection timed out',
  };
  const code = err.code ?? (err as { errors?: NodeJS.ErrnoException[] }).errors?.[0]?.code;
  if (code && TLS_TRUST.has(code)) return `${err.message} (${code}): the agent's certificate is not trusted; pass --ca FILE with its certificate or the CA that signed it`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `${err.message} (${code}): pass --url https://NAME:PORT with a name or address the certificate holds`;
  if (code) return `${words[code] ?? err.message} (${code})`;
  return err.message;
}

/** OpenSSL's verification errors of a certificate chain that does not lead to a trusted CA (also `tail`'s hint). */
export const TLS_TRUST: ReadonlySet<string> = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
]);

const isStatus = (v: unknown): v is AgentStatus =>
  typeof v === 'object' && v !== null && typeof (v as { health?: unknown }).health === 'string' && typeof (v as { gateway?: unknown }).gateway === 'string';

/** Larger answers are not a status document. */
const MAX_BODY = 32 * 1024 * 1024;

/** How to reach an agent: a bearer token (http.users), certificates to trust for its HTTPS (`--ca`; default: the system's CAs). */
export interface AgentAccess {
  token?: string;
  ca?: Buffer;
  /** Abandons the request when aborted (Ctrl-C in a command that cleans up after itself). */
  signal?: AbortSignal;
}

/** A request with node:http(s) (GET by default; no body): no keep-alive pool holding the process open, no fetch port blocklist. */
export function agentRequest(
  url: string,
  timeoutS: number,
  access: AgentAccess,
  method: 'GET' | 'DELETE' = 'GET',
): Promise<{ status: number; statusText: string; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (access.token) headers['authorization'] = `Bearer ${access.token}`;
    const timeout = AbortSignal.timeout(timeoutS * 1000);
    const options = { method, agent: false, headers, signal: access.signal ? AbortSignal.any([timeout, access.signal]) : timeout } as const;
    const onResponse = (res: IncomingMessage): void => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) req.destroy(new Error(`the answer is larger than ${MAX_BODY} bytes`));
        else chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    };
    const req =
      u.protocol === 'https:'
        ? httpsRequest(u, access.ca ? { ...options, ca: access.ca } : options, onResponse)
        : httpRequest(u, options, onResponse);
    req.on('error', reject);
    req.end();
  });
}

/** GET the status document; `access.token`: a bearer token from POST /api/v1/login (agents with http.users). */
export async function fetchStatus(base: string, timeoutS: number, access: AgentAccess = {}): Promise<FetchResult> {
  const url = base.endsWith(STATUS_PATH) ? base : base + STATUS_PATH;
  const token = access.token;
  let res: { status: number; statusText: string; body: string };
  try {
    res = await agentRequest(url, timeoutS, access);
  } catch (e) {
    return { ok: false, url, reason: reasonOf(e, timeoutS) };
  }
  if (res.status === 401)
    return { ok: false, url, reason: `needs a login (http.users): pass --token or set GRIDEDGE_TOKEN to a token from POST /api/v1/login${token ? ' (this one was refused)' : ''}` };
  if (res.status !== 200) return { ok: false, url, reason: `answered HTTP ${res.status} ${res.statusText}`.trim() };
  let body: unknown;
  try {
    body = JSON.parse(res.body);
  } catch {
    return { ok: false, url, reason: 'answered something that is not JSON (is this a gridedge agent?)' };
  }
  if (!isStatus(body)) return { ok: false, url, reason: 'answered JSON that is not a gridedge status (is this a gridedge agent?)' };
  return { ok: true, status: normalise(body), url };
}

/** Tolerate an agent of another version: missing lists are empty, a missing broker is unknown. */
function normalise(s: AgentStatus): AgentStatus {
  const list = <T>(v: T[] | undefined): T[] => (Array.isArray(v) ? v : []);
  return {
    ...s,
    version: typeof s.version === 'string' ? s.version : '?',
    problems: list(s.problems),
    uptimeSeconds: typeof s.uptimeSeconds === 'number' ? s.uptimeSeconds : NaN,
    broker: s.broker ?? { host: '?', port: 0, clients: 0, subscriptions: 0, sessions: 0, offlineSessions: 0 },
    drivers: list(s.drivers),
    devices: list(s.devices).filter((d) => d && typeof d.latest === 'object' && d.latest !== null),
    buffer: s.buffer ?? null,
    forwarders: list(s.forwarders),
    counters: s.counters ?? {},
  };
}
