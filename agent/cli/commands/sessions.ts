/**
 * `gridedge sessions`: the embedded broker's persistent MQTT sessions (GET /api/v1/broker/sessions,
 * every page of it: the agent answers at most 1000 a page);
 * `gridedge sessions end CLIENTID`: end one (DELETE /api/v1/broker/sessions/{clientId}).
 * Exit codes: 0 done; 1 bad input (an option, or no persistent session with that client id);
 * 2 the agent cannot be reached, or refused (a login or a higher role needed).
 */
import type { PersistentSession } from '../../broker/broker.js';
import { EXIT, MAX_TIMEOUT_S, positiveNumber, type Command, type Parsed } from '../command.js';
import { resolveHttpUrl } from '../endpoints.js';
import { agentRequest, detailOf, reasonOf } from '../fetch-status.js';
import { columns, count, duration, escapeControls, jsonText, printable } from '../format.js';
import type { Io } from '../io.js';
import { maskUrlPassword } from '../../core/secrets.js';
import { agentAccess, agentOptions } from './status.js';

export const SESSIONS_PATH = '/api/v1/broker/sessions';

interface SessionList {
  total: number;
  offline: number;
  items: PersistentSession[];
  /** Another page follows (an agent that pages its list); absent on the last page and from older agents. */
  next?: string;
}

/** Sessions asked for a page: the most the agent answers in one (agent/http/routes/broker-sessions.ts). */
const PAGE = 1000;
/** Pages followed at most (a million sessions, mqtt.maxSessions' most): an agent that keeps answering `next` cannot keep the CLI going for ever. */
const MAX_PAGES = 1000;

type Answer = { ok: true; body: unknown } | { ok: false; exit: number };

/**
 * Send one request to the agent, as `gridedge status` finds and reaches it (--url / --config, --token,
 * --ca, --timeout). Failures are printed as `gridedge COMMAND: ...`; `notFound` words a 404.
 */
async function callAgent(command: string, values: Parsed['values'], io: Io, method: 'GET' | 'DELETE', path: string, notFound: (detail: string | undefined) => { text: string; exit: number }): Promise<Answer> {
  const fail = (text: string, exit: number): Answer => {
    io.err(`gridedge ${command}: ${text}\n`);
    return { ok: false, exit };
  };
  const timeout = positiveNumber('timeout', values['timeout'], MAX_TIMEOUT_S);
  if (typeof timeout === 'string') return fail(timeout, EXIT.badInput);
  const access = agentAccess(values, io.env);
  if (!access.ok) return fail(access.error, EXIT.badInput);
  const where = await resolveHttpUrl(values['url'] as string | undefined, values['config'] as string | undefined, io.env);
  if (!where.ok) {
    io.err(where.errors.map((e) => `gridedge ${command}: ${e}\n`).join(''));
    return { ok: false, exit: EXIT.badInput };
  }
  const url = where.url + path;
  const at = `${maskUrlPassword(url)}${where.from ? ` (the address from ${where.from})` : ''}`;
  const timeoutS = timeout ?? 5;
  let res: { status: number; statusText: string; body: string };
  try {
    res = await agentRequest(url, timeoutS, access.access, method);
  } catch (e) {
    return fail(`cannot reach the agent at ${at}: ${reasonOf(e, timeoutS)}`, EXIT.unreachable);
  }
  const detail = detailOf(res.body);
  if (res.status === 401)
    return fail(
      `${at} needs a login (http.users): pass --token or set GRIDEDGE_TOKEN to a token from POST /api/v1/login${access.access.token ? ' (this one was refused)' : ''}`,
      EXIT.unreachable,
    );
  if (res.status === 403) return fail(`not allowed: ${detail ?? 'the agent refused (403)'}`, EXIT.unreachable);
  if (res.status === 404) {
    const n = notFound(detail);
    return fail(n.text, n.exit);
  }
  if (res.status < 200 || res.status > 299) return fail(`${at} answered HTTP ${res.status} ${res.statusText}${detail ? `: ${detail}` : ''}`.trim(), EXIT.unreachable);
  try {
    return { ok: true, body: JSON.parse(res.body) as unknown };
  } catch {
    return fail(`${at} answered something that is not JSON (is this a gridedge agent?)`, EXIT.unreachable);
  }
}

/** `connected`, or `offline 2 h 13 min (since 2026-11-30 16:22:01Z)`. */
function stateText(s: PersistentSession): string {
  if (s.connected) return 'connected';
  const since = s.offlineSince ? ` (since ${s.offlineSince.replace('T', ' ').replace(/\.\d+Z$/, 'Z')})` : '';
  return `offline ${s.offlineSeconds === null ? '?' : duration(s.offlineSeconds)}${since}`;
}

/** The human table of `gridedge sessions`. */
export function renderSessions(doc: SessionList): string {
  const list = printable(doc);
  const head = `${count(list.total)} persistent MQTT session${list.total === 1 ? '' : 's'}${list.total > 0 ? `, ${count(list.offline)} offline` : ''}`;
  if (list.items.length === 0) return `${head}\n`;
  const rows = [
    ['CLIENT ID', 'USER', 'QUEUED', 'SUBS', 'STATE'],
    ...list.items.map((s) => [s.clientId, s.username ?? '(anonymous)', count(s.queued), count(s.subscriptions), stateText(s)]),
  ];
  return `${head}\n${columns(rows).join('\n')}\n`;
}

