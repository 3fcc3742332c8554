/**
 * Rules that span several options, checked on the whole document after every option on its own.
 * Values may still be invalid here (their own problems are already reported): check types first.
 */
import { isLoopbackHost } from '../broker/users.js';
import { reservationOverlaps } from '../broker/client-ids.js';
import { parseDuration } from './formats.js';
import { showValue, type Problem } from './problems.js';

type Doc = Record<string, unknown>;

const group = (doc: Doc, key: string): Doc => {
  const g = doc[key];
  return typeof g === 'object' && g !== null && !Array.isArray(g) ? (g as Doc) : {};
};

/**
 * Anonymous access needs saying so: when no mqtt.users are configured, every client gets full access,
 * so the broker may only be reachable from this machine — on its TCP listener (mqtt.host) and on
 * MQTT over WebSocket (http.host, when mqtt.websocket.enabled) — unless mqtt.allowAnonymous is true.
 */
function anonymousRule(doc: Doc, problems: Problem[]): void {
  const mqtt = group(doc, 'mqtt');
  const http = group(doc, 'http');
  const users = Array.isArray(mqtt['users']) ? mqtt['users'] : [];
  if (users.length > 0 || mqtt['allowAnonymous'] === true) return;
  const exposed: string[] = [];
  if (typeof mqtt['host'] === 'string' && !isLoopbackHost(mqtt['host'])) exposed.push(`mqtt.host ${showValue(mqtt['host'])}`);
  const ws = group(mqtt, 'websocket');
  if (ws['enabled'] !== false && typeof http['host'] === 'string' && !isLoopbackHost(http['host']))
    exposed.push(`http.host ${showValue(http['host'])} (MQTT over WebSocket is enabled there)`);
  if (exposed.length === 0) return;
  problems.push({
    path: 'mqtt.allowAnonymous',
    message:
      `must be true to let anonymous clients in: ${exposed.join(' and ')} ${exposed.length > 1 ? 'are' : 'is'} not a loopback address and no mqtt.users ` +
      `are configured (add users, or set allowAnonymous: true explicitly${exposed.some((e) => e.startsWith('http')) ? ', or set mqtt.websocket.enabled: false' : ''}), got ${showValue(mqtt['allowAnonymous'])}`,
  });
}

/** The page and the API off loopback need accounts; with `http.tls`, both its files. */
function httpRule(doc: Doc, problems: Problem[]): void {
  const http = group(doc, 'http');
  const users = Array.isArray(http['users']) ? http['users'] : [];
  if (typeof http['host'] === 'string' && !isLoopbackHost(http['host']) && users.length === 0)
    problems.push({
      path: 'http.users',
      message: `must name at least one account: http.host ${showValue(http['host'])} is not a loopback address, and the page and the API would be open to the network`,
    });
  const tls = group(http, 'tls');
  if (Boolean(tls['cert']) !== Boolean(tls['key']))
    problems.push({ path: tls['cert'] ? 'http.tls.key' : 'http.tls.cert', message: 'must be given with the other http.tls file (both cert and key, or neither)' });
}

function windowRule(doc: Doc, problems: Problem[]): void {
  const windows = group(doc, 'stats')['windows'];
  if (!Array.isArray(windows)) return;
  const seen = new Map<number, number>();
  windows.forEach((w, k) => {
    if (typeof w !== 'string') return;
    const ms = parseDuration(w);
    if (ms === null) return;
    const first = seen.get(ms);
    if (first !== undefined)
      problems.push({ path: `stats.windows[${k}]`, message: `must differ from the other windows (stats.windows[${first}] is as long), got ${showValue(w)}` });
    else seen.set(ms, k);
  });
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]']);

function portClashRule(doc: Doc, problems: Problem[]): void {
  const mqtt = group(doc, 'mqtt');
  const http = group(doc, 'http');
  if (typeof mqtt['port'] !== 'number' || mqtt['port'] === 0 || mqtt['port'] !== http['port']) return;
  const overlap =
    mqtt['host'] === http['host'] || WILDCARD_HOSTS.has(String(mqtt['host'])) || WILDCARD_HOSTS.has(String(http['host']));
  if (overlap)
    problems.push({ path: 'http.port', message: `must differ from mqtt.port on the same address, got ${showValue(http['port'])}` });
}

/**
 * `mqtt.users[].clientIds` of different users must not reserve a common client id: one reserved for
 * two users would belong to neither (each could lock the other out, or take its session over).
 */
function clientIdRule(doc: Doc, problems: Problem[]): void {
  const users = group(doc, 'mqtt')['users'];
  if (!Array.isArray(users)) return;
  const entries = users.map((u) => (typeof u === 'object' && u !== null ? (u as Doc) : {}));
  const name = (i: number): string => (typeof entries[i]!['username'] === 'string' ? ` (user ${showValue(entries[i]!['username'])})` : '');
  for (const o of reservationOverlaps(entries)) {
    const mine = (entries[o.j]!['clientIds'] as unknown[])[o.l];
    const theirs = (entries[o.i]!['clientIds'] as unknown[])[o.k];
    problems.push({
      path: `mqtt.users[${o.j}].clientIds[${o.l}]`,
      message:
        `must not overlap mqtt.users[${o.i}].clientIds[${o.k}] ${showValue(theirs)}${name(o.i)}: both match ${showValue(o.example)}, ` +
        `and a client id can be reserved for one user only, got ${showValue(mine)}`,
    });
  }
}

export function crossFieldProblems(doc: Doc): Problem[] {
  const problems: Problem[] = [];
  anonymousRule(doc, problems);
  httpRule(doc, problems);
  windowRule(doc, problems);
  portClashRule(doc, problems);
  clientIdRule(doc, problems);
  return problems;
}
