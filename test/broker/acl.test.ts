import t from 'tap';
import { filterCovers, topicAllowed, topicProblem, isLoopbackHost } from '../../agent/broker/index.js';
import { UserAcl } from '../../agent/broker/acl.js';
import { buildUserTable } from '../../agent/broker/users.js';
import { verifyPassword } from '../../agent/broker/passwords.js';
import { mqttConfig } from './helpers.js';

// Wildcard semantics from MQTT 3.1.1 §4.7.1 (`#` also matches the parent level; `+` exactly one
// level) and §4.7.2 (filters starting with a wildcard do not match topics starting with `$`).
t.test('filterCovers: a subscription is allowed only if every topic it can match is allowed', async (t) => {
  const yes: [string, string][] = [
    ['bal/#', 'bal/processed/+'],
    ['bal/#', 'bal/#'],
    ['bal/#', 'bal'],
    ['#', 'bal/raw/#'],
    ['bal/+/x', 'bal/+/x'],
    ['bal/+/x', 'bal/raw/x'],
    ['bal/+/#', 'bal/raw/#'],
    ['bal/processed/+', 'bal/processed/pmu1'],
    ['bal/processed/+/#', 'bal/processed/pmu1'],
    ['$SYS/#', '$SYS/broker/x'],
  ];
  const no: [string, string][] = [
    ['bal/+', 'bal/#'], // bal/# also matches bal/x/y
    ['bal/processed/+', 'bal/#'],
    ['bal/processed/+', 'bal/processed/#'], // also matches bal/processed and deeper levels
    ['bal/raw/x', 'bal/+/x'],
    ['bal/+/#', 'bal/#'], // bal/# matches "bal" itself; bal/+/# does not
    ['a/b', 'a/b/c'],
    ['a/b/c', 'a/b'],
    ['#', '$SYS/#'],
    ['+/x', '$SYS/x'],
  ];
  for (const [a, r] of yes) t.ok(filterCovers(a, r), `${a} covers ${r}`);
  for (const [a, r] of no) t.notOk(filterCovers(a, r), `${a} does not cover ${r}`);
});

t.test('topicAllowed applies the $ rule on top of matchFilter', async (t) => {
  t.ok(topicAllowed('bal/raw/#', 'bal/raw/pmu1'));
  t.notOk(topicAllowed('bal/raw/#', 'bal/processed/pmu1'));
  t.notOk(topicAllowed('#', '$SYS/x'));
  t.ok(topicAllowed('$SYS/#', '$SYS/x'));
});

t.test('loopback detection', async (t) => {
  for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) t.ok(isLoopbackHost(h), h);
  for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.2', 'example.org']) t.notOk(isLoopbackHost(h), h);
});

t.test('user table: anonymous rule (CONTRACT) and clear-text passwords replaced by hashes', async (t) => {
  t.equal(buildUserTable(mqttConfig()).anonymous, true, 'no users on loopback: anonymous allowed');
  const users = [{ username: 'u', password: 'p', publish: ['bal/raw/#'], subscribe: ['bal/#'] }];
  const cfg = mqttConfig({ users });
  const table = buildUserTable(cfg);
  t.equal(table.anonymous, false, 'users configured: anonymous refused');
  t.equal(cfg.users[0]!.password, undefined, 'clear text dropped');
  t.ok(verifyPassword('p', cfg.users[0]!.passwordHash!), 'hash kept in its place');
  t.equal(buildUserTable(cfg).users.size, 1, 'the same config object can build the table again');
  t.equal(buildUserTable(mqttConfig({ users: [], allowAnonymous: true, host: '0.0.0.0' })).anonymous, true);
  t.throws(() => buildUserTable(mqttConfig({ host: '0.0.0.0' })), /mqtt\.host: .*allowAnonymous/);
  t.throws(
    () => buildUserTable(mqttConfig({ users: [{ username: 'a', publish: [], subscribe: [] }] })),
    /mqtt\.users\[0\]: needs "password" or "passwordHash"/,
  );
  t.throws(
    () => buildUserTable(mqttConfig({ users: [{ username: 'a', passwordHash: 'md5$x', publish: [], subscribe: [] }] })),
    /mqtt\.users\[0\]\.passwordHash: must have the form/,
  );
  t.throws(
    () =>
      buildUserTable(
        mqttConfig({
          users: [
            { username: 'a', password: 'x', publish: [], subscribe: [] },
            { username: 'a', password: 'y', publish: [], subscribe: [] },
          ],
        }),
      ),
    /mqtt\.users\[1\]\.username: "a" is configured twice/,
  );
});

t.test('canRead: a delivery is allowed when its topic matches one of the subscribe filters', async (t) => {
  const acl = new UserAcl(['bal/raw/#'], ['bal/processed/#', 'status/+']);
  t.ok(acl.canRead('bal/processed/pmu1'));
  t.ok(acl.canRead('status/gw'));
  t.notOk(acl.canRead('secret/keys'), 'outside every subscribe filter');
  t.notOk(acl.canRead('bal/raw/pmu1'), 'publish rights do not grant reading');
  t.notOk(acl.canRead('status/gw/deep'));
  t.notOk(new UserAcl([], ['#']).canRead('$SYS/broker/x'), '# does not reach $ topics');
  t.notOk(acl.canRead('secret/keys'), 'same answer from the cache');
});

t.test('topicProblem: NUL, U+FFFD (invalid UTF-8) and C0/C1 control characters are named with their offset', async (t) => {
  t.equal(topicProblem('bal/raw/pmu1'), null);
  t.equal(topicProblem('bal/raw/Zürich-√-😀'), null, 'other Unicode is fine');
  t.equal(topicProblem('a\u0000b'), 'NUL character at offset 1');
  t.equal(topicProblem(Buffer.from([0x61, 0xc3, 0x28]).toString('utf8')), 'invalid UTF-8 (U+FFFD) at offset 1');
  t.equal(topicProblem('a\tb'), 'control character U+0009 at offset 1');
  t.equal(topicProblem('ab\u007f'), 'control character U+007F at offset 2');
  t.equal(topicProblem('\u009f'), 'control character U+009F at offset 0');
  t.equal(topicProblem('\u00a0'), null, 'U+00A0 is not a control character');
});
