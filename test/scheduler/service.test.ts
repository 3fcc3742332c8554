/**
 * The scheduler service over REST, in the real agent process: jobs submitted with POST
 * /api/v1/optimizations (202 { id }), run in a worker thread, read back with GET; bad jobs refused
 * with problem details naming the field; 429 beyond scheduler.maxJobs; results survive a restart.
 * The job is pymfm's own rule-based example (test/scheduler/fixtures/, source named there).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, startAgent, tempDir } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/wait.js';

const example = JSON.parse(readFileSync(join(repoRoot(), 'test', 'scheduler', 'fixtures', 'scheduling_rule_based.json'), 'utf8')) as Record<string, unknown>;

const post = (base: string, body: unknown) =>
  fetch(`${base}/api/v1/optimizations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

interface Job {
  id: string;
  status: string;
  result?: { status: string; schedule: unknown[] };
  error?: string;
}

t.test('submit, run in the background, read back; bad input and a full queue refused; results survive a restart', async (t) => {
  const dir = tempDir();
  const config = { scheduler: { maxJobs: 1 }, stats: { enabled: false } };
  const agent = await startAgent({ dir, config });
  t.teardown(() => agent.stop('SIGKILL'));
  const base = agent.httpUrl;

  const bad = await post(base, { ...example, battery_specs: [] });
  t.equal(bad.status, 400, 'a job without batteries');
  t.match(bad.headers.get('content-type'), /^application\/problem\+json/);
  t.match(((await bad.json()) as { detail: string }).detail, /batter/i, 'the detail names the field');

  // Two at once with maxJobs 1: the second finds the first still queued or running.
  const [first, second] = await Promise.all([post(base, example), post(base, example)]);
  t.equal(first.status, 202);
  t.equal(second.status, 429, 'beyond scheduler.maxJobs');
  t.ok(second.headers.get('retry-after'), 'with Retry-After');
  const { id } = (await first.json()) as { id: string };
  const done = await waitFor(
    'the job to finish',
    async () => {
      const j = (await (await fetch(`${base}/api/v1/optimizations/${id}`)).json()) as Job;
      return j.status === 'success' || j.status === 'failed' ? j : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 100 },
  );
  t.equal(done.status, 'success', done.error ?? '');
  t.equal(done.result?.status, 'success');
  t.ok((done.result?.schedule.length ?? 0) > 0, 'with its schedule');
  const list = (await (await fetch(`${base}/api/v1/optimizations`)).json()) as Job[];
  t.same(list.map((j) => [j.id, j.status]), [[id, 'success']]);
  const missing = await fetch(`${base}/api/v1/optimizations/nope`);
  t.equal(missing.status, 404);

  t.equal((await agent.stop('SIGTERM')).code, 0);
  const again = await startAgent({ dir, config });
  t.teardown(() => again.stop('SIGKILL'));
  const kept = (await (await fetch(`${again.httpUrl}/api/v1/optimizations/${id}`)).json()) as Job;
  t.equal(kept.status, 'success', 'the result survived the restart');
  const del = await fetch(`${again.httpUrl}/api/v1/optimizations/${id}`, { method: 'DELETE' });
  t.equal(del.status, 204);
  t.equal((await fetch(`${again.httpUrl}/api/v1/optimizations/${id}`)).status, 404, 'deleted');
});
