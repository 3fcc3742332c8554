/**
 * `gridedge passwd`: the scrypt hash of a password, for `mqtt.users[].passwordHash` and
 * `http.users[].passwordHash`. The password is read from standard input (its first line), so it
 * appears neither in the shell history nor in the process list.
 */
import { hashPassword } from '../../broker/passwords.js';
import { EXIT, type Command } from '../command.js';
import { firstLine } from '../io.js';

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
