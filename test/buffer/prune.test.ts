import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import Database from 'better-sqlite3';
import { failPrunes, HandClock, open, pruneSettled, rows, tempDir, until } from './harness.js';

const HOUR = 3_600_000;

t.test('a row goes once every cursor has passed it, and no drop is counted', async (t) => {
  const { buffer, counters } = open(tempDir('cursors'));
  t.teardown(() => buffer.close());
  buffer.registerCursor('a');
  buffer.registerCursor('b');
  await buffer.append(rows(10));
  buffer.ack('a', 10);
  buffer.ack('b', 4);
  await until(() => buffer.stats().firstSeq === 5, 'rows 1-4 to be pruned');
  t.equal(buffer.stats().rows, 6, 'rows 5-10 wait for b');
  buffer.ack('b', 10);
  await until(() => buffer.stats().rows === 0, 'the rest to be pruned');
  t.equal(counters.total('buffer_pruned'), 10);
  t.equal(counters.total('buffer_dropped'), 0);
  t.same(buffer.stats().cursors.map((c) => c.dropped), [0, 0]);
});

t.test('a removed cursor no longer holds rows back', async (t) => {
  const { buffer } = open(tempDir('retain'));
  t.teardown(() => buffer.close());
  buffer.registerCursor('live');
  buffer.registerCursor('gone');
  await buffer.append(rows(5));
  buffer.ack('live', 5);
  t.same(buffer.retainCursors(['live']), [{ forwarder: 'gone', undelivered: 5 }], 'with the 5 rows it had not delivered');
  await until(() => buffer.stats().rows === 0, 'rows held only by the removed cursor to go');
  t.pass('pruned');
});

/** Disk space (allocated blocks) of every file in the buffer's directory. */
function diskUse(dir: string): { total: number; files: Record<string, number> } {
  const files: Record<string, number> = {};
  let total = 0;
  for (const f of fs.readdirSync(dir)) {
    const used = fs.statSync(path.join(dir, f)).blocks * 512;
    files[f] = used;
    total += used;
  }
  return { total, files };
}

t.test('maxBytes drops the oldest rows, counted per forwarder that had not delivered them', async (t) => {
  const dir = tempDir('maxbytes');
  const maxBytes = 512 * 1024;
  let o = open(dir, { maxBytes });
  o.buffer.registerCursor('behind', true);
  // 600 rows of 1000 bytes: more than the whole bound.
  for (let i = 0; i < 12; i++) await o.buffer.append(rows(50, 't', 999));
  t.equal(o.buffer.registerCursor('ahead'), 600, 'a cursor that starts after every row');
  await until(() => o.counters.total('buffer_pruned') > 0, 'the size limit to be enforced');
  await pruneSettled(o.counters, 'the size limit reached');
  const s = o.buffer.stats();
  t.equal(s.lastSeq, 600, 'the newest rows stay');
  t.ok(s.firstSeq > 1 && s.rows === 600 - s.firstSeq + 1, `rows ${s.firstSeq}..600 stay`);
  t.ok(s.bytes < maxBytes, `payload kept (${s.bytes}) is below the bound`);
  t.same(
    s.cursors.map((c) => [c.forwarder, c.cursor, c.dropped]),
    [
      ['behind', s.firstSeq - 1, s.firstSeq - 1],
      ['ahead', 600, 0],
    ],
    'behind lost the oldest rows and moved past them; ahead never had to deliver them',
  );
  t.equal(o.counters.get('buffer_dropped', { forwarder: 'behind' }), s.firstSeq - 1);
  t.equal(o.counters.get('buffer_dropped', { forwarder: 'ahead' }), 0);
  await o.buffer.close();
  const db = new Database(path.join(dir, 'buffer.db'), { readonly: true });
  t.same(db.prepare('SELECT forwarder, seq, dropped FROM cursors ORDER BY forwarder').all(), [
    { forwarder: 'ahead', seq: 600, dropped: 0 },
    { forwarder: 'behind', seq: s.firstSeq - 1, dropped: s.firstSeq - 1 },
  ], 'drops and the moved cursor are persisted');
  db.close();
  o = open(dir, { maxBytes });
  t.teardown(() => o.buffer.close());
  t.equal(o.buffer.stats().bytes, s.bytes, 'bytes are recounted at open');
});

