/**
 * buffer.db* deleted under the real agent: QoS 1 publishes stop being acknowledged, the status turns
 * degraded, the agent re-creates the file by itself and acknowledges again, nothing acknowledged is
 * lost, and after restarts (including one with the files missing) every new seq is above every seq
 * issued before.
 */
import fs from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import mqtt, { type MqttClient } from 'mqtt';
import Database from 'better-sqlite3';
import { getJson, startAgent, tempDir, type AgentProcess } from '../helpers/agent-process.js';
import { readAll } from './harness.js';

interface Status {
  health: string;
  problems: string[];
  buffer: { lastSeq: number; writeError?: string } | null;
  counters: Record<string, number | Record<string, number>>;
}

const total = (v: number | Record<string, number> | undefined): number =>
  typeof v === 'number' ? v : Object.values(v ?? {}).reduce((a, b) => a + b, 0);

async function waitFor(cond: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Publishes one QoS 1 message; 'acked' on PUBACK, 'refused' when the broker closes the connection instead. */
async function publish(client: MqttClient, n: number): Promise<'acked' | 'refused'> {
  const closed = new Promise<'refused'>((resolve) => client.once('close', () => resolve('refused')));
  return Promise.race([
    client.publishAsync('bal/raw/pmu-lost', JSON.stringify({ ts: Date.now() * 1000, freq: 50, n }), { qos: 1 }).then(
      () => 'acked' as const,
      () => 'refused' as const,
    ),
    closed,
  ]);
}

const connect = (agent: AgentProcess, id: string): Promise<MqttClient> =>
  mqtt.connectAsync(agent.mqttUrl, { clientId: id, reconnectPeriod: 0 }).then((c) => {
    c.on('error', () => undefined);
    return c;
  });

function maxSeq(dbFile: string): number {
  const db = new Database(dbFile, { readonly: true });
  try {
    return db.prepare(`SELECT COALESCE(MAX(seq), 0) FROM messages`).pluck().get() as number;
  } finally {
    db.close();
  }
}

t.test('buffer.db* deleted while the agent runs', async (t) => {
  const dir = tempDir();
  const data = join(dir, 'data');
  const dbFile = join(data, 'buffer.db');
  const config = { stats: { enabled: false } };
  let agent = await startAgent({ dir, config });
  t.teardown(() => agent.stop('SIGKILL'));

  let client = await connect(agent, 'lost-1');
  const acked = new Set<number>();
  for (let n = 0; n < 20; n++) {
    t.equal(await publish(client, n), 'acked', `publish ${n} acknowledged`);
    acked.add(n);
  }
  const oldInode = fs.statSync(dbFile).ino;

  // Watch the status from now on.
  const healths = new Set<string>();
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const s = await getJson<Status>(agent.httpUrl + '/api/v1/status');
      healths.add(s.health);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();

  for (const s of ['', '-wal', '-shm']) fs.rmSync(dbFile + s, { force: true });
  t.equal(await publish(client, 100), 'refused', 'the first publish after the deletion is not acknowledged');
  client.end(true);
  await waitFor(() => healths.has('degraded'), 'the status to report degraded');
  const during = await getJson<Status>(agent.httpUrl + '/api/v1/status');
  t.equal(total(during.counters.buffer_file_lost), 1, 'the loss is counted');
  t.ok(total((during.counters.broker_refused as Record<string, number>) ?? {}) >= 1, 'the refusal is counted');

  // The agent re-creates the file by itself; publishes are acknowledged again.
  let recovered = false;
  for (let attempt = 0; !recovered; attempt++) {
    if (attempt > 200) throw new Error('publishes were never acknowledged again after the deletion');
    client = await connect(agent, `lost-2-${attempt}`);
    if ((await publish(client, 1000 + attempt)) === 'acked') {
      acked.add(1000 + attempt);
      recovered = true;
    } else await new Promise((r) => setTimeout(r, 50));
  }
  for (let n = 2000; n < 2010; n++) {
    t.equal(await publish(client, n), 'acked');
    acked.add(n);
  }
  client.end(true);
  watching = false;
  await watcher;
  await waitFor(async () => (await getJson<Status>(agent.httpUrl + '/api/v1/status')).health === 'healthy', 'health back to healthy');
  t.not(fs.statSync(dbFile).ino, oldInode, 'a new buffer.db is in place');

  t.equal((await agent.stop('SIGTERM')).code, 0, 'clean stop');
  // Rows are stored encoded (agent/buffer/codec.ts): read them back through the buffer itself.
  const stored = new Set(
    (await readAll(data)).filter((r) => r.topic === 'bal/processed/pmu-lost').map((r) => (JSON.parse(r.payload) as { n: number }).n),
  );
  t.same([...acked].filter((n) => !stored.has(n)), [], 'every acknowledged message is in the new file');
  const before = maxSeq(dbFile);

  // A restart: new seqs continue above everything.
  agent = await startAgent({ dir, config });
  client = await connect(agent, 'lost-3');
  t.equal(await publish(client, 3000), 'acked');
  client.end(true);
  t.equal((await agent.stop('SIGTERM')).code, 0);
  const afterRestart = maxSeq(dbFile);
  t.ok(afterRestart > before, `after a restart: ${afterRestart} > ${before}`);

  // The files deleted while stopped: the fresh file numbers above every seq ever issued.
  for (const s of ['', '-wal', '-shm']) fs.rmSync(dbFile + s, { force: true });
  agent = await startAgent({ dir, config });
  client = await connect(agent, 'lost-4');
  t.equal(await publish(client, 4000), 'acked');
  client.end(true);
  const s = await getJson<Status>(agent.httpUrl + '/api/v1/status');
  t.equal(total(s.counters.buffer_file_lost), 1, 'the missing file is counted at start');
  t.equal((await agent.stop('SIGTERM')).code, 0);
  const db2 = new Database(dbFile, { readonly: true });
  const fresh = db2.prepare(`SELECT MIN(seq) FROM messages`).pluck().get() as number;
  db2.close();
  t.ok(fresh > afterRestart, `after the files went missing: the first new seq ${fresh} > ${afterRestart}`);
});
