/** GET <url>/api/v1/status from a running agent, with a clear reason when it cannot be had. */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AgentStatus } from '../core/status-types.js';
import { oneLine, printable } from './format.js';

export const STATUS_PATH = '/api/v1/status';

/** `status`: made safe to render (`normalise`); `raw`: the document as served (for --json and diag). */
export type FetchResult = { ok: true; status: AgentStatus; raw: AgentStatus; url: string } | { ok: false; url: string; reason: string };

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

/**
 * The `detail` (else the `title`) of an RFC 9457 problem answer, on one line with terminal controls
 * escaped; undefined when the body is not one (an HTML error page of a proxy says nothing useful).
 */
export function detailOf(body: string): string | undefined {
  let p: unknown;
  try {
    p = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof p !== 'object' || p === null) return undefined;
  const { detail, title } = p as { detail?: unknown; title?: unknown };
  const text = typeof detail === 'string' && detail !== '' ? detail : typeof title === 'string' && title !== '' ? title : undefined;
  return text === undefined ? undefined : oneLine(printable(text), 200);
}

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
  if (res.status !== 200) {
    const detail = detailOf(res.body);
    return { ok: false, url, reason: `answered HTTP ${res.status} ${res.statusText}`.trim() + (detail ? `: ${detail}` : '') };
  }
  let body: unknown;
  try {
    body = JSON.parse(res.body);
  } catch {
    return { ok: false, url, reason: 'answered something that is not JSON (is this a gridedge agent?)' };
  }
  if (!isStatus(body)) return { ok: false, url, reason: 'answered JSON that is not a gridedge status (is this a gridedge agent?)' };
  return { ok: true, status: normalise(body), raw: body, url };
}

/**
 * Tolerate an agent of another version (or a proxy's idea of one): missing lists are empty, a list
 * entry that is not an object is left out, missing names and states are `?`, missing numbers NaN
 * (shown as `?`), so the summary never prints `undefined` nor fails on a field it lacks. `--json`
 * prints the document as served, not this.
 */
export function normalise(s: AgentStatus): AgentStatus {
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const objects = <T>(v: unknown): T[] => (Array.isArray(v) ? (v.filter(isObj) as T[]) : []);
  const str = (v: unknown): string => (typeof v === 'string' ? v : '?');
  const num = (v: unknown): number => (typeof v === 'number' ? v : NaN);
  const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x) ?? '?')) : []);
  const b = (isObj(s.broker) ? s.broker : {}) as Partial<AgentStatus['broker']>;
  return {
    ...s,
    version: typeof s.version === 'string' ? s.version : '?',
    problems: strings(s.problems),
    uptimeSeconds: num(s.uptimeSeconds),
    // sessions and offlineSessions stay absent when absent: the summary then leaves them out.
    broker: { ...b, host: str(b.host), port: num(b.port), clients: num(b.clients), subscriptions: num(b.subscriptions) } as AgentStatus['broker'],
    drivers: objects<AgentStatus['drivers'][number]>(s.drivers).map((d) => ({ ...d, id: str(d.id), type: str(d.type), state: str(d.state) as typeof d.state })),
    devices: objects<AgentStatus['devices'][number]>(s.devices)
      .filter((d) => isObj(d.latest))
      .map((d) => ({ ...d, device: str(d.device), latest: { ...d.latest, quality: str(d.latest.quality) as typeof d.latest.quality, reasons: strings(d.latest.reasons) } })),
    staleDevices: objects<NonNullable<AgentStatus['staleDevices']>[number]>(s.staleDevices).map((h) => ({ ...h, device: str(h.device), driver: str(h.driver) })),
    buffer: isObj(s.buffer) ? s.buffer : null,
    forwarders: objects<AgentStatus['forwarders'][number]>(s.forwarders).map((f) => ({ ...f, id: str(f.id), type: str(f.type), lag: num(f.lag), lagSeconds: num(f.lagSeconds) })),
    counters: isObj(s.counters) ? s.counters : {},
  };
}
