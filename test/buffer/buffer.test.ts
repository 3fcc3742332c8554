import path from 'node:path';
import t from 'tap';
import Database from 'better-sqlite3';
import type { StoredMessage } from '../../agent/core/plugin.js';
import { MIN_MAX_BYTES, openBuffer } from '../../agent/buffer/index.js';
import { Counters } from '../../agent/core/counters.js';
import { HandClock, keptLog, open, pruneSettled, rows, tempDir, until } from './harness.js';

t.test('append resolves with increasing seqs; read returns rows in seq order', async (t) => {
  const clock = new HandClock();
  const { buffer } = open(tempDir('append'), { clock });
  t.teardown(() => buffer.close());
  buffer.registerCursor('central');
  t.same(await buffer.append([{ topic: 'a', payload: '{"x":1}' }, { topic: 'b', payload: '{"x":2}' }]), [1, 2]);
  t.same(await buffer.append([{ topic: 'c', payload: '{"x":3}' }]), [3]);
  t.equal(buffer.lastSeq(), 3);
  t.same(buffer.read(0, 10).map(({ seq, storedAt, topic, payload }) => ({ seq, storedAt, topic, payload })), [
    { seq: 1, storedAt: clock.wallMs, topic: 'a', payload: '{"x":1}' },
    { seq: 2, storedAt: clock.wallMs, topic: 'b', payload: '{"x":2}' },
    { seq: 3, storedAt: clock.wallMs, topic: 'c', payload: '{"x":3}' },
  ]);
  t.equal(buffer.read(0, 1)[0]!.spliced?.([['gw', '"g"'], ['seq', '1']]), '{"gw":"g","seq":1,"x":1}', 'an encoded row splices the forwarded fields from its shape');
  t.same(buffer.read(1, 1).map((r) => r.seq), [2], 'limit');
  t.same(buffer.read(0, 10, 2).map((r) => r.seq), [1, 2], 'upTo is inclusive');
  t.same(buffer.read(3, 10), [], 'nothing after the last row');
  t.same(await buffer.append([]), [], 'an empty append resolves at once');
});

t.test('appends of one tick share one transaction, and the rows are on disk when the promise resolves', async (t) => {
  const dir = tempDir('group');
  const { buffer } = open(dir);
  t.teardown(() => buffer.close());
  buffer.registerCursor('central');
  const feeds: StoredMessage[][] = [];
  buffer.onCommit((r) => feeds.push([...r]));
  const all = await Promise.all([buffer.append(rows(2)), buffer.append(rows(3)), buffer.append(rows(1))]);
  t.same(all, [[1, 2], [3, 4, 5], [6]]);
  t.equal(feeds.length, 1, 'one commit for the three appends');
  t.same(feeds[0]!.map((r) => r.seq), [1, 2, 3, 4, 5, 6], 'the live feed carries every committed row in order');
  // Another connection sees them right away: they were committed before the promises resolved.
  const other = new Database(path.join(dir, 'buffer.db'), { readonly: true });
  t.teardown(() => other.close());
  t.equal(other.prepare('SELECT COUNT(*) FROM messages').pluck().get(), 6);
  t.equal(other.pragma('journal_mode', { simple: true }), 'wal');
});