t.test('maxBytes bounds the disk space of all the buffer files while rows keep coming', async (t) => {
  const dir = tempDir('diskbound');
  const maxBytes = 1024 * 1024;
  const o = open(dir, { maxBytes });
  t.teardown(() => o.buffer.close());
  o.buffer.registerCursor('down', true); // never delivers: only the limit makes room
  const payload = JSON.stringify({ ts: 1, v: { a: { mag: 230.1, ang: 0 } }, pad: 'x'.repeat(340) }); // ~400 bytes
  let worst = { total: 0, files: {} as Record<string, number> };
  for (let i = 0; i < 100; i++) {
    await o.buffer.append(Array.from({ length: 100 }, () => ({ topic: 'bal/processed/pmu1', payload })));
    const use = diskUse(dir);
    if (use.total > worst.total) worst = use;
  }
  t.comment(`largest disk use seen: ${worst.total} bytes ${JSON.stringify(worst.files)}`);
  t.ok(o.counters.total('buffer_dropped') > 5000, 'most of the 4 MB written was dropped to stay within the bound');
  t.ok(worst.total <= maxBytes, `disk use ${worst.total} <= maxBytes ${maxBytes}`);
  t.ok(worst.files['buffer.reserve']! > 0, 'the space reserve is part of it');
  t.equal(o.buffer.lastSeq(), 10_000);
});

t.test('a small maxBytes holds for the allocated blocks of every file, with appends larger than a prune batch and rows read back meanwhile', async (t) => {
  // 300 000 bytes: a 64 KiB WAL whose prune batch (16 KiB) is smaller than one append (~45 KB); the
  // rows are read back while each append commits, as a forwarder draining a backlog does, which
  // keeps SQLite from restarting the WAL; and the database grows page by page in many extents.
  const dir = tempDir('smallbound');
  const maxBytes = 300_000;
  const o = open(dir, { maxBytes });
  t.teardown(() => o.buffer.close());
  o.buffer.registerCursor('down', true); // never delivers: only the limit makes room
  const payload = (k: number) => JSON.stringify({ ts: k, v: { a: { mag: 230 + k / 1000, ang: 0 } }, pad: 'x'.repeat(400) });
  let worst = { total: 0, files: {} as Record<string, number> };
  let k = 0;
  // 60 appends of 100 rows (larger than a prune batch), then 600 of 5 rows (small transactions
  // that leave the WAL to SQLite's own checkpoints, which the reads hold back).
  let refused = 0;
  for (let i = 0; i < 660; i++) {
    const n = i < 60 ? 100 : 5;
    const batch = Array.from({ length: n }, () => ({ topic: 'bal/processed/pmu1', payload: payload(k++) }));
    // An append the buffer refuses (a read kept the WAL from being started over for walWaitMs, which
    // only a very loaded box makes happen here) is sent again, as a device does without its PUBACK.
    for (let sent = false; !sent; ) {
      let done = false;
      const appended = o.buffer.append(batch).finally(() => {
        done = true;
      });
      while (!done) {
        o.buffer.read(Math.max(0, o.buffer.stats().firstSeq - 1), 200);
        await new Promise((r) => setImmediate(r));
      }
      sent = await appended.then(
        () => true,
        (err: Error) => {
          if (!/a reader has held the WAL/.test(err.message)) throw err;
          refused++;
          return false;
        },
      );
      const use = diskUse(dir);
      if (use.total > worst.total) worst = use;
    }
  }
  if (refused) t.comment(`${refused} append(s) refused while a read held the WAL, sent again`);
  t.comment(`largest disk use seen: ${worst.total} bytes ${JSON.stringify(worst.files)}`);
  t.ok(o.counters.total('buffer_dropped') > 8_000, 'most of the 4 MB written was dropped to stay within the bound');
  t.ok(worst.total <= maxBytes, `disk use ${worst.total} <= maxBytes ${maxBytes}`);
  t.equal(o.buffer.lastSeq(), 9_000);
});

