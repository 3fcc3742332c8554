import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { COMMANDS } from '../../agent/cli/commands/index.js';
import { repoRoot } from '../helpers/agent-process.js';
import { withTimeout } from '../helpers/wait.js';
import { runCli } from './run-cli.js';

t.test('no command: usage on stderr, exit 1; --help: usage on stdout, exit 0', async (t) => {
  const none = await runCli([]);
  t.equal(none.code, 1);
  t.match(none.stderr, /^Usage: gridedge COMMAND/);
  const help = await runCli(['--help']);
  t.equal(help.code, 0);
  for (const c of COMMANDS) t.match(help.stdout, new RegExp(`\\n  ${c.name} +\\S`), `lists ${c.name}`);
});

t.test('--version prints the package version', async (t) => {
  const pkg = JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as { version: string };
  const r = await runCli(['--version']);
  t.same(r, { code: 0, stdout: `${pkg.version}\n`, stderr: '' });
});

t.test('every command has --help (exit 0, its usage first)', async (t) => {
  for (const c of COMMANDS) {
    const r = await runCli([...c.name.split(' '), '--help']);
    t.equal(r.code, 0, `${c.name} --help`);
    t.ok(r.stdout.startsWith(`Usage: gridedge ${c.name}`), `${c.name} usage`);
    t.match(r.stdout, /-h, --help/);
  }
  // `gridedge help GROUP` lists the group's subcommands (it printed the overview).
  const helpGroup = await runCli(['help', 'pmu']);
  t.equal(helpGroup.code, 0);
  t.match(helpGroup.stdout, /^Usage: gridedge pmu SUBCOMMAND/);
  t.match(helpGroup.stdout, /gridedge pmu probe HOST:PORT/);
  const helpTwo = await runCli(['help', 'sessions', 'end']);
  t.ok(helpTwo.stdout.startsWith('Usage: gridedge sessions end CLIENTID'), helpTwo.stdout);
  const group = await runCli(['config', '--help']);
  t.equal(group.code, 0);
  t.match(group.stdout, /gridedge config check FILE/);
  t.match(group.stdout, /gridedge config schema/);
});

