/**
 * Rules that span several options, checked on the whole document after every option on its own.
 * Values may still be invalid here (their own problems are already reported): check types first.
 */
import { isLoopbackHost } from '../broker/users.js';
import { reservationOverlaps } from '../broker/client-ids.js';
import { parseDuration } from './formats.js';
import { showValue, type Problem } from './problems.js';
import { tlsProblems } from '../core/tls-files.js';

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
  const tlsHost = mqttTlsHost(mqtt);
  if (tlsHost !== null && !isLoopbackHost(tlsHost)) exposed.push(`mqtt.tls.host ${showValue(tlsHost)}`);
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

/** The address the MQTT TLS listener binds, or null when it is off (no mqtt.tls.cert). */
function mqttTlsHost(mqtt: Doc): string | null {
  const tls = group(mqtt, 'tls');
  if (!tls['cert']) return null;
  const h = tls['host'];
  return typeof h === 'string' && h !== '' ? h : typeof mqtt['host'] === 'string' ? mqtt['host'] : null;
}

/**
 * A TLS listener's files: cert and key together (and a client CA only with them), then what is in
 * them (readable, PEM, the key belongs to the certificate).
 */
function tlsFilesRule(doc: Doc, section: 'mqtt' | 'http', problems: Problem[]): void {
  const tls = group(group(doc, section), 'tls');
  const given = (k: string): string | null => (typeof tls[k] === 'string' && tls[k] !== '' ? (tls[k] as string) : null);
  const cert = given('cert');
  const key = given('key');
  if (Boolean(cert) !== Boolean(key)) {
    problems.push({ path: `${section}.tls.${cert ? 'key' : 'cert'}`, message: `must be given with the other ${section}.tls file (both cert and key, or neither)` });
    return;
  }
  const ca = given('ca');
  if (ca && !cert) problems.push({ path: `${section}.tls.ca`, message: `needs ${section}.tls.cert and ${section}.tls.key (client certificates are asked for on the TLS listener only), got ${showValue(ca)}` });
  const crl = given('crl');
  if (crl && !ca) problems.push({ path: `${section}.tls.crl`, message: `needs ${section}.tls.ca (a CRL revokes client certificates, which are asked for only with ${section}.tls.ca), got ${showValue(crl)}` });
  if (tls['identityAsUsername'] === true && !ca)
    problems.push({ path: `${section}.tls.identityAsUsername`, message: `needs ${section}.tls.ca (without client certificates there is no name to log in with), got true` });
  // Not the validity dates: the agent starts (and reloads) with an expired certificate, as the data
  // path must not stop for it; config check warns, the status says so from 14 days before the end.
  if (cert && key) problems.push(...tlsProblems(`${section}.tls`, { cert, key, ...(ca ? { ca } : {}), ...(ca && crl ? { crl } : {}) }));
}

/** The page and the API off loopback need accounts. */
function httpRule(doc: Doc, problems: Problem[]): void {
  const http = group(doc, 'http');
  const users = Array.isArray(http['users']) ? http['users'] : [];
  if (typeof http['host'] === 'string' && !isLoopbackHost(http['host']) && users.length === 0)
    problems.push({
      path: 'http.users',
      message: `must name at least one account: http.host ${showValue(http['host'])} is not a loopback address, and the page and the API would be open to the network`,
    });
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

/** The listeners (plain MQTT, MQTT over TLS, HTTP) must not share a port on one address. */
function portClashRule(doc: Doc, problems: Problem[]): void {
  const mqtt = group(doc, 'mqtt');
  const http = group(doc, 'http');
  const listeners: { name: string; host: unknown; port: unknown }[] = [{ name: 'mqtt', host: mqtt['host'], port: mqtt['port'] }];
  const tlsHost = mqttTlsHost(mqtt);
  if (tlsHost !== null) listeners.push({ name: 'mqtt.tls', host: tlsHost, port: group(mqtt, 'tls')['port'] });
  listeners.push({ name: 'http', host: http['host'], port: http['port'] });
  for (let j = 1; j < listeners.length; j++)
    for (let i = 0; i < j; i++) {
      const a = listeners[i]!;
      const b = listeners[j]!;
      if (typeof b.port !== 'number' || b.port === 0 || b.port !== a.port) continue;
      const overlap = a.host === b.host || WILDCARD_HOSTS.has(String(a.host)) || WILDCARD_HOSTS.has(String(b.host));
      if (overlap) problems.push({ path: `${b.name}.port`, message: `must differ from ${a.name}.port on the same address, got ${showValue(b.port)}` });
    }
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
  tlsFilesRule(doc, 'mqtt', problems);
  tlsFilesRule(doc, 'http', problems);
  windowRule(doc, problems);
  portClashRule(doc, problems);
  clientIdRule(doc, problems);
  return problems;
}
