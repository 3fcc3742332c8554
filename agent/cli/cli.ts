/**
 * The `gridedge` command line: finds the command in the table (commands/index.ts), parses its
 * options with node:util parseArgs, and runs it. Returns the exit code (0 success,
 * 1 bad input, 2 cannot reach a needed peer).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { COMMANDS } from './commands/index.js';
import { durationValue, EXIT, helpText, usageLine, type Command } from './command.js';
import type { Io } from './io.js';
import { packageVersion } from './package-info.js';

export function overview(commands: readonly Command[] = COMMANDS): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'Usage: gridedge COMMAND [options]',
    '',
    'gridedge: edge gateway agent for electrical substations.',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Every command takes --help (gridedge help COMMAND). Exit codes: 0 success, 1 bad input, 2 a needed peer cannot be reached;',
    '70 an internal error; Ctrl-C: 130 (tail and run: 0).',
    '',
  ].join('\n');
}

function groupText(group: string, commands: readonly Command[]): string {
  return [`Usage: gridedge ${group} SUBCOMMAND [options]`, '', 'Subcommands:', ...commands.map((c) => `  ${usageLine(c)}\n      ${c.summary}`), ''].join(
    '\n',
  );
}

/** Why parseArgs refused the arguments, in one short line. */
function parseErrorMessage(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const quoted = /'([^']+)'/.exec(err.message)?.[1];
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${quoted ?? ''}`.trim();
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/argument missing/.test(err.message)) return `option ${(quoted ?? '').replace(/ <value>$/, '')} needs a value`;
      if (/does not take an argument/.test(err.message)) return `option ${quoted ?? ''} takes no value (it is a switch: give it alone)`;
      return err.message.split('\n')[0]!;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${quoted ?? ''}`.trim();
    default:
      return err.message.split('\n')[0]!;
  }
}

/**
 * `--name -1` (or `-n -1`) for an option that takes a value: joined into `--name=-1`, so that a
 * negative number reaches the option's own check (and its message) instead of parseArgs taking it
 * for another option ("argument is ambiguous"). The same for any value starting with `-` that is not
 * one of the command's options (a token such as `-Xq3…`: login tokens are base64url); a known option
 * after it (`--url --json`) is left for parseArgs to say the value is missing.
 */
