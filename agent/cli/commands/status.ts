/** `gridedge status`: a running agent's health. Exit 0 healthy, 1 degraded, 2 unreachable. */
import { paintStates } from '../colour.js';
import { EXIT, EXIT_DEGRADED, MAX_TIMEOUT_S, positiveNumber, type Command, type Parsed } from '../command.js';
import { resolveHttpUrl } from '../endpoints.js';
import { fetchStatus } from '../fetch-status.js';
import type { Io } from '../io.js';
import { renderStatus } from '../status-text.js';

export const agentOptions = {
  url: { type: 'string', valueName: 'URL', description: 'The agent\'s HTTP address; default: from the config (http://127.0.0.1:8080)' },
  config: { type: 'string', short: 'c', valueName: 'FILE', description: 'Derive the address from this config file (default: $GRIDEDGE_CONFIG)' },
  json: { type: 'boolean', description: 'Print the JSON document instead of the summary' },
  timeout: { type: 'string', valueName: 'SECONDS', description: 'Give up after this long (default 5)' },
  token: { type: 'string', valueName: 'TOKEN', description: 'Bearer token for an agent with http.users (POST /api/v1/login gives one; default: $GRIDEDGE_TOKEN)' },
} as const;

/** The bearer token for an agent with http.users: `--token`, else $GRIDEDGE_TOKEN; none when empty. */
export function agentToken(values: Parsed['values'], env: Io['env']): string | undefined {
  return ((values['token'] as string | undefined) ?? env['GRIDEDGE_TOKEN']) || undefined;
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
  ].join('\n'),
  async run({ values }, io) {
    const timeout = positiveNumber('timeout', values['timeout'], MAX_TIMEOUT_S);
    if (typeof timeout === 'string') {
      io.err(`gridedge status: ${timeout}\n`);
      return EXIT.badInput;
    }
    const where = await resolveHttpUrl(values['url'] as string | undefined, values['config'] as string | undefined, io.env);
    if (!where.ok) {
      io.err(where.errors.map((e) => `gridedge status: ${e}\n`).join(''));
      return EXIT.badInput;
    }
    const r = await fetchStatus(where.url, timeout ?? 5, agentToken(values, io.env));
    if (!r.ok) {
      io.err(`gridedge status: cannot read the status at ${r.url}: ${r.reason}\n`);
      return EXIT.unreachable;
    }
    if (values['json']) io.out(`${JSON.stringify(r.status, null, 2)}\n`);
    else io.out(io.colour ? paintStates(renderStatus(r.status)) : renderStatus(r.status));
    return r.status.health === 'healthy' ? EXIT.ok : EXIT_DEGRADED;
  },
};
