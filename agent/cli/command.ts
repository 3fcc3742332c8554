/**
 * The shape of a CLI command and the small parts every command shares: exit codes, its option
 * table (node:util parseArgs), its help text.
 */
import type { Io } from './io.js';

/**
 * Exit codes of every command: 0 success, 1 bad input (the message names what and where), 2 cannot
 * reach a needed peer; 70 an internal error (a bug). A command stopped by Ctrl-C (SIGINT) or SIGTERM
 * ends as the shell reports a signal: 130 or 143 (`interruptedExit`), except `tail`, whose normal
 * end it is (0), and `run`, which stops the agent cleanly (0).
 */
export const EXIT = { ok: 0, badInput: 1, unreachable: 2, internal: 70 } as const;

/** 128 + the signal number, as a shell reports a command a signal ended: SIGTERM 143, otherwise (SIGINT) 130. */
export function interruptedExit(signal: AbortSignal): number {
  return signal.reason === 'SIGTERM' ? 143 : 130;
}

/** Status-like commands also exit 1 when the agent answers but reports itself degraded. */
export const EXIT_DEGRADED = 1;

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Shown in help: `--url URL`. */
  valueName?: string;
  /** The command cannot run without it: its usage line shows it without brackets (the command itself says when it is missing). */
  required?: boolean;
  description: string;
}

export interface PositionalSpec {
  name: string;
  description: string;
}

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

export interface Command {
  /** One or two words: `status`, `config check`. */
  name: string;
  summary: string;
  options: Record<string, OptionSpec>;
  positionals: PositionalSpec[];
  /** Extra help text: examples, exit codes. */
  details?: string;
  /**
   * The command watches `io.signal` and ends itself cleanly on SIGINT/SIGTERM (closing connections,
   * removing what it half wrote). Any other command keeps the signals' default action: the process
   * ends at once, even while a computation (a power flow, a solver) holds the thread.
   */
  handlesSignals?: boolean;
  run(args: Parsed, io: Io): Promise<number>;
}

export function usageLine(c: Command): string {
  const opts = Object.entries(c.options).map(([k, o]) => {
    const text = `--${k}${o.type === 'string' ? ` ${o.valueName ?? 'VALUE'}` : ''}`;
    return o.required ? text : `[${text}]`;
  });
  return ['gridedge', c.name, ...c.positionals.map((p) => p.name), ...opts].join(' ');
}

/** An option as help lists it: `-c, --config FILE`. */
export function optionLabel(name: string, o: OptionSpec): string {
  return `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ` ${o.valueName ?? 'VALUE'}` : ''}`;
}

export function helpText(c: Command): string {
  const lines = [`Usage: ${usageLine(c)}`, '', c.summary];
  const rows: [string, string][] = Object.entries(c.options).map(([k, o]) => [optionLabel(k, o), o.description]);
  rows.push(['-h, --help', 'Show this help']);
  const width = Math.max(...rows.map((r) => r[0].length), ...c.positionals.map((p) => p.name.length));
  if (c.positionals.length) {
    lines.push('', 'Arguments:');
    for (const p of c.positionals) lines.push(`  ${p.name.padEnd(width)}  ${p.description}`);
  }
  lines.push('', 'Options:');
  for (const [l, r] of rows) lines.push(`  ${l.padEnd(width)}  ${r}`);
  if (c.details) lines.push('', c.details.trimEnd());
  return lines.join('\n') + '\n';
}

/** A positive integer option, or an error message naming the option. */
export function positiveInt(name: string, v: string | boolean | undefined): number | string | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < 1)
    return `--${name}: must be a positive integer, got ${JSON.stringify(v)}`;
  return n;
}

/**
 * A positive number option (seconds, a tolerance), or an error message naming the option. Decimal
 * notation only, with an exponent if wanted (`2.5`, `1e-8`): `0x10` is no number of seconds (Number()
 * read it as 16), as for the config's GRIDEDGE_* variables.
 */
export function positiveNumber(name: string, v: string | boolean | undefined, max = Infinity): number | string | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !/^\s*(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i.test(v) || !Number.isFinite(n) || n <= 0 || n > max)
    return `--${name}: must be a positive number${max < Infinity ? ` up to ${max}` : ''}, got ${JSON.stringify(v)}`;
  return n;
}

/** Longest wait a command's `--timeout SECONDS` takes (an hour; Node's timers stop at about 24.8 days). */
export const MAX_TIMEOUT_S = 3600;

/** What a technician's probe of a device or server gives: its result, or why not and the exit code. */
export type ProbeOutcome<R> = { ok: true; result: R } | { ok: false; exit: 1 | 2; message: string };

/**
 * The body of a probe command (`modbus read`, `opcua browse`): a request that did not parse (a
 * string) exits 1 with its message; a failed probe prints its message on stderr (and
 * `{ ok: false, error }` on stdout with --json) and exits with the probe's code; otherwise the
 * result is printed, as JSON or as `render` gives it.
 */
export async function runProbe<Q, R>(
  command: string,
  req: Q | string,
  probe: (req: Q) => Promise<ProbeOutcome<R>>,
  render: (result: R) => string,
  json: boolean,
  io: Io,
): Promise<number> {
  if (typeof req === 'string') {
    io.err(`gridedge ${command}: ${req}\n`);
    return EXIT.badInput;
  }
  const r = await probe(req);
  if (!r.ok) {
    if (json) io.out(`${JSON.stringify({ ok: false, error: r.message })}\n`);
    io.err(`gridedge ${command}: ${r.message}\n`);
    return r.exit;
  }
  io.out(json ? `${JSON.stringify(r.result, null, 2)}\n` : render(r.result));
  return EXIT.ok;
}