function joinNegativeValues(args: readonly string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const takesValue = new Set<string>();
  const longs = new Set<string>();
  const shorts = new Set<string>();
  for (const [name, o] of Object.entries(options)) {
    longs.add(`--${name}`);
    if (o.short) shorts.add(o.short);
    if (o.type !== 'string') continue;
    takesValue.add(`--${name}`);
    if (o.short) takesValue.add(`-${o.short}`);
  }
  const isOption = (x: string): boolean =>
    x.startsWith('--') ? longs.has(x.split('=')[0]!) : x.length >= 2 && x.length <= 4 && [...x.slice(1)].every((c) => shorts.has(c));
  const isValue = (x: string): boolean => /^-(\d|\.\d|Infinity$)/.test(x) || (x.startsWith('-') && x !== '-' && x !== '--' && !isOption(x));
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = args[i + 1];
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    if (takesValue.has(a) && next !== undefined && isValue(next)) {
      out.push(a.startsWith('--') ? `${a}=${next}` : `${a}${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** Options whose values are never repeated in a message. */
const SECRET_OPTIONS: ReadonlySet<string> = new Set(['password', 'token']);

/** The command an argument list names (`status ...`, `config check ...`), with the arguments after its name. */
export function findCommand(argv: readonly string[], commands: readonly Command[]): { cmd: Command; args: string[] } | null {
  const [first, second] = argv;
  const two = second !== undefined ? commands.find((c) => c.name === `${first} ${second}`) : undefined;
  if (two) return { cmd: two, args: argv.slice(2) };
  const one = commands.find((c) => c.name === first);
  return one ? { cmd: one, args: argv.slice(1) } : null;
}

export async function cli(argv: readonly string[], io: Io, commands: readonly Command[] = COMMANDS): Promise<number> {
  const first = argv[0];
  if (first === undefined) {
    io.err(overview(commands));
    return EXIT.badInput;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    // `gridedge help status`, `gridedge help config` (a group), `gridedge help config check`.
    const name = argv[1];
    if (name === undefined) {
      io.out(overview(commands));
      return EXIT.ok;
    }
    // Words after the topic are refused as after a command: `help sessions bogus` names the
    // unknown subcommand (it showed the group's help with exit 0), `help status extra` the argument.
    const topic = findCommand(argv.slice(1), commands);
    const group = commands.filter((c) => c.name.startsWith(`${name} `));
    if (topic && topic.args.length === 0) {
      io.out(helpText(topic.cmd));
      return EXIT.ok;
    }
    if (!topic && !group.length) {
      io.err(`gridedge help: unknown command "${name}"\n\n${overview(commands)}`);
      return EXIT.badInput;
    }
    if (topic && (topic.cmd.name.includes(' ') || !group.length)) {
      io.err(`gridedge help: unexpected argument "${topic.args[0]}" after ${topic.cmd.name}\nUsage: gridedge help COMMAND\n`);
      return EXIT.badInput;
    }
    const sub = argv[2];
    if (sub === undefined) {
      io.out(groupText(name, group));
      return EXIT.ok;
    }
    io.err(`gridedge help ${name}: unknown subcommand "${sub}"\n\n${groupText(name, group)}`);
    return EXIT.badInput;
  }
  if (first === '--version' || first === '-V' || first === 'version') {
    if (argv.length > 1) {
      io.err(`gridedge ${first}: unexpected argument "${argv[1]}" (it takes none)\nUsage: gridedge --version\n`);
      return EXIT.badInput;
    }
    io.out(`${packageVersion()}\n`);
    return EXIT.ok;
  }
  const found = findCommand(argv, commands);
  if (!found) {
    const group = commands.filter((c) => c.name.startsWith(`${first} `));
    if (group.length) {
      const sub = argv[1];
      if (sub === '--help' || sub === '-h') {
        io.out(groupText(first, group));
        return EXIT.ok;
      }
      io.err(`gridedge ${first}: ${sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`}\n\n${groupText(first, group)}`);
      return EXIT.badInput;
    }
    io.err(`gridedge: ${first.startsWith('-') ? `unknown option ${first} (options go after the command)` : `unknown command "${first}"`}\n\n${overview(commands)}`);
    return EXIT.badInput;
  }
  const { cmd, args } = found;
  const options: NonNullable<ParseArgsConfig['options']> = { help: { type: 'boolean', short: 'h' } };
  for (const [k, o] of Object.entries(cmd.options)) options[k] = o.short ? { type: o.type, short: o.short } : { type: o.type };
  const argList = joinNegativeValues(args, options);
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[]; tokens: { kind: string; name?: string; value?: string }[] };
  try {
    parsed = parseArgs({ args: argList, options, allowPositionals: true, strict: true, tokens: true }) as typeof parsed;
  } catch (e) {
    io.err(`gridedge ${cmd.name}: ${parseErrorMessage(e)}\nUsage: ${usageLine(cmd)}\n`);
    return EXIT.badInput;
  }
  // An option with a value given twice (`--url A ... --url B`, often a shell alias and a typed
  // option): parseArgs keeps the last one silently; which one was meant is the technician's call.
  const given = new Map<string, string>();
  for (const tk of parsed.tokens) {
    if (tk.kind !== 'option' || tk.name === undefined || tk.value === undefined) continue;
    const before = given.get(tk.name);
    if (before !== undefined) {
      const both = SECRET_OPTIONS.has(tk.name) ? '' : ` (${JSON.stringify(before)} and ${JSON.stringify(tk.value)})`;
      io.err(`gridedge ${cmd.name}: --${tk.name} is given twice${both}; give it once\nUsage: ${usageLine(cmd)}\n`);
      return EXIT.badInput;
    }
    given.set(tk.name, tk.value);
  }
  if (parsed.values['help']) {
    io.out(helpText(cmd));
    return EXIT.ok;
  }
  const empty = parsed.positionals.findIndex((p) => p === '');
  if (empty >= 0 && empty < cmd.positionals.length) {
    io.err(`gridedge ${cmd.name}: ${cmd.positionals[empty]!.name} is empty (an unset shell variable?)\nUsage: ${usageLine(cmd)}\n`);
    return EXIT.badInput;
  }
  const want = cmd.positionals.length;
  if (parsed.positionals.length !== want) {
    const what =
      parsed.positionals.length < want
        ? `missing ${cmd.positionals.slice(parsed.positionals.length).map((p) => p.name).join(' ')}`
        : `unexpected argument "${parsed.positionals[want]}"`;
    io.err(`gridedge ${cmd.name}: ${what}\nUsage: ${usageLine(cmd)}\n`);
    return EXIT.badInput;
  }
  // Durations (`--timeout 500ms`) reach the command as a plain number of the option's bare unit.
  for (const [k, o] of Object.entries(cmd.options)) {
    const v = parsed.values[k];
    if (!o.duration || typeof v !== 'string') continue;
    const d = durationValue(k, v, o.duration);
    if (typeof d === 'string') {
      io.err(`gridedge ${cmd.name}: ${d}\n`);
      return EXIT.badInput;
    }
    parsed.values[k] = String(d);
  }
  return cmd.run({ values: parsed.values, positionals: parsed.positionals }, io);
}
