import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { readSeqFloor } from '../../agent/buffer/seq-floor.js';
import { HandClock, open, rows, tempDir } from './harness.js';

function asideFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.startsWith('buffer.db.corrupt-')).sort();
}

/** The moved-aside databases themselves (without their -wal/-shm). */
function asideDbs(dir: string): string[] {
  return asideFiles(dir).filter((f) => !/-(wal|shm)$/.test(f));
}

t.test('a file of garbage is moved aside with its -wal, logged, counted, and a fresh database works', async (t) => {
  const dir = tempDir('garbage');
  const garbage = crypto.randomBytes(16_384);
  fs.writeFileSync(path.join(dir, 'buffer.db'), garbage);
  const wal = crypto.randomBytes(1000);
  fs.writeFileSync(path.join(dir, 'buffer.db-wal'), wal);
  const clock = new HandClock();
  const o = open(dir, { clock });
  t.teardown(() => o.buffer.close());

  const aside = asideFiles(dir);
  const name = 'buffer.db.corrupt-2025-01-01T00-00-00-000Z';
  t.same(aside, [name, `${name}-shm`, `${name}-wal`], 'the file and its companions are moved, named by the time');
  t.same(fs.readFileSync(path.join(dir, name)), garbage, 'the bad file is kept as it was, for a post-mortem');
  t.same(fs.readFileSync(path.join(dir, `${name}-wal`)), wal, 'and so is its WAL');
  t.equal(o.counters.total('buffer_corrupt'), 1);
  const line = o.lines.find((l) => /corrupt/.test(l.msg));
  t.ok(line, 'one log line says what happened');
  t.equal(line?.level, 50, 'at error level');
  t.match(line, { file: path.join(dir, 'buffer.db'), movedTo: path.join(dir, aside[0]!), seqSalvaged: false });

  o.buffer.registerCursor('central');
  const [seq] = await o.buffer.append(rows(1));
  // Nothing could be read from the bad file: seqs continue from the wall clock in microseconds,
  // above anything the old file can have issued, so upstream de-duplication never drops new rows.
  t.equal(seq, clock.wallMs * 1000 + 1);
  t.equal(o.buffer.read(0, 10).length, 1, 'the fresh database reads back');
});

t.test('a damaged page inside a real database is found at open; seqs continue above the seq floor', async (t) => {
  const dir = tempDir('damaged');
  let o = open(dir);
  o.buffer.registerCursor('central', true);
  await o.buffer.append(rows(3000, 'bal/processed/pmu1', 200));
  await o.buffer.close();
  const file = path.join(dir, 'buffer.db');
  const size = fs.statSync(file).size;
  t.ok(size > 40 * 4096, `database has ${size} bytes`);
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, crypto.randomBytes(4096), 0, 4096, 30 * 4096); // scribble over page 31
  fs.closeSync(fd);

  o = open(dir);
  t.teardown(() => o.buffer.close());
  t.equal(asideDbs(dir).length, 1, 'moved aside');
  t.equal(o.counters.total('buffer_corrupt'), 1);
  t.match(o.lines.find((l) => /corrupt/.test(l.msg)), { level: 50, reason: /quick_check/ });
  const floor = readSeqFloor(path.join(dir, 'buffer.seq'));
  t.ok(floor !== null && floor >= 3000, `the seq floor file covers every seq issued (${floor})`);
  t.equal(o.buffer.lastSeq(), floor, 'the fresh file continues from the floor, above what the bad file can show');
  o.buffer.registerCursor('central');
  const [seq] = await o.buffer.append(rows(1));
  t.equal(seq, floor! + 1, 'no seq is reissued');
});

t.test('reopening a recovered buffer does not move anything again (no crash loop)', async (t) => {
  const dir = tempDir('again');
  fs.writeFileSync(path.join(dir, 'buffer.db'), 'not a database at all, just text that is long enough to be a header');
  const first = open(dir);
  await first.buffer.close();
  const second = open(dir);
  t.teardown(() => second.buffer.close());
  t.equal(second.counters.total('buffer_corrupt'), 0);
  t.equal(asideDbs(dir).length, 1);
});