t.test('a reader holding the WAL: the bound still holds; appends that would pass it are refused, counted, and none accepted is lost', async (t) => {
  // A read transaction open on another connection (the sqlite3 shell, a long history read) keeps a
  // snapshot in the WAL: no checkpoint can start it over, so every commit adds to it. Before, the
  // WAL grew with each commit past its part of maxBytes (the checkpoint that was to truncate it
  // waited in vain and the transaction went anyway); now the transaction that would take it past its
  // part is refused instead (BufferWriteError, buffer_write_errors), and the next one after the
  // reader is gone goes.
  const dir = tempDir('heldreader');
  const maxBytes = 300_000;
  const o = open(dir, { maxBytes, walWaitMs: 50 });
  t.teardown(() => o.buffer.close());
  o.buffer.registerCursor('down', true);
  const payload = (k: number) => JSON.stringify({ ts: k, v: { a: { mag: 230 + k / 1000, ang: 0 } }, pad: 'x'.repeat(400) });
  let k = 0;
  const batch = (n: number) => Array.from({ length: n }, () => ({ topic: 'bal/processed/pmu1', payload: payload(k++) }));
  await o.buffer.append(batch(5));

  const reader = new Database(path.join(dir, 'buffer.db'), { readonly: true });
  t.teardown(() => reader.close());
  reader.exec('BEGIN');
  t.ok((reader.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n > 0, 'the reader holds a snapshot');

  let accepted = 5;
  let refused = 0;
  let worst = { total: 0, files: {} as Record<string, number> };
  for (let i = 0; i < 200; i++) {
    try {
      const seqs = await o.buffer.append(batch(5));
      accepted += seqs.length;
    } catch (err) {
      t.equal((err as Error).name, 'BufferWriteError', 'a refusal is a BufferWriteError');
      refused++;
    }
    const use = diskUse(dir);
    if (use.total > worst.total) worst = use;
    if (refused >= 3 || worst.total > maxBytes) break;
  }
  t.comment(`held reader: largest disk use ${worst.total} bytes ${JSON.stringify(worst.files)}; ${accepted} rows accepted, ${refused} appends refused`);
  t.ok(worst.total <= maxBytes, `disk use ${worst.total} <= maxBytes ${maxBytes} while the reader holds the WAL`);
  t.ok(refused >= 1, 'appends that would pass the bound are refused');
  t.ok(o.counters.total('buffer_write_errors') >= refused, 'and counted');
  t.match(o.buffer.stats().writeError ?? '', /reader/, 'the buffer says why');

  reader.exec('COMMIT');
  const after = await o.buffer.append(batch(5));
  accepted += after.length;
  t.equal(o.buffer.lastSeq(), accepted, 'once the reader is gone appends go again; every accepted row has its seq');
  t.equal(o.buffer.stats().writeError, undefined, 'and the refusal is over');
  const kept = o.buffer.stats().rows;
  t.equal(kept + o.counters.total('buffer_dropped'), accepted, 'every accepted row is kept or counted as dropped by the bound');
  t.ok(diskUse(dir).total <= maxBytes, 'within the bound after the reader');
});

t.test('pruning a large backlog goes in small batches until done', async (t) => {
  const { buffer, counters } = open(tempDir('batches'), { pruneBatchRows: 100 });
  t.teardown(() => buffer.close());
  buffer.registerCursor('c');
  await buffer.append(rows(1000));
  buffer.ack('c', 1000);
  await until(() => buffer.stats().rows === 0, 'the backlog to be pruned');
  t.equal(counters.total('buffer_pruned'), 1000);
});

t.test('maxAgeHours drops rows older than the limit, counted per forwarder', async (t) => {
  const clock = new HandClock();
  const { buffer, counters } = open(tempDir('maxage'), { maxAgeHours: 1, clock });
  t.teardown(() => buffer.close());
  buffer.registerCursor('c', true);
  await buffer.append(rows(3));
  clock.advance(0.5 * HOUR);
  await buffer.append(rows(2));
  clock.advance(0.6 * HOUR); // rows 1-3 are 66 min old, rows 4-5 36 min
  await until(() => buffer.stats().rows === 2, 'the old rows to go');
  t.equal(buffer.stats().firstSeq, 4);
  t.equal(counters.get('buffer_dropped', { forwarder: 'c' }), 3);
  t.equal(buffer.cursor('c'), 3);
});

t.test('fromStart starts below the oldest row a forwarder has not delivered: rows kept only for history are not sent again', async (t) => {
  const clock = new HandClock();
  const { buffer, counters } = open(tempDir('oldest-history'), { historyHours: 24, clock });
  t.teardown(() => buffer.close());
  buffer.registerCursor('a');
  await buffer.append(rows(10));
  buffer.ack('a', 6);
  await pruneSettled(counters, 'rows 1-6 delivered, kept for history');
  t.equal(buffer.stats().firstSeq, 1, 'rows 1-6 are kept for history');
  t.equal(buffer.registerCursor('b', true), 6, 'a new forwarder starts after what every forwarder delivered: it sends 7-10');
  buffer.ack('b', 10);
  t.same(buffer.retainCursors(['b']), [{ forwarder: 'a', undelivered: 4 }], 'a is removed (renamed to a2) with 4 rows undelivered');
  t.equal(buffer.registerCursor('a2', true), 6, "its successor starts where a was: a's backlog is sent, not the history");
  t.equal(buffer.stats().firstSeq, 1, 'the history is still there');
  buffer.ack('a2', 10);
  await buffer.append(rows(2));
  buffer.ack('a2', 12);
  buffer.ack('b', 12);
  clock.advance(25 * HOUR);
  await until(() => buffer.stats().rows === 0, 'every row delivered and out of the history window');
  t.equal(buffer.registerCursor('c', true), 12, 'once the rows a left are gone, its old place no longer counts');
});

t.test('fromStart after the only forwarder was removed having delivered everything: the history is not sent again, the rows buffered since are', async (t) => {
  const { buffer, counters } = open(tempDir('oldest-after-removed'), { historyHours: 24 });
  t.teardown(() => buffer.close());
  buffer.registerCursor('a');
  await buffer.append(rows(10));
  buffer.ack('a', 10);
  await pruneSettled(counters, 'rows 1-10 delivered, kept for history');
  t.equal(buffer.stats().firstSeq, 1, 'rows 1-10 are kept for history');
  t.same(buffer.retainCursors([]), [{ forwarder: 'a', undelivered: 0 }], 'a is removed (a reload without forwarders), nothing undelivered');
  await buffer.append(rows(3)); // rows 11-13, buffered while no forwarder is configured
  t.equal(buffer.registerCursor('b', true), 10, "a forwarder added later starts after a's place: it sends 11-13, not the history 1-10");
});

t.test('a prune that fails to commit moves the cursor back, past acks made meanwhile, and tells the forwarder', async (t) => {
  const clock = new HandClock();
  const dir = tempDir('prunefail');
  const { buffer, counters } = open(dir, { maxAgeHours: 1, clock });
  t.teardown(() => buffer.close());
  const resets: number[] = [];
  buffer.registerCursor('c', true, (seq) => resets.push(seq));
  await buffer.append(rows(5));
  clock.advance(0.6 * HOUR);
  await buffer.append(rows(3));
  const fault = failPrunes(dir);
  t.teardown(() => fault.close());
  clock.advance(0.5 * HOUR); // rows 1-5 are 66 min old, 6-8 36 min
  await until(() => buffer.cursor('c') === 5, 'the prune planned: the cursor moved past rows 1-5');
  buffer.ack('c', 8); // as a forwarder that set rows 1-5 aside as dropped and delivered 6-8 would
  fault.release(); // the prune's DELETE now runs into the trigger
  await until(() => resets.length > 0, 'the failed prune undone');
  t.equal(resets[0], 0, 'the forwarder is told its cursor is back at 0');
  t.ok(counters.total('buffer_write_errors') > 0, 'the failure is counted');
  t.equal(counters.total('buffer_dropped'), 0, 'nothing counted as dropped: nothing was deleted');
  t.equal(buffer.stats().firstSeq, 1, 'rows 1-5 are still there');
  fault.heal();
  await until(() => buffer.stats().firstSeq === 6, 'the next prune to go through');
  t.equal(counters.get('buffer_dropped', { forwarder: 'c' }), 5, 'rows 1-5 counted as dropped once');
  t.equal(buffer.cursor('c'), 5, 'the cursor just past them (the ack of 6-8 was undone with the prune)');
});

t.test('a forward step of the wall clock does not mass-delete: ages follow real time', async (t) => {
  const clock = new HandClock();
  const { buffer, counters } = open(tempDir('fwdstep'), { maxAgeHours: 1, clock });
  t.teardown(() => buffer.close());
  buffer.registerCursor('c', true);
  await buffer.append(rows(3)); // stamped on the old clock (an RTC-less box before NTP)
  clock.step(10 * 365 * 24 * HOUR); // NTP sets the clock ten years ahead
  clock.advance(1_000);
  await until(() => counters.total('buffer_clock_steps') === 1, 'the step to be seen');
  clock.advance(0.5 * HOUR);
  await buffer.append(rows(2)); // stamped on the new clock, half an hour after the first rows
  // Let the pruner run several rounds at this time: nothing is an hour old in real time.
  const pruned = counters.total('buffer_pruned');
  const rounds = counters.total('buffer_prune_rounds');
  await until(() => counters.total('buffer_prune_rounds') >= rounds + 3, 'three prune rounds after the step');
  t.equal(buffer.stats().rows, 5, 'all rows kept');
  t.equal(counters.total('buffer_pruned'), pruned);
  t.ok(buffer.stats().oldestAgeSeconds < 3600, `oldest row is ${buffer.stats().oldestAgeSeconds} s old, not ten years`);
  t.same(buffer.read(0, 10).map((r) => r.seq), [1, 2, 3, 4, 5], 'order is by seq');
  clock.advance(0.51 * HOUR); // now the first rows are really just over an hour old
  await until(() => buffer.stats().firstSeq === 4, 'the really old rows to go');
  t.equal(buffer.stats().rows, 2, 'the rows stored after the step are 31 min old and stay');
  t.equal(counters.get('buffer_dropped', { forwarder: 'c' }), 3);
});

t.test('a backward step keeps seq order and never makes ages negative', async (t) => {
  const clock = new HandClock();
  const dir = tempDir('backstep');
  let o = open(dir, { maxAgeHours: 1, clock });
  o.buffer.registerCursor('c', true);
  t.same(await o.buffer.append(rows(2)), [1, 2]);
  clock.step(-24 * HOUR);
  t.same(await o.buffer.append(rows(2)), [3, 4]);
  t.same(o.buffer.read(0, 10).map((r) => r.seq), [1, 2, 3, 4]);
  t.ok(o.buffer.stats().oldestAgeSeconds >= 0);
  await o.buffer.close();

  // The clock goes back again while the agent is stopped: the newest row is then in the future.
  clock.step(-24 * HOUR);
  o = open(dir, { maxAgeHours: 1, clock });
  t.teardown(() => o.buffer.close());
  t.equal(o.counters.total('buffer_clock_steps'), 1, 'seen at open');
  t.ok(o.lines.some((l) => /stamped in the future/.test(l.msg)), 'and logged');
  t.equal(o.buffer.stats().oldestAgeSeconds, 0, 'ages count from now for those rows');
  const rounds = o.counters.total('buffer_prune_rounds');
  await until(() => o.counters.total('buffer_prune_rounds') >= rounds + 3, 'three prune rounds after reopening');
  t.equal(o.buffer.stats().rows, 4, 'nothing pruned by a clock that went back');
  clock.advance(1.01 * HOUR);
  await until(() => o.buffer.stats().rows === 0, 'rows to go after a real hour');
  t.equal(o.counters.get('buffer_dropped', { forwarder: 'c' }), 4);
});
