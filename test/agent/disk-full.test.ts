/**
 * The disk fills up under the real agent: QoS 1 publishes stop being acknowledged (the client is
 * disconnected and re-sends later), the status reports it, the database is never corrupted, and
 * once space returns everything acknowledged is there. A small tmpfs stands in for the full disk.
 */
import t from 'tap';
import mqtt from 'mqtt';
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getJson, startAgent, tempDir } from '../helpers/agent-process.js';
import { withTimeout } from '../helpers/wait.js';
import { readBufferFile } from '../../agent/buffer/index.js';

function tryMount(dir: string, size: string): string | null {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
    return null;
  } catch (err) {
    return (err as Error).message.split('\n')[0] ?? 'mount failed';
  }
}

interface Status {
  health: string;
  problems: string[];
  buffer: { writeError?: string } | null;
  counters: Record<string, number | Record<string, number>>;
}

t.test('disk full: no PUBACK, reported, no corruption, recovers', async (t) => {
  const dir = tempDir();
  const mnt = join(dir, 'disk');
  mkdirSync(mnt);
  const why = tryMount(mnt, '3m');
  if (why) {
    t.plan(0, `cannot mount a tmpfs here (needs root): ${why}`);
    return;
  }
  t.teardown(() => {
    try {
      execFileSync('umount', ['-l', mnt], { stdio: 'pipe' });
    } catch {
      /* already gone */
    }
  });
  // Ballast we delete later to give the space back.
  const ballast = join(mnt, 'ballast');
  writeFileSync(ballast, Buffer.alloc(1024 * 1024, 1));

  const agent = await startAgent({
    dir,
    config: { storage: { dir: join(mnt, 'data'), maxBytes: 0, maxAgeHours: 0 }, stats: { enabled: false } },
  });
  t.teardown(() => agent.stop('SIGKILL'));

  const acked = new Set<number>();
  // 8 kB of value strings per message (a value string is at most 1024 characters).
  const pad = Object.fromEntries(Array.from({ length: 8 }, (_, k) => [`s${k}`, 'x'.repeat(1000)]));
  let refused = false;
  const client = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'filler', reconnectPeriod: 0 });
  client.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  for (let k = 0; k < 2000 && !refused; k++) {
    const body = JSON.stringify({ ts: Date.now() * 1000, freq: 50, n: k, pad });
    const r = await Promise.race([
      client.publishAsync('bal/raw/filler', body, { qos: 1 }).then(
        () => 'acked' as const,
        () => 'failed' as const,
      ),
      closed.then(() => 'closed' as const),
    ]);
    if (r === 'acked') acked.add(k);
    else refused = true;
  }
  t.ok(refused, `the agent stopped acknowledging once the disk was full (after ${acked.size} acknowledged)`);
  t.ok(acked.size > 0, 'some publishes were acknowledged before');
  client.end(true);

  const status = await getJson<Status>(agent.httpUrl + '/api/v1/status');
  t.equal(status.health, 'degraded', 'health degraded');
  t.ok(status.buffer?.writeError, `buffer reports the write error: ${status.buffer?.writeError}`);
  t.ok(status.problems.some((p) => /buffer/.test(p)), 'problem listed');
  const refusedCounts = status.counters.broker_refused as Record<string, number> | undefined;
  t.ok((refusedCounts?.['reason=store_unavailable'] ?? 0) >= 1, 'refusal counted');

  // Space comes back: the same client reconnects and is acknowledged again.
  rmSync(ballast);
  // The buffer retries with its next transaction: the first publish after that is acknowledged.
  const again = await withTimeout(mqtt.connectAsync(agent.mqttUrl, { clientId: 'filler-2', reconnectPeriod: 0 }), 'a new client to connect');
  again.on('error', () => undefined);
  const recovered = await withTimeout(
    again.publishAsync('bal/raw/filler', JSON.stringify({ ts: Date.now() * 1000, freq: 50, n: 100000 }), { qos: 1 }).then(
      () => true,
      (err: Error) => err.message,
    ),
    'the PUBACK of the first publish after space returned',
  );
  t.equal(recovered, true, 'acknowledged again once space returned');
  if (recovered === true) acked.add(100000);
  again.end(true);

  const { code } = await agent.stop('SIGTERM');
  t.equal(code, 0, 'clean stop');
  const db = new Database(join(mnt, 'data', 'buffer.db'), { readonly: true });
  t.teardown(() => db.close());
  t.equal(db.pragma('integrity_check', { simple: true }), 'ok', 'database intact');
  const stored = new Set(
    readBufferFile(join(mnt, 'data', 'buffer.db')).filter((r) => r.topic === 'bal/processed/filler').map( // rows are stored encoded
      (r) => (JSON.parse(r.payload) as { n: number }).n,
    ),
  );
  const missing = [...acked].filter((n) => !stored.has(n));
  t.same(missing, [], 'every acknowledged message is stored');
});