t.test('many rows queued at once commit without waiting for the period', async (t) => {
  const { buffer } = open(tempDir('batch'), { commitIntervalMs: 60_000, pruneIntervalMs: 60_000, maxBatchRows: 10 });
  t.teardown(() => buffer.close());
  // With a one-minute period and a one-minute tick (a tick commits what is queued too), only the size
  // trigger can commit these before the test's safety timeout.
  const seqs = await buffer.append(rows(10));
  t.same(seqs, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
});

t.test('cursors: start at the last seq or 0, never move back, persist across reopen', async (t) => {
  const dir = tempDir('cursor');
  let o = open(dir);
  await o.buffer.append(rows(5));
  t.equal(o.buffer.registerCursor('replay', true), 0, 'fromStart, with no other cursor, starts at 0');
  t.equal(o.buffer.registerCursor('central'), 5, 'a new cursor starts at the last seq');
  t.equal(o.buffer.registerCursor('central', true), 5, 'registering again keeps the cursor');
  o.buffer.ack('replay', 3);
  o.buffer.ack('replay', 2);
  t.equal(o.buffer.cursor('replay'), 3, 'ack never moves back');
  o.buffer.ack('replay', 99);
  t.equal(o.buffer.cursor('replay'), 5, 'ack stops at the last committed seq');
  t.throws(() => o.buffer.ack('nobody', 1), /no cursor for forwarder "nobody"/);
  t.throws(() => o.buffer.ack('replay', -1), /seq must be an integer >= 0, got -1/);
  t.throws(() => o.buffer.cursor('nobody'), /registerCursor first/);
  o.buffer.registerCursor('old');
  t.same(o.buffer.retainCursors(['central', 'replay']), [{ forwarder: 'old', undelivered: 0 }], 'registered at the last seq: nothing undelivered');
  t.throws(() => o.buffer.cursor('old'), /no cursor/);
  await o.buffer.close();

  o = open(dir);
  t.teardown(() => o.buffer.close());
  t.equal(o.buffer.cursor('replay'), 5, 'acks were persisted by close');
  t.equal(o.buffer.cursor('central'), 5);
  t.same(o.buffer.stats().cursors.map((c) => c.forwarder).sort(), ['central', 'replay'], 'the removed cursor stays removed');
});

t.test('acks are persisted by the periodic transaction, without close', async (t) => {
  const dir = tempDir('ackflush');
  const { buffer } = open(dir);
  t.teardown(() => buffer.close());
  await buffer.append(rows(4));
  buffer.registerCursor('central', true);
  buffer.ack('central', 3);
  const other = new Database(path.join(dir, 'buffer.db'), { readonly: true });
  t.teardown(() => other.close());
  const saved = (): unknown => other.prepare(`SELECT seq FROM cursors WHERE forwarder = 'central'`).pluck().get();
  await until(() => saved() === 3, 'the ack to reach the cursors table');
  t.equal(saved(), 3);
});

t.test('a seq is never reused, even after pruning every row and reopening', async (t) => {
  const dir = tempDir('reuse');
  const clock = new HandClock();
  let o = open(dir, { clock });
  o.buffer.registerCursor('central');
  await o.buffer.append(rows(5));
  o.buffer.ack('central', 5);
  await until(() => o.buffer.stats().rows === 0, 'delivered rows to be pruned');
  t.equal(o.buffer.lastSeq(), 5);
  await o.buffer.close();

  o = open(dir, { clock });
  t.teardown(() => o.buffer.close());
  t.equal(o.buffer.lastSeq(), 5, 'lastSeq comes from sqlite_sequence when the table is empty');
  t.same(o.buffer.stats().firstSeq, 0, 'firstSeq is 0 when empty');
  t.same(await o.buffer.append(rows(2)), [6, 7]);
  clock.advance(2_500);
  t.same(o.buffer.stats().cursors, [{ forwarder: 'central', cursor: 5, lag: 2, lagSeconds: 2.5, dropped: 0 }], 'lag and its age on the injected clock');
});

t.test('with no cursor registered, rows are kept within the limits for a forwarder added later', async (t) => {
  const maxBytes = MIN_MAX_BYTES + 64 * 1024;
  const { buffer, counters } = open(tempDir('nocursor'), { maxBytes });
  t.teardown(() => buffer.close());
  // 1000-byte rows, far more than the data part of maxBytes holds.
  for (let i = 0; i < 10; i++) await buffer.append(rows(50, 't', 1000));
  await until(() => counters.total('buffer_pruned') > 0, 'the size limit to be enforced');
  await pruneSettled(counters, 'the size limit reached');
  const kept = buffer.stats();
  t.ok(kept.rows > 0 && kept.rows < 500, `the oldest rows went, ${kept.rows} stay`);
  t.equal(kept.lastSeq, 500, 'the newest row stays');
  t.equal(counters.total('buffer_dropped'), 0, 'nothing counts as dropped: no forwarder missed it');
  const rounds = counters.total('buffer_prune_rounds');
  await until(() => counters.total('buffer_prune_rounds') >= rounds + 3, 'three more prune rounds');
  t.equal(buffer.stats().rows, kept.rows, 'the rest stay although no cursor holds them');
  t.equal(buffer.registerCursor('late', true), 0);
  const read = buffer.read(0, 1000).map((r) => r.seq);
  t.equal(read.length, kept.rows, 'a forwarder registered fromStart gets them');
  t.equal(read[0], kept.firstSeq);
});

t.test('stats: rows, UTF-8 bytes, first/last seq, lag and ages', async (t) => {
  const clock = new HandClock();
  const { buffer } = open(tempDir('stats'), { clock });
  t.teardown(() => buffer.close());
  buffer.registerCursor('central');
  await buffer.append([{ topic: 'tö', payload: '"é"' }]); // 3 + 4 bytes in UTF-8
  clock.advance(10_000);
  await buffer.append([{ topic: 't', payload: 'xy' }]);
  clock.advance(5_000);
  const s = buffer.stats();
  t.match(s.path, /buffer\.db$/);
  t.equal(s.rows, 2);
  t.equal(s.bytes, 3 + 4 + 1 + 2);
  t.equal(s.firstSeq, 1);
  t.equal(s.lastSeq, 2);
  t.equal(s.oldestAgeSeconds, 15);
  t.same(s.cursors, [{ forwarder: 'central', cursor: 0, lag: 2, lagSeconds: 15, dropped: 0 }]);
  t.notOk('writeError' in s, 'no write error');
  buffer.ack('central', 1);
  t.same(buffer.stats().cursors[0], { forwarder: 'central', cursor: 1, lag: 1, lagSeconds: 5, dropped: 0 });
});

t.test('onCommit: unsubscribe works; a throwing listener is counted and does not break appends', async (t) => {
  const { buffer, counters } = open(tempDir('listen'));
  t.teardown(() => buffer.close());
  let seen = 0;
  const off = buffer.onCommit((r) => (seen += r.length));
  buffer.onCommit(() => {
    throw new Error('listener bug');
  });
  t.same(await buffer.append(rows(2)), [1, 2]);
  off();
  t.same(await buffer.append(rows(1)), [3]);
  t.equal(seen, 2, 'the unsubscribed listener saw only the first commit');
  t.equal(counters.total('buffer_listener_errors'), 2);
});

t.test('close resolves pending appends; the buffer refuses work afterwards', async (t) => {
  const dir = tempDir('close');
  const o = open(dir, { commitIntervalMs: 60_000 });
  o.buffer.registerCursor('central');
  const pending = o.buffer.append(rows(3));
  await o.buffer.close();
  t.same(await pending, [1, 2, 3]);
  await t.rejects(o.buffer.append(rows(1)), /closed/);
  t.throws(() => o.buffer.read(0, 1), /closed/);
  await o.buffer.close(); // twice is fine
  const again = open(dir);
  t.teardown(() => again.buffer.close());
  t.equal(again.buffer.read(0, 10).length, 3);
});

t.test('bad input is refused with what and where', async (t) => {
  const { buffer } = open(tempDir('bad'));
  t.teardown(() => buffer.close());
  await t.rejects(buffer.append([{ topic: 'a', payload: 'x' }, { topic: 'b', payload: 3 as unknown as string }]), /rows\[1\]\.payload must be a string/);
  await t.rejects(buffer.append([{ topic: '', payload: 'x' }]), /rows\[0\]\.topic must be a non-empty string/);
  t.throws(() => buffer.read(0, 0), /limit must be an integer >= 1/);
  t.throws(() => buffer.read(-1, 1), /after must be an integer >= 0/);
  t.throws(() => buffer.registerCursor(''), /forwarder must be a non-empty string/);
  const base = { dir: tempDir('badopts'), maxBytes: 0, maxAgeHours: 0, commitIntervalMs: 5, log: keptLog().log, counters: new Counters() };
  t.throws(() => openBuffer({ ...base, maxBytes: -1 }), /maxBytes must be an integer >= 0 \(0 = unlimited\), got -1/);
  t.throws(() => openBuffer({ ...base, maxBytes: 450 }), new RegExp(`maxBytes must be 0 \\(unlimited\\) or at least ${MIN_MAX_BYTES} .*got 450`));
  t.throws(() => openBuffer({ ...base, maxAgeHours: Number.NaN }), /maxAgeHours must be a number >= 0/);
  t.throws(() => openBuffer({ ...base, dir: '' }), /dir must be a non-empty path/);
});

t.test('a directory in place of the file is reported, not moved aside', async (t) => {
  const dir = tempDir('dirinway');
  (await import('node:fs')).mkdirSync(path.join(dir, 'buffer.db'));
  t.throws(() => open(dir), /cannot open .*buffer\.db/);
});
