/**
 * The shape of a CLI command and the small parts every command shares: exit codes, its option
 * table (node:util parseArgs), its help text.
 */
import { parseDuration } from '../../algorithms/common/duration.js';
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
  /**
   * A duration (`--timeout 500ms`, `2s`, `1m`): cli.ts checks it against the range and hands the
   * command a plain number of `bare` units (`--timeout 2s` reaches a `bare: 'ms'` command as "2000").
   * A number without a unit is in `bare` units, as the option took it before units were accepted.
   */
  duration?: DurationSpec;
}

/** An option's durations: the unit of a bare number, and the range in milliseconds. */
export interface DurationSpec {
  bare: 's' | 'ms';
  /** Shortest accepted (default: anything above 0). */
  minMs?: number;
  maxMs: number;
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

/** An option's description as help and the man page show it: a duration option says which units it takes. */
export function optionDescription(o: OptionSpec): string {
  if (!o.duration) return o.description;
  return `${o.description}; a duration such as 500ms, 2s or 1m (a number without a unit is ${UNIT_WORD[o.duration.bare]})`;
}

export function helpText(c: Command): string {
  const lines = [`Usage: ${usageLine(c)}`, '', c.summary];
  const rows: [string, string][] = Object.entries(c.options).map(([k, o]) => [optionLabel(k, o), optionDescription(o)]);
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

/** A number in decimal notation, with an exponent if wanted (`2.5`, `1e-8`); not `0x10`, `Infinity`. */
const DECIMAL = /^\s*(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i;

/**
 * A positive number option (seconds, a tolerance), or an error message naming the option. Decimal
 * notation only, with an exponent if wanted (`2.5`, `1e-8`): `0x10` is no number of seconds (Number()
 * read it as 16), as for the config's GRIDEDGE_* variables.
 */
export function positiveNumber(name: string, v: string | boolean | undefined, max = Infinity): number | string | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !DECIMAL.test(v) || !Number.isFinite(n) || n <= 0 || n > max)
    return `--${name}: must be a positive number${max < Infinity ? ` up to ${max}` : ''}, got ${JSON.stringify(v)}`;
  return n;
}

/** Longest wait a command's `--timeout SECONDS` takes (an hour; Node's timers stop at about 24.8 days). */
export const MAX_TIMEOUT_S = 3600;

/** The durations of a `--timeout` given in seconds by default: above 0, at most MAX_TIMEOUT_S. */
export const TIMEOUT_SECONDS: DurationSpec = { bare: 's', maxMs: MAX_TIMEOUT_S * 1000 };

const UNIT_WORD = { s: 'seconds', ms: 'milliseconds' } as const;

/** 10ms, 2s, 1min, 1h: a limit as a technician would write it. */
function durationText(ms: number): string {
  if (ms >= 3_600_000 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}min`;
  if (ms >= 1000 && ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/**
 * A duration option's value as a number of its bare unit (`2s` → 2000 for `bare: 'ms'`; whole
 * milliseconds for those), or the message naming the option, the range, what a bare number means
 * and, for a bare number that fits only as seconds, how to write that (`--timeout 5` to a
 * milliseconds option: "for 5 seconds write 5s").
 */
export function durationValue(name: string, text: string, d: DurationSpec): number | string {
  const bare = DECIMAL.test(text);
  const ms = bare ? Number(text) * (d.bare === 's' ? 1000 : 1) : parseDuration(text);
  const min = d.minMs ?? 0;
  if (ms !== null && Number.isFinite(ms) && ms > 0 && ms >= min && ms <= d.maxMs) return d.bare === 's' ? ms / 1000 : Math.max(1, Math.round(ms));
  const range = d.minMs !== undefined ? `from ${durationText(d.minMs)} to ${durationText(d.maxMs)}` : `up to ${durationText(d.maxMs)}`;
  const asSeconds = Number(text) * 1000;
  const hint = bare && d.bare === 'ms' && asSeconds >= min && asSeconds <= d.maxMs ? `; for ${text.trim()} seconds write ${text.trim()}s` : '';
  return `--${name}: must be a duration ${range} such as 500ms, 2s or 1m (a number without a unit is ${UNIT_WORD[d.bare]}), got ${JSON.stringify(text)}${hint}`;
}

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
