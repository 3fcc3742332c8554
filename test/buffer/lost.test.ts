/**
 * The database file deleted or replaced under a running buffer, or missing at open: appends are
 * refused (never acknowledged into a file nobody will read again), writeError is set, the file is
 * re-created with everything the open connections still see, and no seq is ever issued twice.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import Database from 'better-sqlite3';
import { readSeqFloor } from '../../agent/buffer/seq-floor.js';
import { open, rows, tempDir, until } from './harness.js';

const inode = (f: string): number => fs.statSync(f).ino;

function removeDb(dir: string): void {
  for (const s of ['', '-wal', '-shm']) fs.rmSync(path.join(dir, `buffer.db${s}`), { force: true });
}

t.test('buffer.db* deleted while open: refused, degraded, re-created with every row, seqs continue', async (t) => {
  const dir = tempDir('deleted');
  const o = open(dir);
  t.teardown(() => o.buffer.close());
  o.buffer.registerCursor('central', true);
  const before = (await o.buffer.append(rows(300))).concat(await o.buffer.append(rows(200)));
  o.buffer.ack('central', 100);
  const oldInode = inode(path.join(dir, 'buffer.db'));

  removeDb(dir);
  await t.rejects(o.buffer.append(rows(1)), { name: 'BufferWriteError', message: /was deleted/ }, 'the next append is refused');
  t.match(o.buffer.stats().writeError, /was deleted/, 'writeError says why');
  t.equal(o.counters.total('buffer_file_lost'), 1, 'counted');
  t.ok(o.lines.some((l) => l.level === 50 && /deleted or replaced while open/.test(l.msg)), 'logged at error level');

  await until(() => o.buffer.stats().writeError === undefined, 'the database to be re-created and writes to succeed');
  const file = path.join(dir, 'buffer.db');
  t.not(inode(file), oldInode, 'a new file is in place');
  t.same(o.buffer.read(100, 1000).map((r) => r.seq), before.slice(100), 'every row not yet delivered was copied into it');
  const [next] = await o.buffer.append(rows(1));
  t.equal(next, before[before.length - 1]! + 1, 'seqs continue without a gap and without reuse');
  t.equal(o.buffer.cursor('central'), 100, 'the cursor kept its place');
  t.equal(o.counters.total('buffer_lost_rows'), 0, 'nothing lost');
  await o.buffer.close();

  const db = new Database(file, { readonly: true });
  t.teardown(() => db.close());
  t.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  t.equal(db.prepare('SELECT COUNT(*) FROM messages WHERE seq > 100').pluck().get(), 401, 'on disk after close');
  t.equal(db.prepare(`SELECT seq FROM cursors WHERE forwarder = 'central'`).pluck().get(), 100);
});

t.test('buffer.db replaced by another file while open: that file is moved aside, ours re-created', async (t) => {
  const dir = tempDir('replaced');
  const o = open(dir);
  t.teardown(() => o.buffer.close());
  const before = await o.buffer.append(rows(50));
  const other = path.join(dir, 'other.db');
  const foreign = new Database(other);
  foreign.exec('CREATE TABLE x (y)');
  foreign.close();
  fs.renameSync(other, path.join(dir, 'buffer.db'));

  await t.rejects(o.buffer.append(rows(1)), { name: 'BufferWriteError', message: /replaced by another file/ });
  await until(() => o.buffer.stats().writeError === undefined, 'the database to be re-created');
  const aside = fs.readdirSync(dir).filter((f) => f.startsWith('buffer.db.replaced-'));
  t.ok(aside.length >= 1, `the foreign file was kept aside: ${aside.join(', ')}`);
  t.ok(o.lines.some((l) => /moved the file that replaced the database aside/.test(l.msg)), 'and logged');
  t.same(o.buffer.read(0, 100).map((r) => r.seq), before);
  t.same(await o.buffer.append(rows(1)), [51]);
});

t.test('buffer.db* missing at open: a fresh file numbers above every seq ever issued', async (t) => {
  const dir = tempDir('missing');
  let o = open(dir);
  const issued = await o.buffer.append(rows(20));
  await o.buffer.close();
  const floor = readSeqFloor(path.join(dir, 'buffer.seq'));
  t.ok(floor !== null && floor >= 20, `the seq floor covers what was issued (${floor})`);

  removeDb(dir);
  o = open(dir);
  t.teardown(() => o.buffer.close());
  t.equal(o.counters.total('buffer_file_lost'), 1, 'counted');
  t.ok(o.lines.some((l) => l.level === 50 && /missing although rows were stored before/.test(l.msg)), 'logged');
  const [seq] = await o.buffer.append(rows(1));
  t.ok(seq! > Math.max(...issued), `new seq ${seq} is above every seq issued before (${Math.max(...issued)})`);
  t.equal(seq, floor! + 1);
  await o.buffer.close();

  // Deleted again, before the new block was used up: still above everything.
  removeDb(dir);
  o = open(dir);
  const [again] = await o.buffer.append(rows(1));
  t.ok(again! > seq!, `then ${again} > ${seq}`);
});

t.test('a first start (no files at all) numbers from 1', async (t) => {
  const o = open(tempDir('first'));
  t.teardown(() => o.buffer.close());
  t.same(await o.buffer.append(rows(2)), [1, 2]);
  t.equal(o.counters.total('buffer_file_lost'), 0);
});
