/**
 * Where a running agent is: `--url`, else derived from the config the agent would run with:
 * `--config`, else GRIDEDGE_CONFIG, else the installed /etc/gridedge/gridedge.yaml when it exists and
 * is readable (the packaged service runs with it), else the embedded default; GRIDEDGE_* variables
 * apply. Each answer says where the address came from, for the commands' messages.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { isIP } from 'node:net';
import type { AgentConfig } from '../core/config-types.js';
import { maskUrlPassword } from '../core/secrets.js';
import { escapeControls } from './format.js';

/** The config the packaged service runs with (systemd/gridedge.service: `run --config` it). */
export const INSTALLED_CONFIG = '/etc/gridedge/gridedge.yaml';

/** Another path in place of INSTALLED_CONFIG: for the CLI's tests only, which must not read the machine's. */
export const INSTALLED_CONFIG_TEST_VAR = 'GRIDEDGE_TEST_INSTALLED_CONFIG';

/** `from`: where the address came from, e.g. "the config /etc/gridedge/gridedge.yaml" (absent for --url). */
export type Resolved = { ok: true; url: string; from?: string } | { ok: false; errors: string[] };

/** The config file to derive addresses from (undefined: the embedded default), and how it was chosen, in words. */
export interface ConfigSource {
  file: string | undefined;
  what: string;
}

/** `--config`, else $GRIDEDGE_CONFIG, else the installed config if it is a readable file, else the embedded default. */
export function configSource(configFlag: string | undefined, env: NodeJS.ProcessEnv): ConfigSource {
  if (configFlag !== undefined) return { file: configFlag, what: `the config ${configFlag}` };
  const fromEnv = env['GRIDEDGE_CONFIG'] || undefined;
  if (fromEnv !== undefined) return { file: fromEnv, what: `the config ${fromEnv} ($GRIDEDGE_CONFIG)` };
  const installed = env[INSTALLED_CONFIG_TEST_VAR] || INSTALLED_CONFIG;
  try {
    if (!statSync(installed).isFile()) return { file: undefined, what: `the embedded default (${installed} is not a file)` };
    accessSync(installed, constants.R_OK);
    return { file: installed, what: `the config ${installed}` };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    if (code === 'ENOENT' || code === 'ENOTDIR') return { file: undefined, what: `the embedded default (no ${installed})` };
    return { file: undefined, what: `the embedded default (${installed} is not readable: ${code}; use sudo, --config or --url)` };
  }
}

/** A host to connect to for a bind address: a wildcard bind is reached on loopback. */
export function connectHost(bind: string): string {
  if (bind === '0.0.0.0' || bind === '') return '127.0.0.1';
  if (bind === '::' || bind === '[::]') return '[::1]';
  return isIP(bind) === 6 ? `[${bind}]` : bind;
}

async function agentConfig(
  configFlag: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<{ ok: true; config: AgentConfig; from: string } | { ok: false; errors: string[] }> {
  // Loaded on demand: the config pulls in every plugin's schema (and their libraries).
  const { loadConfig } = await import('../config/index.js');
  const source = configSource(configFlag, env);
  const r = loadConfig(source.file !== undefined ? { file: source.file, env } : { embeddedDefault: true, env });
  if (r.ok) return { ok: true, config: r.config, from: source.what };
  return { ok: false, errors: [`cannot derive the agent's address from ${source.what} (pass --url):`, ...r.errors.map(escapeControls)] };
}

/**
 * `--url` checked: one of `schemes` (`http:` ...), a host, a port between 1 and 65535; otherwise the
 * message names what is wrong (`words`: how the schemes read, `example`: a URL of the right form),
 * quoting the URL with its password masked.
 */
export function urlProblem(flag: string, schemes: readonly string[], words: string, example: string): string | undefined {
  // The URL is quoted with its password masked: `mqtt://user:pass@host:99999` is still a secret.
  const got = `got ${JSON.stringify(maskUrlPassword(flag))}`;
  const wrongScheme = `--url: must be ${words} URL, ${got} (e.g. ${example})`;
  let u: URL;
  try {
    u = new URL(flag);
  } catch {
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(flag)) return wrongScheme;
    if (/^[a-z][a-z0-9+.-]*:\/\/\[[^\]]*$/i.test(flag)) return `--url: not a valid URL (an IPv6 address goes in [ ], e.g. [::1]:8080), ${got}`;
    const port = /^[a-z][a-z0-9+.-]*:\/\/(?:\[[^\]]*\]|[^/:?#]*):([^/?#]*)/i.exec(flag)?.[1];
    if (port !== undefined && !/^\d+$/.test(port)) return `--url: the port must be a number between 1 and 65535, ${got}`;
    if (port !== undefined && Number(port) > 65535) return `--url: the port must be between 1 and 65535, ${got}`;
    return `--url: not a valid URL (check the host name or address), ${got}`;
  }
  if (!schemes.includes(u.protocol)) return wrongScheme;
  if (u.hostname === '') return `--url: names no host, ${got}`;
  if (u.port === '0') return `--url: the port must be between 1 and 65535, ${got}`;
  return undefined;
}

/** The agent's HTTP base URL (no trailing slash): https:// when the config sets http.tls. */
export async function resolveHttpUrl(urlFlag: string | undefined, configFlag: string | undefined, env: NodeJS.ProcessEnv): Promise<Resolved> {
  if (urlFlag !== undefined) {
    const bad = urlProblem(urlFlag, ['http:', 'https:'], 'an http:// or https://', 'http://10.0.0.2:8080');
    if (bad) return { ok: false, errors: [bad] };
    return { ok: true, url: urlFlag.replace(/\/+$/, '') };
  }
  const c = await agentConfig(configFlag, env);
  if (!c.ok) return c;
  const { host, port } = c.config.http;
  if (port === 0) return { ok: false, errors: [`http.port is 0 in ${c.from} (the agent picks a free port at start): pass --url`] };
  const scheme = c.config.http.tls?.cert ? 'https' : 'http';
  return { ok: true, url: `${scheme}://${connectHost(host)}:${port}`, from: c.from };
}

/** The embedded broker's URL: `--url`, else mqtt://<mqtt.host>:<mqtt.port> from the config. */
export async function resolveMqttUrl(urlFlag: string | undefined, configFlag: string | undefined, env: NodeJS.ProcessEnv): Promise<Resolved> {
  if (urlFlag !== undefined) {
    const bad = urlProblem(urlFlag, ['mqtt:', 'mqtts:', 'ws:', 'wss:', 'tcp:'], 'an mqtt://, mqtts://, ws:// or wss://', 'mqtt://10.0.0.2:1883');
    if (bad) return { ok: false, errors: [bad] };
    return { ok: true, url: urlFlag };
  }
  const c = await agentConfig(configFlag, env);
  if (!c.ok) return c;
  const { host, port } = c.config.mqtt;
  if (port === 0) return { ok: false, errors: [`mqtt.port is 0 in ${c.from} (the agent picks a free port at start): pass --url`] };
  return { ok: true, url: `mqtt://${connectHost(host)}:${port}`, from: c.from };
}