t.test('bad input exits 1 and says what is wrong', async (t) => {
  const cases: [string[], RegExp][] = [
    [['frobnicate'], /^gridedge: unknown command "frobnicate"/],
    [['status', '--bogus'], /^gridedge status: unknown option --bogus\nUsage: gridedge status /],
    [['status', '--url'], /^gridedge status: option --url needs a value/],
    [['config'], /^gridedge config: missing subcommand/],
    [['config', 'validate', 'x.yaml'], /^gridedge config: unknown subcommand "validate"/],
    [['config', 'check'], /^gridedge config check: missing FILE\nUsage: gridedge config check FILE/],
    [['config', 'check', 'a.yaml', 'b.yaml'], /^gridedge config check: unexpected argument "b.yaml"/],
    [['tail'], /^gridedge tail: missing TOPIC/],
    [['status', '--url', 'ftp://x'], /^gridedge status: --url: must be an http:\/\/ or https:\/\/ URL, got "ftp:\/\/x"/],
    [['status', '--timeout', 'soon'], /^gridedge status: --timeout: must be a duration up to 1h such as 500ms, 2s or 1m \(a number without a unit is seconds\), got "soon"/],
    // Beyond Node's timer range a timeout used to fire at once (or throw ERR_OUT_OF_RANGE): refused.
    [['status', '--timeout', '1e9'], /^gridedge status: --timeout: must be a duration up to 1h such as 500ms, 2s or 1m \(a number without a unit is seconds\), got "1e9"/],
    [['buffer', '--timeout', '3601'], /^gridedge buffer: --timeout: must be a duration up to 1h such as 500ms, 2s or 1m \(a number without a unit is seconds\), got "3601"/],
    [['tail', 'x/#', '--timeout', '1e10'], /^gridedge tail: --timeout: must be a duration up to 1h such as 500ms, 2s or 1m \(a number without a unit is seconds\), got "1e10"/],
    [['pmu', 'probe', '127.0.0.1:4712', '--idcode', '1', '--timeout', '1e10'], /^gridedge pmu probe: --timeout: must be a duration up to 1h such as 500ms, 2s or 1m \(a number without a unit is seconds\), got "1e10"/],
    [['diag', '--timeout', '1e9'], /^gridedge diag: --timeout: must be a duration up to 1h such as 500ms, 2s or 1m \(a number without a unit is seconds\), got "1e9"/],
    // A negative number as the option's next argument reaches the option's own check.
    [['pf', 'case.m', '--tol', '-1'], /^gridedge pf: --tol: must be a positive number, got "-1"/],
    [['tail', 'x/#', '-n', '-3'], /^gridedge tail: --count: must be a positive integer, got "-3"/],
    [['status', '--timeout', '-.5'], /^gridedge status: --timeout: must be a duration up to 1h such as 500ms, 2s or 1m \(a number without a unit is seconds\), got "-.5"/],
    // Any value starting with '-' that is not an option is the option's value (login tokens are
    // base64url and may start with '-'): --token takes it, --url checks its own.
    [['status', '--token', '-Xq3_t0ken', '--url', 'ftp://x'], /^gridedge status: --url: must be an http:\/\/ or https:\/\/ URL, got "ftp:\/\/x"/],
    [['status', '--url', '-x'], /^gridedge status: --url: must be an http:\/\/ or https:\/\/ URL, got "-x"/],
    [['schedule', '--input', 'job.json', '--time-limit', '1e9'], /^gridedge schedule: --time-limit: must be a duration up to 1h such as 500ms, 2s or 1m \(a number without a unit is seconds\), got "1e9"/],
    // Hex is no number of seconds or per-unit tolerance (Number() read 0x10 as 16).
    [['status', '--timeout', '0x10'], /^gridedge status: --timeout: must be a duration up to 1h such as 500ms, 2s or 1m \(a number without a unit is seconds\), got "0x10"/],
    [['pf', 'case.m', '--tol', '0x1'], /^gridedge pf: --tol: must be a positive number, got "0x1"/],
    // An option with a value given twice: parseArgs kept the last one silently.
    [['status', '--url', 'http://10.0.0.1:8080', '--url=http://10.0.0.2:8080'], /^gridedge status: --url is given twice \("http:\/\/10\.0\.0\.1:8080" and "http:\/\/10\.0\.0\.2:8080"\); give it once\nUsage: gridedge status /],
    [['tail', 'x', '-n', '1', '--count', '2'], /^gridedge tail: --count is given twice \("1" and "2"\); give it once\n/],
    // ... and a password or token given twice is not repeated.
    [['tail', 'x', '-P', 'secret1', '--password', 'secret2'], /^gridedge tail: --password is given twice; give it once\n/],
    // An empty argument (an unset shell variable) is named, not taken for a file without extension.
    [['config', 'check', ''], /^gridedge config check: FILE is empty \(an unset shell variable\?\)\nUsage: gridedge config check FILE/],
    [['sessions', 'end', ''], /^gridedge sessions end: CLIENTID is empty/],
    // An option before any command is an option, not an unknown command.
    [['--url', 'http://x'], /^gridedge: unknown option --url \(options go after the command\)\n/],
    // `help` of a command that does not exist printed the overview with exit 0.
    [['help', 'stauts'], /^gridedge help: unknown command "stauts"\n/],
    [['config', 'check', '--env=1', 'x.yaml'], /^gridedge config check: option --env takes no value \(it is a switch: give it alone\)\n/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(args);
    t.equal(r.code, 1, args.join(' '));
    t.match(r.stderr, re, args.join(' '));
    t.equal(r.stdout, '', `${args.join(' ')}: nothing on stdout`);
  }
});

t.test('passwd: the scrypt hash of the password on standard input, which the broker accepts', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const { cliPath } = await import('../helpers/agent-process.js');
  const { verifyPassword } = await import('../../agent/broker/passwords.js');
  const ok = spawnSync(process.execPath, [cliPath(), 'passwd'], { input: 'correct horse\n', encoding: 'utf8' });
  t.equal(ok.status, 0, ok.stderr);
  const hash = ok.stdout.trim();
  t.match(hash, /^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  t.ok(verifyPassword('correct horse', hash), 'the hash verifies the password');
  t.notOk(verifyPassword('wrong', hash), 'and only it');
  const empty = spawnSync(process.execPath, [cliPath(), 'passwd'], { input: '', encoding: 'utf8' });
  t.equal(empty.status, 1);
  t.match(empty.stderr, /no password on standard input/);
});

t.test('usage lines show the options a command cannot run without without brackets (they read as optional)', async (t) => {
  const want: [string[], string][] = [
    [['se', '--help'], 'Usage: gridedge se --network CASE --measurements FILE [--alpha P]'],
    [['pmu', 'probe', '--help'], 'Usage: gridedge pmu probe HOST:PORT --idcode N [--frames N]'],
    [['schedule', '--help'], 'Usage: gridedge schedule --input FILE.json [--model pymfm|physical]'],
  ];
  for (const [args, start] of want) {
    const r = await runCli(args);
    t.ok(r.stdout.startsWith(start), `${args.join(' ')}: ${r.stdout.split('\n')[0]}`);
  }
  const m = await runCli(['modbus', 'read', '--help']);
  t.match(m.stdout.split('\n')[0], / --address N /, 'modbus read: --address is required');
});

t.test('output that cannot be written (a full disk: /dev/full) → one line naming why, exit 1 (it was an ENOSPC stack trace)', { skip: !existsSync('/dev/full') && 'no /dev/full here' }, async (t) => {
  const { spawn } = await import('node:child_process');
  const { cliPath } = await import('../helpers/agent-process.js');
  const { cleanEnv } = await import('./run-cli.js');
  const full = openSync('/dev/full', 'w');
  t.teardown(() => closeSync(full));
  const child = spawn(process.execPath, [cliPath(), 'config', 'schema'], { env: cleanEnv(), stdio: ['ignore', full, 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await withTimeout(new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c))), 'config schema > /dev/full to end');
  t.equal(code, 1);
  t.equal(stderr, 'gridedge: cannot write the output: no space left on the device (ENOSPC)\n');
});

t.test('messages that cannot be written (stderr on a full disk) do not change the exit code (status refused exited 1, not 2)', { skip: !existsSync('/dev/full') && 'no /dev/full here' }, async (t) => {
  const { spawn } = await import('node:child_process');
  const { cliPath } = await import('../helpers/agent-process.js');
  const { cleanEnv } = await import('./run-cli.js');
  const { refusedPort } = await import('../helpers/ports.js');
  const full = openSync('/dev/full', 'w');
  t.teardown(() => closeSync(full));
  const child = spawn(process.execPath, [cliPath(), 'status', '--url', `http://127.0.0.1:${await refusedPort()}`], { env: cleanEnv(), stdio: ['ignore', 'ignore', full] });
  const code = await withTimeout(new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c))), 'status 2>/dev/full to end');
  t.equal(code, 2, 'unreachable, as with a working stderr');
});

