/**
 * SIGHUP reload of `mqtt.users` on the real agent process, with real mqtt.js clients: users added,
 * removed, given a new password or a new ACL take effect without a restart; other clients' sessions
 * stay connected; a reload that also changes a restart-only key (mqtt.port) is refused whole.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import t from 'tap';
import mqtt, { type MqttClient } from 'mqtt';
import { startAgent, getJson, reloadAgent } from '../helpers/agent-process.js';
import { within } from '../broker/raw-client.js';
import { testHash } from '../broker/helpers.js';

interface User {
  username: string;
  password?: string;
  passwordHash?: string;
  publish?: string[];
  subscribe?: string[];
}

t.test('mqtt.users changed by a reload apply without a restart', async (t) => {
  // The observer's plain password stays the same in every file: its session must survive every reload.
  const observer: User = { username: 'obs', password: 'obs-pw', subscribe: ['#'] };
  const dev: User = { username: 'dev', passwordHash: testHash('dev-pw'), publish: ['a/#'], subscribe: [] };
  const gone: User = { username: 'gone', passwordHash: testHash('gone-pw'), publish: ['#'], subscribe: ['#'] };
  const pw: User = { username: 'pw', passwordHash: testHash('old-pw'), publish: ['#'], subscribe: ['#'] };
  const agent = await startAgent({ config: { mqtt: { host: '127.0.0.1', port: 0, users: [observer, dev, gone, pw] } } });
  t.teardown(() => agent.stop('SIGKILL'));
  const base = JSON.parse(readFileSync(agent.configFile, 'utf8')) as { mqtt: Record<string, unknown> };
  const clients: MqttClient[] = [];
  t.teardown(() => clients.forEach((c) => c.end(true)));

  const connect = async (username: string, password: string, clientId: string): Promise<MqttClient> => {
    const c = await within(mqtt.connectAsync(agent.mqttUrl, { clientId, username, password, reconnectPeriod: 0, connectTimeout: 5000 }), 10_000, `connect ${clientId}`);
    clients.push(c);
    return c;
  };
  /** The CONNECT is refused (CONNACK not authorized): the error message. */
  const refused = async (username: string, password: string, clientId: string): Promise<string> => {
    try {
      const c = await connect(username, password, clientId);
      c.end(true);
      return 'connected';
    } catch (err) {
      return (err as Error).message;
    }
  };
  let reloads = 0;
  const reload = async (users: User[], mqttOver: Record<string, unknown> = {}): Promise<Record<string, unknown>> => {
    writeFileSync(agent.configFile, JSON.stringify({ ...base, mqtt: { ...base.mqtt, ...mqttOver, users } }));
    const n = ++reloads;
    return reloadAgent(agent, `reload #${n}`);
  };
  const closed = (c: MqttClient, what: string): Promise<void> => within(new Promise<void>((resolve) => c.once('close', () => resolve())), 10_000, what);

  // The observer: subscribed to everything; it must never be disconnected by the reloads below.
  const obs = await connect('obs', 'obs-pw', 'observer');
  let obsClosed = 0;
  obs.on('close', () => obsClosed++);
  const received: string[] = [];
  const arrivals: ((topic: string) => void)[] = [];
  obs.on('message', (topic) => {
    received.push(topic);
    for (const f of arrivals.splice(0)) f(topic);
  });
  await obs.subscribeAsync('#', { qos: 1 });
  const arrive = (topic: string): Promise<void> =>
    received.includes(topic)
      ? Promise.resolve()
      : within(
          new Promise<void>((resolve) => {
            const wait = (got: string): void => (got === topic ? resolve() : void arrivals.push(wait));
            arrivals.push(wait);
          }),
          10_000,
          `the observer receives ${topic}`,
        );

  const devClient = await connect('dev', 'dev-pw', 'dev-1');
  const goneClient = await connect('gone', 'gone-pw', 'gone-1');
  const pwClient = await connect('pw', 'old-pw', 'pw-1');
  const goneClosed = closed(goneClient, 'the removed user is disconnected');
  const pwClosed = closed(pwClient, 'the client of the changed password is disconnected');

  // dev may publish under a/ only: b/1 is dropped, a/1 (sent after it) arrives.
  await devClient.publishAsync('b/1', 'x', { qos: 1 });
  await devClient.publishAsync('a/1', 'x', { qos: 1 });
  await arrive('a/1');
  t.notOk(received.includes('b/1'), 'before the reload dev may not publish under b/');

  // 1. Add a user.
  t.match(await refused('new', 'new-pw', 'new-1'), /Not authorized/i, 'the new user is unknown before the reload');
  const added: User = { username: 'new', passwordHash: testHash('new-pw'), publish: ['#'], subscribe: ['#'] };
  const r1 = await reload([observer, dev, gone, pw, added]);
  t.equal(r1['msg'], 'config reloaded', `applied: ${JSON.stringify(r1['errors'] ?? '')}`);
  const c1 = await connect('new', 'new-pw', 'new-2');
  t.ok(c1.connected, 'the added user connects without a restart');
  t.ok(obs.connected && obsClosed === 0, "the observer's session survived the reload");

  // 2. Remove a user, change a password and an ACL in one reload.
  const pw2: User = { ...pw, passwordHash: testHash('new-pw2') };
  const dev2: User = { ...dev, publish: ['a/#', 'b/#'] };
  const r2 = await reload([observer, dev2, pw2, added]);
  t.equal(r2['msg'], 'config reloaded', `applied: ${JSON.stringify(r2['errors'] ?? '')}`);
  const summary = await agent.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('mqtt users reloaded') && l['removed'] === 1, 'the users summary line');
  t.match(summary, { added: 0, removed: 1, passwordChanged: 1, changed: 1, disconnected: 2 }, 'one line counts the change');
  await goneClosed;
  await pwClosed;
  t.pass('the clients of the removed user and of the changed password were disconnected');
  t.match(await refused('gone', 'gone-pw', 'gone-2'), /Not authorized/i, 'the removed user cannot reconnect with its (cached) password');
  t.match(await refused('pw', 'old-pw', 'pw-2'), /Not authorized/i, 'the old password is refused');
  const pwNew = await connect('pw', 'new-pw2', 'pw-3');
  t.ok(pwNew.connected, 'the new password is accepted');
  t.ok(devClient.connected, 'the ACL change does not disconnect dev');
  await devClient.publishAsync('b/2', 'x', { qos: 1 });
  await arrive('b/2');
  t.pass("the connected client's next publish follows the new ACL");
  t.ok(obs.connected && obsClosed === 0, "the observer's session survived the reloads");

  // 3. Users together with mqtt.port: refused, naming mqtt.port; nothing applied.
  const late: User = { username: 'late', passwordHash: testHash('late-pw'), publish: ['#'], subscribe: ['#'] };
  const r3 = await reload([observer, dev2, pw2, added, late], { port: 1 });
  t.equal(r3['msg'], 'config reload refused; the running config is kept');
  t.same(r3['errors'], ['mqtt.port: changed, and this setting is only applied at start (systemctl restart gridedge)'], 'the refusal names mqtt.port');
  t.match(await refused('late', 'late-pw', 'late-1'), /Not authorized/i, 'the user of a refused reload is not added');

  // 4. A bad list (a user configured twice) together with a valid new user: refused, nothing applied.
  const r4 = await reload([observer, dev2, pw2, added, late, { ...late, passwordHash: testHash('x') }]);
  t.equal(r4['msg'], 'config reload refused; the running config is kept', 'a bad users list is refused');
  t.match(JSON.stringify(r4['errors']), /mqtt\.users\[5\]/, `the refusal names the entry: ${JSON.stringify(r4['errors'])}`);
  t.match(await refused('late', 'late-pw', 'late-2'), /Not authorized/i, 'nothing of a refused users list is applied');

  const s = await getJson<{ counters: Record<string, Record<string, number>> }>(`${agent.httpUrl}/api/v1/status`);
  t.same(s.counters['broker_disconnects'], { 'reason=user_changed': 2 }, 'disconnects counted by reason');
  t.same(s.counters['config_reloads'], { 'result=applied': 2, 'result=refused': 2 });
  t.ok(obs.connected && obsClosed === 0, 'the observer stayed connected through all reloads');
});

