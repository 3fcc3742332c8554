/**
 * The agent as a process: the embedded default runs with no config; SIGTERM/SIGINT stop it with
 * exit 0 and nothing acknowledged lost; an invalid config refuses to start and names every problem;
 * auth and ACL refusals are counted.
 */
import t from 'tap';
import mqtt from 'mqtt';
import Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getJson, spawnAgent, startAgent, tempDir } from '../helpers/agent-process.js';
import { withTimeout } from '../helpers/wait.js';
import { readBufferFile } from '../../agent/buffer/index.js';

t.test('embedded default: no config, simulated PMU processed and shown', async (t) => {
  const dir = tempDir();
  const agent = await spawnAgent(['run'], { dir, configFile: '', env: { GRIDEDGE_MQTT_PORT: '0', GRIDEDGE_HTTP_PORT: '0' } });
  t.teardown(() => agent.stop('SIGKILL'));
  const ready = agent.logs.find((l) => l.msg === 'gridedge ready');
  t.equal(ready?.config, 'embedded default');
  const sub = await mqtt.connectAsync(agent.mqttUrl);
  t.teardown(() => sub.end(true));
  await sub.subscribeAsync('bal/processed/pmu1');
  const msg = await withTimeout(
    new Promise<Record<string, unknown>>((resolve) => sub.once('message', (_t, p) => resolve(JSON.parse(p.toString())))),
    'a processed message from the simulated PMU',
  );
  t.equal(msg.device, 'pmu1');
  t.type((msg.p as Record<string, number>).total, 'number', 'power computed for the simulated PMU');
  const page = await (await fetch(agent.httpUrl + '/')).text();
  t.match(page, /pmu1/, 'status page lists the simulated device');
  const { code } = await agent.stop('SIGINT');
  t.equal(code, 0, 'SIGINT exits 0');
});

t.test('SIGTERM: exit 0, every acknowledged QoS 1 message is in the buffer', async (t) => {
  const agent = await startAgent();
  const pub = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'p1' });
  const n = 200;
  const now = Date.now() * 1000;
  const acks: Promise<unknown>[] = [];
  for (let k = 0; k < n; k++) {
    acks.push(pub.publishAsync('bal/raw/dev1', JSON.stringify({ ts: now + k, freq: 50, n: k }), { qos: 1 }));
  }
  await Promise.all(acks);
  pub.end(true);
  const { code, signal } = await agent.stop('SIGTERM');
  t.equal(code, 0, `exit code (signal ${signal})`);
  t.ok(agent.logs.some((l) => l.msg === 'gridedge stopped'), 'stop logged');
  const db = new Database(join(agent.dir, 'data', 'buffer.db'), { readonly: true });
  t.teardown(() => db.close());
  t.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  const rows = readBufferFile(join(agent.dir, 'data', 'buffer.db')).filter((r) => r.topic === 'bal/processed/dev1'); // rows are stored encoded
  const seen = new Set(rows.map((r) => (JSON.parse(r.payload) as { n: number }).n));
  t.equal(seen.size, n, 'every acknowledged message stored, processed (with every raw field)');
  t.equal(rows.length, n, 'once each');
  const raw = { c: readBufferFile(join(agent.dir, 'data', 'buffer.db')).filter((r) => r.topic === 'bal/raw/dev1').length };
  t.equal(raw.c, 0, 'no verbatim raw copy: no forwarder sends bal/raw upstream');
});

t.test('an invalid config refuses to start and names every problem', async (t) => {
  const dir = tempDir();
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, 'gateway: { id: gw-1 }\nhttp: { port: 99999 }\ndrivers:\n  - { type: sim-pmu, id: p1, rate: -5 }\n  - { type: nope, id: p2 }\nbogus: 1\n');
  const agent = await spawnAgent(['run', '--config', file], { dir, configFile: file, noWait: true });
  const { code } = await agent.exited;
  t.equal(code, 1);
  const err = agent.stderr();
  t.match(err, /http\.port/);
  t.match(err, /drivers\[0\]\.rate/);
  t.match(err, /drivers\[1\]\.type/);
  t.match(err, /bogus/);
});

t.test('users, passwords and topic ACLs: refusals are counted', async (t) => {
  const agent = await startAgent({
    config: {
      mqtt: {
        users: [
          { username: 'field', password: 'secret-1', publish: ['bal/raw/#'], subscribe: [] },
          { username: 'scada', password: 'secret-2', publish: [], subscribe: ['bal/processed/#'] },
        ],
      },
    },
  });
  t.teardown(() => agent.stop('SIGKILL'));
  await t.rejects(mqtt.connectAsync(agent.mqttUrl, { username: 'field', password: 'wrong', reconnectPeriod: 0 }), 'bad password refused');
  await t.rejects(mqtt.connectAsync(agent.mqttUrl, { reconnectPeriod: 0 }), 'anonymous refused once users exist');
  const scada = await mqtt.connectAsync(agent.mqttUrl, { username: 'scada', password: 'secret-2' });
  const field = await mqtt.connectAsync(agent.mqttUrl, { username: 'field', password: 'secret-1' });
  t.teardown(() => {
    scada.end(true);
    field.end(true);
  });
  const granted = await scada.subscribeAsync('bal/processed/#');
  t.equal(granted[0]?.qos, 0, 'subscription inside the ACL granted');
  // mqtt.js rejects a subscribe whose SUBACK carries 0x80 (failure) for any filter.
  await t.rejects(scada.subscribeAsync('bal/raw/#'), 'subscription outside the ACL refused (SUBACK 0x80)');
  // A publish outside the field user's ACL is dropped; one inside is processed.
  const got = new Promise<string>((resolve) => scada.on('message', (tp) => resolve(tp)));
  await field.publishAsync('bal/processed/forged', JSON.stringify({ freq: 50 }), { qos: 1 });
  await field.publishAsync('bal/raw/m1', JSON.stringify({ ts: Date.now() * 1000, freq: 50 }), { qos: 1 });
  t.equal(await withTimeout(got, 'the first message for the scada user'), 'bal/processed/m1', 'the forged publish never reached the subscriber');
  const status = await getJson<{ counters: Record<string, Record<string, number>> }>(agent.httpUrl + '/api/v1/status');
  const refused = status.counters.broker_refused ?? {};
  t.ok((refused['reason=bad_credentials'] ?? 0) >= 1, 'bad credentials counted');
  t.ok((refused['reason=publish_acl'] ?? 0) >= 1, 'publish ACL refusal counted');
  t.ok((refused['reason=subscribe_acl'] ?? 0) >= 1, 'subscribe ACL refusal counted');
});
