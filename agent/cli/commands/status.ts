/** `gridedge status`: a running agent's health. Exit 0 healthy, 1 degraded, 2 unreachable. */
import { readFileSync } from 'node:fs';
import { maskUrlPassword } from '../../core/secrets.js';
import type { AgentStatus } from '../../core/status-types.js';
import { paintStates } from '../colour.js';
import { EXIT, EXIT_DEGRADED, MAX_TIMEOUT_S, positiveNumber, TIMEOUT_SECONDS, type Command, type Parsed } from '../command.js';
import { resolveHttpUrl } from '../endpoints.js';
import { fetchStatus, type AgentAccess } from '../fetch-status.js';
import type { Io } from '../io.js';
import { renderStatus } from '../status-text.js';
import { fileErrorText, jsonText } from '../format.js';

/** The options of every command that reads a running agent's HTTP API (status, buffer; diag takes some). */
export const agentOptions = {
  url: {
    type: 'string',
    valueName: 'URL',
    description: "The agent's HTTP address; default: from the config (http://127.0.0.1:8080, https:// with http.tls)",
  },
  config: {
    type: 'string',
    short: 'c',
    valueName: 'FILE',
    description: 'Derive the address from this config file (default: $GRIDEDGE_CONFIG, else /etc/gridedge/gridedge.yaml if readable, else the embedded default)',
  },
  ca: {
    type: 'string',
    valueName: 'FILE',
    description: "PEM certificate(s) to trust for the agent's HTTPS (http.tls): its own certificate or the CA that signed it (default: the system's CAs)",
  },
  json: { type: 'boolean', description: 'Print the JSON document instead of the summary' },
  timeout: { type: 'string', valueName: 'DURATION', duration: TIMEOUT_SECONDS, description: 'Give up after this long (default 5s)' },
  token: { type: 'string', valueName: 'TOKEN', description: 'Bearer token for an agent with http.users (POST /api/v1/login gives one; default: $GRIDEDGE_TOKEN)' },
} as const;

/** The bearer token for an agent with http.users: `--token`, else $GRIDEDGE_TOKEN; none when empty. */
export function agentToken(values: Parsed['values'], env: Io['env']): string | undefined {
  return ((values['token'] as string | undefined) ?? env['GRIDEDGE_TOKEN']) || undefined;
}

/** The token and the `--ca` certificates, or why `--ca` cannot be used (a message naming it). */
export function agentAccess(values: Parsed['values'], env: Io['env']): { ok: true; access: AgentAccess } | { ok: false; error: string } {
  const access: AgentAccess = {};
  const token = agentToken(values, env);
  if (token !== undefined) access.token = token;
  const caFile = values['ca'];
  if (typeof caFile === 'string') {
    let ca: Buffer;
    try {
      ca = readFileSync(caFile);
    } catch (e) {
      return { ok: false, error: `--ca: cannot read ${caFile}: ${fileErrorText(e)}` };
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) return { ok: false, error: `--ca: ${caFile} holds no PEM certificate` };
    access.ca = ca;
  }
  return { ok: true, access };
}

/**
 * What status and buffer share: check --timeout and --ca, find the agent, read its status. A
 * failure is printed as `gridedge COMMAND: ...` and given as the exit code (1 bad input, 2 unreachable).
 */
export async function readAgentStatus(command: string, values: Parsed['values'], io: Io): Promise<{ ok: true; status: AgentStatus; raw: AgentStatus } | { ok: false; exit: number }> {
  const timeout = positiveNumber('timeout', values['timeout'], MAX_TIMEOUT_S);
  if (typeof timeout === 'string') {
    io.err(`gridedge ${command}: ${timeout}\n`);
    return { ok: false, exit: EXIT.badInput };
  }
  const access = agentAccess(values, io.env);
  if (!access.ok) {
    io.err(`gridedge ${command}: ${access.error}\n`);
    return { ok: false, exit: EXIT.badInput };
  }
  const where = await resolveHttpUrl(values['url'] as string | undefined, values['config'] as string | undefined, io.env);
  if (!where.ok) {
    io.err(where.errors.map((e) => `gridedge ${command}: ${e}\n`).join(''));
    return { ok: false, exit: EXIT.badInput };
  }
  const r = await fetchStatus(where.url, timeout ?? 5, access.access);
  if (!r.ok) {
    io.err(`gridedge ${command}: cannot read the status at ${maskUrlPassword(r.url)}${where.from ? ` (the address from ${where.from})` : ''}: ${r.reason}\n`);
    return { ok: false, exit: EXIT.unreachable };
  }
  return { ok: true, status: r.status, raw: r.raw };
}

export const statusCommand: Command = {
  name: 'status',
  summary: "Show a running agent's health: drivers, devices, broker clients, buffer, forwarders, counters",
  options: agentOptions,
  positionals: [],
  details: [
    'Reads GET <url>/api/v1/status. Exit codes: 0 healthy, 1 degraded (problems listed), 2 unreachable or refused (a login needed, see --token).',
    'Colour on a terminal only (NO_COLOR=1 turns it off, FORCE_COLOR=1 on for a pipe).',
    'Examples:',
    '  gridedge status',
    '  gridedge status --url http://10.0.0.2:8080 --json',
    '  gridedge status --ca /etc/gridedge/https.crt   (http.tls with a self-signed certificate)',
  ].join('\n'),
  async run({ values }, io) {
    const r = await readAgentStatus('status', values, io);
    if (!r.ok) return r.exit;
    if (values['json']) io.out(jsonText(r.raw));
    else io.out(io.colour ? paintStates(renderStatus(r.status)) : renderStatus(r.status));
    return r.status.health === 'healthy' ? EXIT.ok : EXIT_DEGRADED;
  },
};
