/**
 * `gridedge passwd`: the scrypt hash of a password, for `mqtt.users[].passwordHash` and
 * `http.users[].passwordHash`. The password is read from standard input (its first line), so it
 * appears neither in the shell history nor in the process list.
 */
import { hashPassword } from '../../broker/passwords.js';
import { EXIT, type Command } from '../command.js';
import { readSecret } from '../io.js';

/** Ctrl-C at the password prompt (raw mode: it arrives as a byte, not as SIGINT). */
const EXIT_CTRL_C = 130;

export const passwdCommand: Command = {
  name: 'passwd',
  summary: 'Print the scrypt hash of a password read from standard input (for passwordHash in the config)',
  options: {},
  positionals: [],
  details: [
    'Reads the first line of standard input (on a terminal: asks for it, not echoed); prints scrypt$N$r$p$salt$hash.',
    'Exit 1 for an empty password, 130 for Ctrl-C at the prompt.',
    'Example:',
    "  printf '%s\\n' 'the password' | gridedge passwd",
  ].join('\n'),
  async run(_args, io) {
    const password = await readSecret('Password (not shown): ', io.err);
    if (password === null) return EXIT_CTRL_C;
    if (password === '') {
      io.err('gridedge passwd: no password on standard input (its first line is the password)\n');
      return EXIT.badInput;
    }
    io.out(`${hashPassword(password)}\n`);
    return EXIT.ok;
  },
};
