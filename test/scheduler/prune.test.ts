/**
 * scheduler.keepFinishedJobs: finished jobs past the bound are deleted, those finished longest ago
 * first; queued and running jobs never. The store on a real SQLite file, then the real agent with
 * pymfm's rule-based example (test/scheduler/fixtures/, source named there).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { JobStore, type JobStatus } from '../../agent/services/scheduler/store.js';
import { getJson, repoRoot, startAgent, tempDir } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/wait.js';

t.test('the store keeps the most recently finished jobs and every pending one', async (t) => {
  const store = new JobStore(tempDir('gridedge-sched-prune-'), 0);
  t.teardown(() => store.close());
  const add = (id: string, status: JobStatus, at: number): void => {
    store.insert({ id, status: 'created', model: 'physical', created_at: at, updated_at: at, input: {} });
    if (status !== 'created') store.update(id, status, at);
  };
  add('old-ok', 'success', 1);
  add('queued', 'created', 2);
  add('old-failed', 'failed', 3);
  add('running', 'running', 4);
  add('new-ok', 'success', 5);
  add('new-failed', 'failed', 6);
  t.equal(store.pruneFinished(2), 2, 'two finished jobs past the bound');
  t.same(store.list().map((j) => j.id).sort(), ['new-failed', 'new-ok', 'queued', 'running'], 'the two finished last stay, and every pending one');
  t.equal(store.pruneFinished(2), 0, 'nothing more');
});

t.test('the agent deletes finished jobs past keepFinishedJobs, counted on /metrics', async (t) => {
  const example = JSON.parse(readFileSync(join(repoRoot(), 'test', 'scheduler', 'fixtures', 'scheduling_rule_based.json'), 'utf8')) as Record<string, unknown>;
  const agent = await startAgent({ config: { scheduler: { keepFinishedJobs: 2 }, stats: { enabled: false } } });
  t.teardown(() => agent.stop('SIGKILL'));
  const base = agent.httpUrl;
  const finished = (id: string) =>
    waitFor(`job ${id} to finish`, async () => {
      const r = await fetch(`${base}/api/v1/optimizations/${id}`);
      const j = (await r.json()) as { status?: string };
      return j.status === 'success' || j.status === 'failed' ? j : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });
  const ids: string[] = [];
  for (let k = 0; k < 3; k++) {
    const r = await fetch(`${base}/api/v1/optimizations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(example) });
    t.equal(r.status, 202);
    const { id } = (await r.json()) as { id: string };
    ids.push(id);
    t.equal((await finished(id)).status, 'success');
  }
  const list = await getJson<{ id: string }[]>(`${base}/api/v1/optimizations`);
  t.same(list.map((j) => j.id).sort(), ids.slice(1).sort(), 'the first job finished is gone, the last two stay');
  t.equal((await fetch(`${base}/api/v1/optimizations/${ids[0]}`)).status, 404);
  const metrics = await (await fetch(`${base}/metrics`)).text();
  t.match(metrics, /^gridedge_scheduler_jobs_pruned_total 1$/m, 'counted');
  t.ok(agent.logs.some((l) => /1 finished job\(s\) deleted, past scheduler\.keepFinishedJobs \(2\)/.test(String(l.msg))), 'logged');
});
