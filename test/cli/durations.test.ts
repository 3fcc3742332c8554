/**
 * `--timeout` (and `schedule --time-limit`) take durations with a unit in every command (`500ms`,
 * `2s`, `1m`): `modbus read` and `opcua browse` took only milliseconds, the others only seconds. A
 * number without a unit keeps the unit the option had (seconds; milliseconds for modbus and opcua),
 * so scripts keep their meaning; help says which, and a bare number that fits only as seconds is
 * refused with the spelling to use.
 */
import t from 'tap';
import { durationValue, TIMEOUT_SECONDS } from '../../agent/cli/command.js';
import { COMMANDS } from '../../agent/cli/commands/index.js';
import { runCli, silentServer } from './run-cli.js';

const MODBUS = { bare: 'ms', minMs: 10, maxMs: 60_000 } as const;

t.test('durationValue: units, the bare unit, the range', async (t) => {
  t.equal(durationValue('timeout', '500ms', TIMEOUT_SECONDS), 0.5);
  t.equal(durationValue('timeout', '2s', TIMEOUT_SECONDS), 2);
  t.equal(durationValue('timeout', '1m', TIMEOUT_SECONDS), 60);
  t.equal(durationValue('timeout', '1h', TIMEOUT_SECONDS), 3600);
  t.equal(durationValue('timeout', '2.5', TIMEOUT_SECONDS), 2.5, 'bare: seconds, as before');
  t.equal(durationValue('timeout', '2s', MODBUS), 2000);
  t.equal(durationValue('timeout', '1.1s', MODBUS), 1100, 'whole milliseconds');
  t.equal(durationValue('timeout', '250', MODBUS), 250, 'bare: milliseconds, as before');
  t.equal(durationValue('timeout', '1min', MODBUS), 60_000);
  const secondsRange = 'must be a duration up to 1h such as 500ms, 2s or 1m (a number without a unit is seconds)';
  for (const bad of ['soon', '0', '0s', '-1', '2h', '3601', '0x10', '5 parsecs', ''])
    t.equal(durationValue('timeout', bad, TIMEOUT_SECONDS), `--timeout: ${secondsRange}, got ${JSON.stringify(bad)}`, bad);
  const msRange = 'must be a duration from 10ms to 1min such as 500ms, 2s or 1m (a number without a unit is milliseconds)';
  t.equal(durationValue('timeout', '5', MODBUS), `--timeout: ${msRange}, got "5"; for 5 seconds write 5s`, 'a bare 5 to a milliseconds option: 5s suggested');
  t.equal(durationValue('timeout', '2m', MODBUS), `--timeout: ${msRange}, got "2m"`);
  t.equal(durationValue('timeout', '5ms', MODBUS), `--timeout: ${msRange}, got "5ms"`, 'with a unit: no suggestion');
  t.equal(durationValue('timeout', '90000', MODBUS), `--timeout: ${msRange}, got "90000"`, '90 000 s would not fit either');
});

t.test('every --timeout and --time-limit takes a duration, and its help says what a bare number is', async (t) => {
  const bareUnit: Record<string, string> = { 'modbus read': 'milliseconds', 'opcua browse': 'milliseconds' };
  let seen = 0;
  for (const c of COMMANDS) {
    for (const [name, o] of Object.entries(c.options)) {
      if (name !== 'timeout' && name !== 'time-limit') continue;
      seen++;
      t.ok(o.duration, `${c.name} --${name} takes a duration`);
      const help = await runCli([...c.name.split(' '), '--help']);
      t.match(help.stdout, new RegExp(`--${name} DURATION .*a duration such as 500ms, 2s or 1m \\(a number without a unit is ${bareUnit[c.name] ?? 'seconds'}\\)`), `${c.name} --help`);
    }
  }
  t.ok(seen >= 9, `status, buffer, sessions, sessions end, tail, pmu probe, diag, schedule, modbus read, opcua browse: ${seen}`);
});

t.test('a peer that never answers: the wait given with a unit (or without, in the old unit) is the one used', async (t) => {
  const silent = await silentServer();
  t.teardown(() => silent.close());
  const at = `127.0.0.1:${silent.port}`;
  const modbusNoAnswer = `gridedge modbus read: no answer from unit 1 at ${at} within 300 ms — is the unit id right (gateways route by it), and is the device behind the gateway powered and wired?\n`;
  // modbus read took milliseconds only: "0.3s" was refused ("must be milliseconds between 10 and 60000").
  t.same(await runCli(['modbus', 'read', '--tcp', at, '--address', '0', '--timeout', '0.3s']), { code: 2, stdout: '', stderr: modbusNoAnswer });
  t.same(await runCli(['modbus', 'read', '--tcp', at, '--address', '0', '--timeout', '300']), { code: 2, stdout: '', stderr: modbusNoAnswer }, 'a bare number: milliseconds, as before');
  const opcua = await runCli(['opcua', 'browse', `opc.tcp://${at}`, '--timeout', '0.3s']);
  t.equal(opcua.code, 2, opcua.stderr);
  t.match(opcua.stderr, new RegExp(`^gridedge opcua browse: no answer from ${at} within 300 ms`));
  // status took seconds only: "300ms" was refused ("must be a positive number up to 3600").
  t.same(await runCli(['status', '--url', `http://${at}`, '--timeout', '300ms']), {
    code: 2,
    stdout: '',
    stderr: `gridedge status: cannot read the status at http://${at}/api/v1/status: no answer within 0.3 s\n`,
  });
  t.same(await runCli(['pmu', 'probe', at, '--idcode', '1', '--timeout', '300ms']), { code: 2, stdout: '', stderr: `gridedge pmu probe: no configuration frame from ${at} within 0.3 s\n` });
});

t.test('a bad duration is refused before anything is reached (exit 1), naming the option and what a bare number is', async (t) => {
  t.same(await runCli(['modbus', 'read', '--tcp', '127.0.0.1:1', '--address', '0', '--timeout', '5']), {
    code: 1,
    stdout: '',
    stderr: 'gridedge modbus read: --timeout: must be a duration from 10ms to 1min such as 500ms, 2s or 1m (a number without a unit is milliseconds), got "5"; for 5 seconds write 5s\n',
  });
  t.same(await runCli(['opcua', 'browse', 'opc.tcp://127.0.0.1:1', '--timeout', '20min']), {
    code: 1,
    stdout: '',
    stderr: 'gridedge opcua browse: --timeout: must be a duration from 100ms to 10min such as 500ms, 2s or 1m (a number without a unit is milliseconds), got "20min"\n',
  });
  t.same(await runCli(['schedule', '--input', 'job.json', '--time-limit', '2h']), {
    code: 1,
    stdout: '',
    stderr: 'gridedge schedule: --time-limit: must be a duration up to 1h such as 500ms, 2s or 1m (a number without a unit is seconds), got "2h"\n',
  });
});