t.test('anonymous clients are disconnected when a reload adds the first user (loopback, no allowAnonymous)', async (t) => {
  const agent = await startAgent({ config: { mqtt: { host: '127.0.0.1', port: 0 } } });
  t.teardown(() => agent.stop('SIGKILL'));
  const base = JSON.parse(readFileSync(agent.configFile, 'utf8')) as { mqtt: Record<string, unknown> };
  const anon = await within(mqtt.connectAsync(agent.mqttUrl, { clientId: 'anon-1', reconnectPeriod: 0 }), 10_000, 'anonymous connect');
  t.teardown(() => anon.end(true));
  const closed = within(new Promise<void>((resolve) => anon.once('close', () => resolve())), 10_000, 'the anonymous client is disconnected');
  writeFileSync(agent.configFile, JSON.stringify({ ...base, mqtt: { ...base.mqtt, users: [{ username: 'op', passwordHash: testHash('op-pw'), publish: ['#'], subscribe: ['#'] }] } }));
  agent.child.kill('SIGHUP');
  await agent.waitForLog((l) => l.msg === 'config reloaded', 'reload applied');
  await closed;
  t.pass('disconnected');
  const again = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'anon-2', reconnectPeriod: 0 }).then(
    (c) => (c.end(true), 'connected'),
    (err: Error) => err.message,
  );
  t.match(again, /Not authorized/i, 'anonymous clients are refused after the reload');
  const op = await within(mqtt.connectAsync(agent.mqttUrl, { clientId: 'op-1', username: 'op', password: 'op-pw', reconnectPeriod: 0 }), 10_000, 'op connects');
  t.ok(op.connected, 'the added user connects');
  op.end(true);
});
