/**
 * The WAL's size on a real buffer file: SQLite's own checkpoints keep it near a quarter of its part
 * of maxBytes (`walBytes`), and it is reused in place (its size never drops back, so commits
 * overwrite blocks it has rather than grow it); a reader holding an old snapshot lets it grow past
 * `walBytes`, and the first commit after the reader lets go truncates it back.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import Database from 'better-sqlite3';
import { spaceBudget } from '../../agent/buffer/space.js';
import { open, rows, tempDir } from './harness.js';

const MAX_BYTES = 1024 * 1024;
const budget = spaceBudget(MAX_BYTES);

const walSize = (dir: string): number => {
  try {
    return fs.statSync(path.join(dir, 'buffer.db-wal')).size;
  } catch {
    return 0;
  }
};

t.test('the WAL is checkpointed at a quarter of its part and reused in place, not truncated', async (t) => {
  const dir = tempDir('wal-reuse');
  const o = open(dir, { maxBytes: MAX_BYTES });
  t.teardown(() => o.buffer.close());
  const sizes: number[] = [];
  let written = 0;
  for (let k = 0; k < 120; k++) {
    const batch = rows(10, 'bal/processed/pmu1', 1500);
    written += batch.reduce((n, r) => n + r.payload.length, 0);
    await o.buffer.append(batch);
    sizes.push(walSize(dir));
  }
  const max = Math.max(...sizes);
  t.ok(written > 8 * budget.walBytes, `more was written (${written} B) than the WAL could hold without checkpoints`);
  t.ok(max <= budget.checkpointAtBytes + budget.txnBytes + 8 * 4096, `the WAL stayed near a quarter of its part: at most ${max} B (walBytes ${budget.walBytes})`);
  const first = sizes.findIndex((s) => s >= budget.checkpointAtBytes);
  t.ok(first >= 0, 'the WAL reached the checkpoint size');
  const drops = sizes.slice(first).filter((s, i, a) => i > 0 && s < a[i - 1]!).length;
  t.equal(drops, 0, 'once it reached the checkpoint size, its file never shrank: it was written again in place');
  t.ok(o.buffer.stats().rows > 0, 'rows are kept');
  t.notOk(o.buffer.stats().writeError, 'no write failed');
});

t.test('a WAL a reader holds stays within its part: the commit that would pass it is refused, and the first one after the reader lets go truncates it', async (t) => {
  const dir = tempDir('wal-reader');
  const o = open(dir, { maxBytes: MAX_BYTES, walWaitMs: 50 });
  t.teardown(() => o.buffer.close());
  await o.buffer.append(rows(1));
  // A reader at an old snapshot: no checkpoint can go past it, so the WAL cannot restart.
  const reader = new Database(path.join(dir, 'buffer.db'), { readonly: true });
  t.teardown(() => reader.close());
  reader.exec('BEGIN');
  reader.prepare('SELECT COUNT(*) FROM messages').pluck().get();
  let refusal: Error | undefined;
  let largest = 0;
  for (let k = 0; k < 200 && !refusal; k++) {
    await o.buffer.append(rows(10, 'bal/processed/pmu1', 1500)).catch((e: Error) => (refusal = e));
    largest = Math.max(largest, walSize(dir));
  }
  t.match(refusal?.message, /a reader has held the WAL/, 'with the reader holding it, an append that would take the WAL past its part is refused');
  t.ok(largest <= budget.walBytes, `the WAL stayed within its part: at most ${largest} B (walBytes ${budget.walBytes})`);
  reader.exec('COMMIT');
  await o.buffer.append(rows(1));
  const after = walSize(dir);
  t.ok(after < budget.walBytes, `the next commit checkpointed and truncated it: ${after} B`);
  t.notOk(o.buffer.stats().writeError, 'writes go again');
});