const isList = (v: unknown): v is SessionList => typeof v === 'object' && v !== null && Array.isArray((v as SessionList).items);

export const sessionsCommand: Command = {
  name: 'sessions',
  summary: "List the broker's persistent MQTT sessions: owner, connected or offline since when, queued messages",
  options: agentOptions,
  positionals: [],
  details: [
    'Reads GET <url>/api/v1/broker/sessions (role operator when http.users is set), every page of it. A persistent session (clean: false) keeps',
    "its subscriptions and queues QoS 1/2 messages while its client is away; `gridedge sessions end CLIENTID` ends one.",
    'Exit codes: 0 listed, 1 bad input, 2 unreachable or refused (a login or the operator role needed, see --token).',
    'Examples:',
    '  gridedge sessions',
    '  gridedge sessions --url http://10.0.0.2:8080 --token "$TOKEN" --json',
  ].join('\n'),
  async run({ values }, io) {
    // The agent answers a page at a time (by client id): while a page says `next`, the next one is
    // asked for after the last client id seen, and the pages are printed as one list. `total` and
    // `offline` are the last page's (the newest count). An agent that does not page answers all in one.
    const list: SessionList = { total: 0, offline: 0, items: [] };
    let after: string | undefined;
    for (let pages = 0; ; pages++) {
      if (pages === MAX_PAGES) {
        io.err(`gridedge sessions: the agent kept answering more pages after ${MAX_PAGES} (${list.items.length} sessions); stopped\n`);
        return EXIT.unreachable;
      }
      const query = after === undefined ? '' : `?${new URLSearchParams({ limit: String(PAGE), after }).toString()}`;
      const r = await callAgent('sessions', values, io, 'GET', SESSIONS_PATH + query, () => ({
        text: 'the agent has no /api/v1/broker/sessions (a version older than this command?)',
        exit: EXIT.unreachable,
      }));
      if (!r.ok) return r.exit;
      if (!isList(r.body)) {
        io.err(`gridedge sessions: the agent answered JSON that is not a session list (is this a gridedge agent?)\n`);
        return EXIT.unreachable;
      }
      const page = r.body;
      list.total = page.total;
      list.offline = page.offline;
      list.items.push(...page.items);
      const last = page.items.at(-1)?.clientId;
      if (page.next === undefined || typeof last !== 'string') break;
      if (after !== undefined && last <= after) {
        io.err(`gridedge sessions: the agent answered a page that does not go past client id ${escapeControls(JSON.stringify(after))}; stopped\n`);
        return EXIT.unreachable;
      }
      after = last;
    }
    io.out(values['json'] ? jsonText(list) : renderSessions(list));
    return EXIT.ok;
  },
};

export const sessionsEndCommand: Command = {
  name: 'sessions end',
  summary: 'End a persistent MQTT session: disconnect its client, drop its subscriptions and queued messages',
  options: agentOptions,
  positionals: [{ name: 'CLIENTID', description: 'The client id of the session, as gridedge sessions lists it' }],
  details: [
    'Sends DELETE <url>/api/v1/broker/sessions/CLIENTID (role admin when http.users is set). The client id and its place under',
    "mqtt.maxSessions are free at once; the client's next connection starts a new, empty session. The agent logs who ended it.",
    'Exit codes: 0 ended, 1 bad input or no persistent session with that client id, 2 unreachable or refused (a login or the admin role needed).',
    'Examples:',
    '  gridedge sessions end scada-old',
    '  gridedge sessions end -- -odd-id   (a client id starting with "-")',
  ].join('\n'),
  async run({ values, positionals }, io) {
    if (positionals.length !== 1 || positionals[0] === '') {
      io.err(`gridedge sessions end: ${positionals.length === 0 || positionals[0] === '' ? 'missing CLIENTID (gridedge sessions lists them)' : `one CLIENTID at a time, got ${positionals.length}`}\n`);
      return EXIT.badInput;
    }
    const id = positionals[0]!;
    const r = await callAgent('sessions end', values, io, 'DELETE', `${SESSIONS_PATH}/${encodeURIComponent(id)}`, (detail) => ({
      text: detail ?? `no persistent MQTT session with client id ${JSON.stringify(id)}`,
      exit: EXIT.badInput,
    }));
    if (!r.ok) return r.exit;
    const s = r.body as PersistentSession;
    if (values['json']) io.out(jsonText(s));
    else
      io.out(
        `Ended the persistent session ${escapeControls(JSON.stringify(id))}${s.username ? ` of user ${escapeControls(String(s.username))}` : ''}: ${s.connected ? 'its client was disconnected; ' : ''}${count(s.queued)} queued message${s.queued === 1 ? '' : 's'} and ${count(s.subscriptions)} subscription${s.subscriptions === 1 ? '' : 's'} dropped.\n`,
      );
    return EXIT.ok;
  },
};
