/** GET <url>/api/v1/status from a running agent, with a clear reason when it cannot be had. */
import type { AgentStatus } from '../core/status-types.js';

export const STATUS_PATH = '/api/v1/status';

export type FetchResult = { ok: true; status: AgentStatus; url: string } | { ok: false; url: string; reason: string };

/** Why a fetch failed, from undici's error and its cause (ECONNREFUSED, ENOTFOUND, timeout ...). */
function reasonOf(e: unknown, timeoutS: number): string {
  const err = e as Error & { cause?: NodeJS.ErrnoException & { errors?: NodeJS.ErrnoException[] } };
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return `no answer within ${timeoutS} s`;
  const cause = err.cause;
  const code = cause?.code ?? cause?.errors?.[0]?.code;
  const words: Record<string, string> = {
    ECONNREFUSED: 'connection refused (is the agent running, on this port?)',
    ENOTFOUND: 'host not found',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    ECONNRESET: 'connection reset',
    ETIMEDOUT: 'connection timed out',
  };
  if (code) return `${words[code] ?? (cause?.message ?? 'failed')} (${code})`;
  return cause?.message ?? err.message;
}

const isStatus = (v: unknown): v is AgentStatus =>
  typeof v === 'object' && v !== null && typeof (v as { health?: unknown }).health === 'string' && typeof (v as { gateway?: unknown }).gateway === 'string';

export async function fetchStatus(base: string, timeoutS: number): Promise<FetchResult> {
  const url = base.endsWith(STATUS_PATH) ? base : base + STATUS_PATH;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutS * 1000), headers: { accept: 'application/json' } });
  } catch (e) {
    return { ok: false, url, reason: reasonOf(e, timeoutS) };
  }
  let text: string;
  try {
    text = await res.text();
  } catch (e) {
    return { ok: false, url, reason: `the answer broke off: ${reasonOf(e, timeoutS)}` };
  }
  if (!res.ok) return { ok: false, url, reason: `answered HTTP ${res.status} ${res.statusText}`.trim() };
  let body: unknown;
  try {
    body = JSON.parse(text);
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
    broker: s.broker ?? { host: '?', port: 0, clients: 0, subscriptions: 0 },
    drivers: list(s.drivers),
    devices: list(s.devices).filter((d) => d && typeof d.latest === 'object' && d.latest !== null),
    buffer: s.buffer ?? null,
    forwarders: list(s.forwarders),
    counters: s.counters ?? {},
  };
}
