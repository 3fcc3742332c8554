/**
 * Colour for a technician's terminal, and only there: on when stdout is a TTY, unless `NO_COLOR` is
 * set (https://no-color.org) or `TERM=dumb`; `FORCE_COLOR` (non-empty, not `0`) turns it on for a
 * pipe. Colour only repeats what the words already say (state names stay in the text), so output
 * piped into a file or `grep` is plain and nothing depends on seeing colour.
 */

const RESET = '\x1b[0m';
const STYLE = { red: '\x1b[31m', yellow: '\x1b[33m', green: '\x1b[32m', bold: '\x1b[1m' } as const;

export function colourWanted(isTty: boolean, env: NodeJS.ProcessEnv): boolean {
  const force = env['FORCE_COLOR'];
  if (force !== undefined && force !== '' && force !== '0') return true;
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') return false;
  if (env['TERM'] === 'dumb') return false;
  return isTty;
}

/** Words of the status summary and what they are painted with; whole words only. */
const WORDS: readonly [RegExp, string][] = [
  [/\b(DEGRADED|UNHEALTHY|WRITE ERROR|invalid|stale|stopped|disconnected)\b/g, STYLE.red],
  [/\b(degraded|questionable|starting|reconnecting)\b/g, STYLE.yellow],
  [/\b(HEALTHY|running|connected|good)\b/g, STYLE.green],
  [/^(Problems:)/gm, STYLE.bold + STYLE.red],
];

/** Paint the state words of an already laid-out text (escape codes are zero-width, so columns stay aligned). */
export function paintStates(text: string): string {
  let out = text;
  for (const [re, style] of WORDS) out = out.replace(re, (w) => `${style}${w}${RESET}`);
  return out;
}
