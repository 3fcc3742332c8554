/**
 * The real agent started on a full disk comes up: broker and status reachable, health degraded, QoS 1
 * publishes not acknowledged; once space is freed it acknowledges again. A 3 MiB tmpfs stands in for
 * the disk (needs root to mount; the test is skipped with the reason otherwise).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import mqtt, { type MqttClient } from 'mqtt';
import { getJson, startAgent, tempDir } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/wait.js';

interface Status {
  health: string;
  problems: string[];
  buffer: { writeError?: string } | null;
}

function fill(file: string): void {
  const fd = fs.openSync(file, 'a');
  try {
    for (const size of [64 * 1024, 4096]) {
      const chunk = Buffer.alloc(size, 1);
      for (;;) {
        try {
          fs.writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

async function publish(client: MqttClient, n: number): Promise<'acked' | 'refused'> {
  const closed = new Promise<'refused'>((resolve) => client.once('close', () => resolve('refused')));
  return Promise.race([
    client.publishAsync('bal/raw/pmu-full', JSON.stringify({ ts: Date.now() * 1000, freq: 50, n }), { qos: 1 }).then(
      () => 'acked' as const,
      () => 'refused' as const,
    ),
    closed,
  ]);
}

t.test('the agent starts on a full disk, refuses QoS 1, and accepts again once space returns', async (t) => {
  const dir = tempDir();
  const mnt = join(dir, 'disk');
  fs.mkdirSync(mnt);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mnt], { stdio: 'pipe' });
  } catch (err) {
    t.plan(0, `cannot mount a tmpfs here (needs root): ${(err as Error).message.split('\n')[0]}`);
    return;
  }
  t.teardown(() => {
    try {
      execFileSync('umount', ['-l', mnt], { stdio: 'pipe' });
    } catch {
      /* already gone */
    }
  });
  fs.mkdirSync(join(mnt, 'data'));
  const filler = join(mnt, 'filler');
  fill(filler);

  const agent = await startAgent({
    dir,
    config: { storage: { dir: join(mnt, 'data'), maxBytes: 0, maxAgeHours: 0 }, stats: { enabled: false } },
  });
  t.teardown(() => agent.stop('SIGKILL'));

  const status = await getJson<Status>(agent.httpUrl + '/api/v1/status');
  t.equal(status.health, 'degraded', 'up, and degraded');
  t.match(status.buffer?.writeError, /SQLITE_FULL|SQLITE_IOERR|ENOSPC/, `the buffer says why: ${status.buffer?.writeError}`);
  t.ok(status.problems.some((p) => /buffer/.test(p)), 'listed as a problem');

  const client = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'full-1', reconnectPeriod: 0 });
  client.on('error', () => undefined);
  t.equal(await publish(client, 1), 'refused', 'a QoS 1 publish gets no PUBACK');
  client.end(true);

  fs.rmSync(filler);
  let accepted = false;
  const end = Date.now() + 20_000;
  for (let n = 2; !accepted; n++) {
    if (Date.now() > end) throw new Error('QoS 1 publishes were not acknowledged within 20 s of freeing space');
    const c = await mqtt.connectAsync(agent.mqttUrl, { clientId: `full-${n}`, reconnectPeriod: 0 });
    c.on('error', () => undefined);
    accepted = (await publish(c, n)) === 'acked';
    c.end(true);
    if (!accepted) await new Promise((r) => setTimeout(r, 100));
  }
  t.ok(accepted, 'acknowledged again once space returned');
  const after = await getJson<Status>(agent.httpUrl + '/api/v1/status');
  t.equal(after.buffer?.writeError, undefined, 'no write error any more');
  // Everything else that needed the disk (the scheduler service's job store) starts on its next retry.
  const healthy = await waitFor(
    'health back to healthy',
    async () => {
      const s = await getJson<Status & { problems: string[] }>(agent.httpUrl + '/api/v1/status');
      return s.health === 'healthy' ? s : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 200 },
  );
  t.equal(healthy.health, 'healthy');
  t.equal((await agent.stop('SIGTERM')).code, 0, 'clean stop');
});
