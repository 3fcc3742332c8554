/**
 * `gridedge sessions` and `gridedge sessions end CLIENTID`: the real CLI (a child process) against a
 * real agent with a real mqtt.js client holding a persistent session; with and without http.users.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { startInProcess } from '../helpers/in-process.js';
import { refusedPort } from '../helpers/ports.js';
import { runCli } from './run-cli.js';

t.test('open agent: sessions lists, sessions end ends, status counts them; errors name the id', async (t) => {
  const a = await startInProcess(t, { drivers: [] });
  const scada = await mqtt.connectAsync(a.mqttUrl, { clientId: 'scada-old', clean: false, reconnectPeriod: 0 });
  await scada.subscribeAsync('bal/raw/#', { qos: 1 });
  await scada.endAsync();
  const hmi = await mqtt.connectAsync(a.mqttUrl, { clientId: 'hmi-1', clean: false, reconnectPeriod: 0 });
  t.teardown(() => hmi.end(true));
  const pub = await a.client('pmu-x');
  await pub.publishAsync('bal/raw/pmu-x', JSON.stringify({ device: 'pmu-x', ts: Date.now() * 1000, quality: 'good', soc: 1 }), { qos: 1 });

  const status = await runCli(['status', '--url', a.httpUrl]);
  t.match(status.stdout, /Broker +127\.0\.0\.1:\d+, 2 clients, 0 subscriptions, 2 persistent sessions \(1 offline\)/, 'gridedge status counts them');
  const statusJson = await runCli(['status', '--url', a.httpUrl, '--json']);
  t.match(JSON.parse(statusJson.stdout), { broker: { sessions: 2, offlineSessions: 1 } }, 'and /api/v1/status carries them');

  const list = await runCli(['sessions', '--url', a.httpUrl]);
  t.equal(list.code, 0, list.stderr);
  const lines = list.stdout.split('\n');
  t.equal(lines[0], '2 persistent MQTT sessions, 1 offline');
  t.match(lines[1], /^ {2}CLIENT ID +USER +QUEUED +SUBS +STATE$/);
  t.match(lines[2], /^ {2}hmi-1 +\(anonymous\) +0 +0 +connected$/);
  t.match(lines[3], /^ {2}scada-old +\(anonymous\) +1 +1 +offline [\d.]+ s \(since \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\)$/);

  const json = await runCli(['sessions', '--url', a.httpUrl, '--json']);
  t.equal(json.code, 0);
  t.match(JSON.parse(json.stdout), { total: 2, offline: 1, items: [{ clientId: 'hmi-1', connected: true }, { clientId: 'scada-old', connected: false, queued: 1 }] });

  const end = await runCli(['sessions', 'end', 'scada-old', '--url', a.httpUrl]);
  t.equal(end.code, 0, end.stderr);
  t.equal(end.stdout, 'Ended the persistent session "scada-old": 1 queued message and 1 subscription dropped.\n');
  const live = await runCli(['sessions', 'end', 'hmi-1', '--url', a.httpUrl]);
  t.equal(live.stdout, 'Ended the persistent session "hmi-1": its client was disconnected; 0 queued messages and 0 subscriptions dropped.\n');
  t.equal(a.agent.status().broker.sessions, 0, 'both gone');

  const unknown = await runCli(['sessions', 'end', 'scada-old', '--url', a.httpUrl]);
  t.equal(unknown.code, 1, 'an unknown id is bad input');
  t.equal(unknown.stdout, '');
  t.match(unknown.stderr, /^gridedge sessions end: no persistent MQTT session with client id "scada-old" \(GET \/api\/v1\/broker\/sessions lists them/);
  const none = await runCli(['sessions', '--url', a.httpUrl]);
  t.equal(none.stdout, '0 persistent MQTT sessions\n');

  const missing = await runCli(['sessions', 'end', '--url', a.httpUrl]);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /^gridedge sessions end: missing CLIENTID/);

  const port = await refusedPort();
  const down = await runCli(['sessions', '--url', `http://127.0.0.1:${port}`]);
  t.equal(down.code, 2, 'unreachable: exit 2');
  t.match(down.stderr, new RegExp(`^gridedge sessions: cannot reach the agent at http://127\\.0\\.0\\.1:${port}/api/v1/broker/sessions: connection refused`));
});

t.test('agent with http.users: a token is needed, listing needs operator, ending needs admin', async (t) => {
  const a = await startInProcess(t, {
    drivers: [],
    http: {
      port: 0,
      users: [
        { username: 'view', password: 'view-pw', role: 'viewer' },
        { username: 'ops', password: 'ops-pw', role: 'operator' },
        { username: 'root', password: 'root-pw', role: 'admin' },
      ],
    },
  });
  const c = await mqtt.connectAsync(a.mqttUrl, { clientId: 'scada-1', clean: false, reconnectPeriod: 0 });
  await c.endAsync();
  const token = async (u: string) => {
    const r = await fetch(`${a.httpUrl}/api/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: u, password: `${u}-pw` }) });
    return ((await r.json()) as { token: string }).token;
  };

  const anonymous = await runCli(['sessions', '--url', a.httpUrl]);
  t.equal(anonymous.code, 2);
  t.match(anonymous.stderr, /needs a login \(http\.users\): pass --token or set GRIDEDGE_TOKEN/);
  const viewer = await runCli(['sessions', '--url', a.httpUrl, '--token', await token('view')]);
  t.equal(viewer.code, 2);
  t.equal(viewer.stderr, 'gridedge sessions: not allowed: view is viewer; this needs operator\n');
  const ops = await token('ops');
  const listed = await runCli(['sessions', '--url', a.httpUrl], { env: { GRIDEDGE_TOKEN: ops } });
  t.equal(listed.code, 0, listed.stderr);
  t.match(listed.stdout, /scada-1/);
  const notAdmin = await runCli(['sessions', 'end', 'scada-1', '--url', a.httpUrl, '--token', ops]);
  t.equal(notAdmin.code, 2);
  t.equal(notAdmin.stderr, 'gridedge sessions end: not allowed: ops is operator; this needs admin\n');
  t.equal(a.agent.status().broker.sessions, 1, 'still there');
  const byAdmin = await runCli(['sessions', 'end', 'scada-1', '--url', a.httpUrl, '--token', await token('root')]);
  t.equal(byAdmin.code, 0, byAdmin.stderr);
  t.equal(a.agent.status().broker.sessions, 0);
});

t.test('more sessions than one page (1000): sessions follows the pages and lists every one once', async (t) => {
  const a = await startInProcess(t, { drivers: [], mqtt: { port: 0, maxSessions: 1100 } });
  const n = 1003;
  const ids = Array.from({ length: n }, (_, k) => `dev-${String(k).padStart(4, '0')}`);
  // 1003 real persistent sessions, 50 connections at a time, each closed once its session is made.
  for (let k = 0; k < n; k += 50)
    await Promise.all(
      ids.slice(k, k + 50).map(async (clientId) => {
        const c = await mqtt.connectAsync(a.mqttUrl, { clientId, clean: false, reconnectPeriod: 0 });
        await c.endAsync();
      }),
    );
  t.equal(a.agent.status().broker.sessions, n, `${n} persistent sessions`);
  const first = (await (await fetch(`${a.httpUrl}/api/v1/broker/sessions`)).json()) as { total: number; items: unknown[]; next?: string };
  t.equal(first.items.length, 1000, 'the agent answers 1000 on its first page');
  t.equal(first.next, '/api/v1/broker/sessions?limit=1000&after=dev-0999', 'and says where the next one is');

  const json = await runCli(['sessions', '--url', a.httpUrl, '--json']);
  t.equal(json.code, 0, json.stderr);
  const doc = JSON.parse(json.stdout) as { total: number; offline: number; items: { clientId: string }[]; next?: string };
  t.equal(doc.total, n);
  t.equal(doc.offline, n);
  t.same(doc.items.map((s) => s.clientId), ids, 'every session once, in order, from both pages');
  t.notOk('next' in doc, 'one list: no next');
  const text = await runCli(['sessions', '--url', a.httpUrl]);
  t.equal(text.code, 0, text.stderr);
  const lines = text.stdout.trimEnd().split('\n');
  t.equal(lines[0], '1,003 persistent MQTT sessions, 1,003 offline');
  t.equal(lines.length, 2 + n, 'a header, the column names and a line per session');
  t.match(lines.at(-1), /^ {2}dev-1002 /);
});