t.test('--version with an argument is refused like any unexpected argument (exit 1); it was ignored', async (t) => {
  for (const args of [['--version', 'extra'], ['-V', '--json'], ['version', 'x']]) {
    const r = await runCli(args);
    t.same(r, { code: 1, stdout: '', stderr: `gridedge ${args[0]}: unexpected argument "${args[1]}" (it takes none)\nUsage: gridedge --version\n` }, args.join(' '));
  }
});

t.test('help: an unknown subcommand of a group, or a word after a command, is a usage error (exit 1) naming it', async (t) => {
  // `sessions` is a command and a group (`sessions end`): the unknown word showed the group's help with exit 0.
  for (const [group, sub] of [['sessions', 'bogus'], ['config', 'bogus'], ['pmu', 'x']] as const) {
    const r = await runCli(['help', group, sub]);
    t.equal(r.code, 1, `help ${group} ${sub}`);
    t.equal(r.stdout, '');
    t.match(r.stderr, new RegExp(`^gridedge help ${group}: unknown subcommand "${sub}"\\n\\nUsage: gridedge ${group} SUBCOMMAND`));
  }
  for (const args of [['help', 'status', 'extra'], ['help', 'config', 'check', 'extra']]) {
    const r = await runCli(args);
    t.same(r, { code: 1, stdout: '', stderr: `gridedge help: unexpected argument "extra" after ${args.slice(1, -1).join(' ')}\nUsage: gridedge help COMMAND\n` }, args.join(' '));
  }
  // What help shows is unchanged.
  t.match((await runCli(['help', 'sessions'])).stdout, /^Usage: gridedge sessions \[--url URL\]/);
  t.match((await runCli(['help', 'sessions', 'end'])).stdout, /^Usage: gridedge sessions end CLIENTID/);
  t.match((await runCli(['help', 'config'])).stdout, /^Usage: gridedge config SUBCOMMAND/);
});
