/**
 * Calls to the agent's API from the page. A 401 (no session, or it expired) sends the browser to
 * the login page; other failures resolve with the status and the problem's detail, so each section
 * can say what is missing instead of failing the whole page.
 */

export type ApiResult<T> = { ok: true; status: number; body: T } | { ok: false; status: number; detail: string };

let lostConnection = false;

/**
 * Whether the page lost its connection to the agent (a call could not reach it, or the event stream
 * dropped) since it last read the status. A 401 then sends the browser to `/login?why=restart`
 * (the login page says the agent has most likely restarted), otherwise to `/login?why=ended`.
 */
export function setLostConnection(lost: boolean): void {
  lostConnection = lost;
}

let leaving = false;

/**
 * The page is leaving on purpose (log out; or a 401 already sent it to the login page): from now on
 * a 401 (the status read after the event stream closed with the session) no longer redirects to the
 * login page with "session ended", which raced with the page's own navigation. With `to`, go there.
 */
export function leavePage(to?: string): void {
  leaving = true;
  if (to !== undefined) location.href = to;
}

export async function api<T>(path: string, init?: RequestInit): Promise<ApiResult<T>> {
  let r: Response;
  try {
    r = await fetch(path, { credentials: 'same-origin', ...init });
  } catch (e) {
    return { ok: false, status: 0, detail: `cannot reach the agent (${(e as Error).message})` };
  }
  if (r.status === 401) {
    if (!leaving) leavePage(lostConnection ? '/login?why=restart' : '/login?why=ended');
    return { ok: false, status: 401, detail: 'log in first' };
  }
  const type = r.headers.get('content-type') ?? '';
  const body: unknown = /json/.test(type) ? await r.json().catch(() => null) : await r.text();
  if (!r.ok) {
    const p = body as { detail?: string; title?: string } | null;
    return { ok: false, status: r.status, detail: (p && (p.detail || p.title)) || `HTTP ${r.status}` };
  }
  return { ok: true, status: r.status, body: body as T };
}
