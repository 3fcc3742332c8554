/**
 * The config keys of client-id reservations and the session bound: mqtt.users[].clientIds,
 * mqtt.users[].maxSessions, mqtt.maxSessions. `config check` reports every bad pattern, and every
 * overlap between users' reservations, at once, each with its key path.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../../agent/config/index.js';
import { tempDir } from '../helpers/agent-process.js';
import { lines, runCli } from '../cli/run-cli.js';

const errorsOf = (r: ReturnType<typeof loadConfig>): string[] => (r.ok ? [] : [...r.errors].sort());
const user = (username: string, extra: Record<string, unknown>): Record<string, unknown> => ({ username, password: `${username}-pw`, ...extra });

t.test('valid reservations and bounds load; left out: no reservation, only the global bound (1000)', async (t) => {
  const r = loadConfig({
    document: {
      mqtt: {
        maxSessions: 50,
        users: [user('pmu', { clientIds: ['pmu-*', 'station-7'], maxSessions: 10 }), user('ops', {}), user('scada', { clientIds: ['scada-*-main'] })],
      },
    },
  });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  t.equal(r.config.mqtt.maxSessions, 50);
  t.same(r.config.mqtt.users[0]?.clientIds, ['pmu-*', 'station-7']);
  t.equal(r.config.mqtt.users[0]?.maxSessions, 10);
  t.equal(r.config.mqtt.users[1]?.clientIds, undefined);
  t.equal(r.config.mqtt.users[1]?.maxSessions, undefined);
  const d = loadConfig({ document: {} });
  t.equal(d.ok && d.config.mqtt.maxSessions, 1000, 'default mqtt.maxSessions');
});

t.test('every bad pattern and bound at once, each with its key path', async (t) => {
  const r = loadConfig({
    document: {
      mqtt: {
        maxSessions: -1,
        users: [
          user('pmu', { clientIds: ['pmu-*', '', 'a\u0001b', 'nul\u0000', '*', 'x'.repeat(257), 'bad\ud800', 'ok'], maxSessions: 1.5 }),
          user('ops', { clientIds: [] }),
          user('scada', { clientIds: 'scada-1' }),
          user('web', { clientIds: [7] }),
        ],
      },
    },
  });
  const prefix = 'must be a client id or a pattern with * wildcards:';
  t.same(errorsOf(r), [
    'mqtt.maxSessions: must be an integer between 0 and 1000000, got -1',
    `mqtt.users[0].clientIds[1]: ${prefix} empty, got ""`,
    `mqtt.users[0].clientIds[2]: ${prefix} control character U+0001 at offset 1 (not allowed in MQTT strings), got "a\\u0001b"`,
    `mqtt.users[0].clientIds[3]: ${prefix} NUL character at offset 3 (not allowed in MQTT strings), got "nul\\u0000"`,
    `mqtt.users[0].clientIds[4]: ${prefix} only wildcards: it would match every client id; leave clientIds out to let a user use any id no one reserved, got "*"`,
    `mqtt.users[0].clientIds[5]: ${prefix} longer than 256 characters (257), got "${'x'.repeat(116)}...`,
    `mqtt.users[0].clientIds[6]: ${prefix} unpaired surrogate U+D800 at offset 3 (cannot be encoded in UTF-8), got "bad\\ud800"`,
    'mqtt.users[0].maxSessions: must be an integer between 0 and 1000000, got 1.5',
    'mqtt.users[1].clientIds: must be a non-empty list of client ids or patterns with * wildcards (leave clientIds out for no restriction), got []',
    'mqtt.users[2].clientIds: must be a non-empty list of client ids or patterns with * wildcards (leave clientIds out for no restriction), got "scada-1"',
    `mqtt.users[3].clientIds[0]: ${prefix} not a string, got 7`,
  ].sort());
});

t.test('overlapping reservations of different users are an error naming both entries and a common id', async (t) => {
  const r = loadConfig({
    document: {
      mqtt: {
        users: [
          user('pmu', { clientIds: ['pmu-*', 'meter-1'] }),
          user('scada', { clientIds: ['pmu-1?', 'scada-*'] }),
          user('meters', { clientIds: ['meter-*'] }),
          // The same pattern twice within one user is harmless.
          user('twice', { clientIds: ['twice-*', 'twice-*'] }),
        ],
      },
    },
  });
  t.same(errorsOf(r), [
    'mqtt.users[1].clientIds[0]: must not overlap mqtt.users[0].clientIds[0] "pmu-*" (user "pmu"): both match "pmu-1?", and a client id can be reserved for one user only, got "pmu-1?"',
    'mqtt.users[2].clientIds[0]: must not overlap mqtt.users[0].clientIds[1] "meter-1" (user "pmu"): both match "meter-1", and a client id can be reserved for one user only, got "meter-*"',
  ].sort());
});

t.test('gridedge config check FILE prints each problem with its key path and exits 1', async (t) => {
  const dir = tempDir();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'gridedge.yaml');
  writeFileSync(
    file,
    [
      'mqtt:',
      '  maxSessions: lots',
      '  users:',
      '    - { username: pmu, password: a, clientIds: ["pmu-*", ""] }',
      '    - { username: scada, password: b, clientIds: ["pmu-1*"], maxSessions: -2 }',
      '',
    ].join('\n'),
  );
  const r = await runCli(['config', 'check', file]);
  t.equal(r.code, 1);
  t.same(lines(r.stderr).sort(), [
    'mqtt.maxSessions: must be an integer between 0 and 1000000, got "lots"',
    'mqtt.users[0].clientIds[1]: must be a client id or a pattern with * wildcards: empty, got ""',
    'mqtt.users[1].clientIds[0]: must not overlap mqtt.users[0].clientIds[0] "pmu-*" (user "pmu"): both match "pmu-1", and a client id can be reserved for one user only, got "pmu-1*"',
    'mqtt.users[1].maxSessions: must be an integer between 0 and 1000000, got -2',
  ].sort());
  writeFileSync(file, 'mqtt:\n  maxSessions: 20\n  users:\n    - { username: pmu, password: a, clientIds: ["pmu-*"], maxSessions: 5 }\n');
  const ok = await runCli(['config', 'check', file]);
  t.same(ok, { code: 0, stdout: `${file}: ok\n`, stderr: '' });
});
