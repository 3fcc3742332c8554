/**
 * Rules that span several options, checked on the whole document after every option on its own.
 * Values may still be invalid here (their own problems are already reported): check types first.
 */
import { isLoopbackHost } from '../broker/users.js';
import { parseDuration } from './formats.js';
import { showValue, type Problem } from './problems.js';

type Doc = Record<string, unknown>;

const group = (doc: Doc, key: string): Doc => {
  const g = doc[key];
  return typeof g === 'object' && g !== null && !Array.isArray(g) ? (g as Doc) : {};
};

/** CONTRACT: binding any non-loopback address with no user is an error unless allowAnonymous: true. */
function anonymousRule(doc: Doc, problems: Problem[]): void {
  const mqtt = group(doc, 'mqtt');
  const host = mqtt['host'];
  const users = Array.isArray(mqtt['users']) ? mqtt['users'] : [];
  if (typeof host !== 'string' || isLoopbackHost(host) || users.length > 0 || mqtt['allowAnonymous'] === true) return;
  problems.push({
    path: 'mqtt.allowAnonymous',
    message:
      `must be true to let anonymous clients in: mqtt.host ${showValue(host)} is not a loopback address and no mqtt.users ` +
      `are configured (add users, or set allowAnonymous: true explicitly), got ${showValue(mqtt['allowAnonymous'])}`,
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

function portClashRule(doc: Doc, problems: Problem[]): void {
  const mqtt = group(doc, 'mqtt');
  const http = group(doc, 'http');
  if (typeof mqtt['port'] !== 'number' || mqtt['port'] === 0 || mqtt['port'] !== http['port']) return;
  const overlap =
    mqtt['host'] === http['host'] || WILDCARD_HOSTS.has(String(mqtt['host'])) || WILDCARD_HOSTS.has(String(http['host']));
  if (overlap)
    problems.push({ path: 'http.port', message: `must differ from mqtt.port on the same address, got ${showValue(http['port'])}` });
}

export function crossFieldProblems(doc: Doc): Problem[] {
  const problems: Problem[] = [];
  anonymousRule(doc, problems);
  windowRule(doc, problems);
  portClashRule(doc, problems);
  return problems;
}
