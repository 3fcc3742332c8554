/**
 * `gridedge passwd`: the scrypt hash of a password, for `mqtt.users[].passwordHash` and
 * `http.users[].passwordHash`. The password is read from standard input (its first line), so it
 * appears neither in the shell history nor in the process list.
 */
import { hashPassword } from '../../broker/passwords.js';
import { EXIT, type Command } from '../command.js';

async function firstLine(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) {
    text += String(chunk);
    if (text.includes('\n') || text.length > 4096) break;
  }
  return text.split(/\r?\n/)[0] ?? '';
}

export const passwdCommand: Command = {
  name: 'passwd',
  summary: 'Print the scrypt hash of a password read from standard input (for passwordHash in the config)',
  options: {},
  positionals: [],
  details: [
    'Reads the first line of standard input; prints scrypt$N$r$p$salt$hash. Exit 1 for an empty password.',
    'Example:',
    "  printf '%s\\n' 'the password' | gridedge passwd",
  ].join('\n'),
  async run(_args, io) {
    const password = await firstLine(process.stdin);
    if (password === '') {
      io.err('gridedge passwd: no password on standard input (its first line is the password)\n');
      return EXIT.badInput;
    }
    io.out(`${hashPassword(password)}\n`);
    return EXIT.ok;
  },
};
