/**
 * `gridedge passwd` at a terminal: the password is asked for and not echoed. A real pseudo-terminal
 * comes from util-linux `script`, which runs the CLI on one and copies what we write to its input;
 * what the terminal shows (echo included) comes back on its output. Input is written only once the
 * prompt is there, as a person would type it.
 */
import { spawn, spawnSync } from 'node:child_process';
import t from 'tap';
import { verifyPassword } from '../../agent/broker/passwords.js';
import { cliPath } from '../helpers/agent-process.js';
import { waitFor, withTimeout } from '../helpers/wait.js';
import { cleanEnv } from './run-cli.js';

const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;

/** Run `gridedge ARGS` on a terminal; type `keys` after the prompt; what the terminal showed and the exit code. */
async function onTerminal(args: string, keys: string): Promise<{ screen: string; code: string }> {
  const child = spawn('script', ['-qec', `"${process.execPath}" "${cliPath()}" ${args}; echo "[exit $?]"`, '/dev/null'], {
    env: cleanEnv(),
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let screen = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (screen += d));
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  await waitFor('the password prompt', () => screen.includes('(not shown): '), { on: [[child.stdout!, 'data']], detail: () => JSON.stringify(screen) });
  child.stdin!.write(keys);
  await withTimeout(closed, `gridedge ${args} to end after ${JSON.stringify(keys)}`);
  return { screen, code: /\[exit (\d+)\]/.exec(screen)?.[1] ?? '?' };
}

t.test('passwd on a terminal: a prompt, the password not echoed (it appeared on the screen), the hash of what was typed', { skip: !hasScript && 'no util-linux script here' }, async (t) => {
  const r = await onTerminal('passwd', 'hunter2\r');
  t.equal(r.code, '0', r.screen);
  t.match(r.screen, /^Password \(not shown\): /);
  t.notMatch(r.screen, /hunter2/, 'the password is not on the screen');
  const hash = /scrypt\$\S+/.exec(r.screen)?.[0];
  t.ok(hash && verifyPassword('hunter2', hash), `the hash is of the typed password: ${hash}`);

  const edited = await onTerminal('passwd', 'hx\u007funter2\r');
  const h2 = /scrypt\$\S+/.exec(edited.screen)?.[0];
  t.ok(h2 && verifyPassword('hunter2', h2), 'Backspace edits what was typed');
});

t.test('passwd on a terminal: Ctrl-C at the prompt exits 130, nothing printed', { skip: !hasScript && 'no util-linux script here' }, async (t) => {
  const r = await onTerminal('passwd', 'abc\u0003');
  t.equal(r.code, '130', r.screen);
  t.notMatch(r.screen, /scrypt|abc/);
});
