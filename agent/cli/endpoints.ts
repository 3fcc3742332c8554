/**
 * Where a running agent is: `--url`, else derived from the config the agent would run with
 * (`--config`, else GRIDEDGE_CONFIG, else the embedded default; GRIDEDGE_* variables apply).
 */
import { isIP } from 'node:net';
import type { AgentConfig } from '../core/config-types.js';

export type Resolved = { ok: true; url: string } | { ok: false; errors: string[] };

/** A host to connect to for a bind address: a wildcard bind is reached on loopback. */
export function connectHost(bind: string): string {
  if (bind === '0.0.0.0' || bind === '') return '127.0.0.1';
  if (bind === '::' || bind === '[::]') return '[::1]';
  return isIP(bind) === 6 ? `[${bind}]` : bind;
}

async function agentConfig(
  configFlag: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<{ ok: true; config: AgentConfig } | { ok: false; errors: string[] }> {
  // Loaded on demand: the config pulls in every plugin's schema (and their libraries).
  const { loadConfig } = await import('../config/index.js');
  const file = configFlag ?? (env['GRIDEDGE_CONFIG'] || undefined);
  const r = loadConfig(file !== undefined ? { file, env } : { embeddedDefault: true, env });
  if (r.ok) return r;
  return { ok: false, errors: [`cannot derive the agent's address from the config ${file ?? '(embedded default)'} (pass --url):`, ...r.errors] };
}

/** The agent's HTTP base URL (no trailing slash). */
export async function resolveHttpUrl(urlFlag: string | undefined, configFlag: string | undefined, env: NodeJS.ProcessEnv): Promise<Resolved> {
  if (urlFlag !== undefined) {
    let u: URL;
    try {
      u = new URL(urlFlag);
    } catch {
      return { ok: false, errors: [`--url: must be an http:// or https:// URL, got ${JSON.stringify(urlFlag)}`] };
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      return { ok: false, errors: [`--url: must be an http:// or https:// URL, got ${JSON.stringify(urlFlag)}`] };
    return { ok: true, url: urlFlag.replace(/\/+$/, '') };
  }
  const c = await agentConfig(configFlag, env);
  if (!c.ok) return c;
  const { host, port } = c.config.http;
  if (port === 0) return { ok: false, errors: ['http.port is 0 (the agent picks a free port at start): pass --url'] };
  return { ok: true, url: `http://${connectHost(host)}:${port}` };
}

/** The embedded broker's URL: `--url`, else mqtt://<mqtt.host>:<mqtt.port> from the config. */
export async function resolveMqttUrl(urlFlag: string | undefined, configFlag: string | undefined, env: NodeJS.ProcessEnv): Promise<Resolved> {
  if (urlFlag !== undefined) {
    let u: URL;
    try {
      u = new URL(urlFlag);
    } catch {
      return { ok: false, errors: [`--url: must be an mqtt://, mqtts://, ws:// or wss:// URL, got ${JSON.stringify(urlFlag)}`] };
    }
    if (!['mqtt:', 'mqtts:', 'ws:', 'wss:', 'tcp:'].includes(u.protocol))
      return { ok: false, errors: [`--url: must be an mqtt://, mqtts://, ws:// or wss:// URL, got ${JSON.stringify(urlFlag)}`] };
    return { ok: true, url: urlFlag };
  }
  const c = await agentConfig(configFlag, env);
  if (!c.ok) return c;
  const { host, port } = c.config.mqtt;
  if (port === 0) return { ok: false, errors: ['mqtt.port is 0 (the agent picks a free port at start): pass --url'] };
  return { ok: true, url: `mqtt://${connectHost(host)}:${port}` };
}
