/**
 * The man page's COMMANDS section, made from the command table (commands/index.ts): per command its
 * usage line, summary, arguments and options, as `--help` gives them. packaging/gridedge.1 holds it
 * between the `.\" commands:start` and `.\" commands:end` lines; packaging/build-deb.sh renders the
 * page again when it builds the package, and test/cli/man.test.ts checks that the committed page is
 * what the table gives (regenerate: `npm run man`).
 */
import { optionDescription, optionLabel, usageLine, type Command } from './command.js';
import { COMMANDS } from './commands/index.js';

export const MAN_START = '.\\" commands:start';
export const MAN_END = '.\\" commands:end';

/** Text for roff: backslashes and hyphens escaped; a line starting with `.` or `'` is not a request. */
export function roffText(s: string): string {
  return s
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/^([.'])/gm, '\\&$1');
}

/** The COMMANDS section's body (without the `.SH` line): one `.TP` paragraph per command. */
export function manCommands(commands: readonly Command[] = COMMANDS): string {
  const out: string[] = [];
  for (const c of commands) {
    out.push('.TP', `.B ${roffText(usageLine(c).replace(/^gridedge /, ''))}`, roffText(/[.!?]$/.test(c.summary) ? c.summary : `${c.summary}.`));
    const rows: [string, string][] = [
      ...c.positionals.map((p): [string, string] => [p.name, p.description]),
      ...Object.entries(c.options).map(([k, o]): [string, string] => [optionLabel(k, o), optionDescription(o)]),
    ];
    if (rows.length) {
      out.push('.RS');
      for (const [label, text] of rows) out.push('.TP', `.B ${roffText(label)}`, roffText(text));
      out.push('.RE');
    }
  }
  return out.join('\n') + '\n';
}

/** `page` with the text between its COMMANDS markers made from `commands`. */
export function renderManPage(page: string, commands: readonly Command[] = COMMANDS): string {
  const a = page.indexOf(`${MAN_START}\n`);
  const b = page.indexOf(`${MAN_END}\n`);
  if (a < 0 || b < a) throw new Error(`the man page has no "${MAN_START}" and "${MAN_END}" lines`);
  return page.slice(0, a + MAN_START.length + 1) + manCommands(commands) + page.slice(b);
}
