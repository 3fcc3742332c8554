/**
 * A prune that fails on a real full disk (SQLITE_FULL from a 2 MiB tmpfs, no injected error): the
 * rows the runner had set aside as dropped for that prune are sent after all, without a restart,
 * and not counted as dropped. `dropped-not-sent.test.ts` covers the same with a trigger standing in
 * for the failure; this one checks the real failure path of the writer (its space reserve already
 * given up, every transaction refused while the disk stays full). Needs root (mount); skipped with
 * the reason otherwise.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { mountSmallDisk } from '../helpers/tmpfs.js';
import Database from 'better-sqlite3';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir } from '../buffer/harness.js';
import { collect, until } from './harness.js';
import { backlogWhileUpstreamDown } from './mqtt-runner.js';

const HOUR = 3_600_000;

const mnt = tempDir('fwd-prune-full');
const { skip: mountError } = mountSmallDisk(t, mnt);

/** Writes `file` in 4 KiB pieces until the file system is full; returns the bytes written. */
function fillUp(file: string): number {
  const fd = fs.openSync(file, 'a');
  const piece = Buffer.alloc(4096, 1);
  let n = 0;
  try {
    for (;;) n += fs.writeSync(fd, piece);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    fs.closeSync(fd);
  }
  return n;
}

t.test('a prune that fails on a full disk: the rows set aside for it are sent after all, none counted dropped', { skip: mountError }, async (t) => {
  const dir = path.join(mnt, 'buffer');
  const { clock, buffer, counters, lines, port, runner, old } = await backlogWhileUpstreamDown(t, dir);

  // Fill the disk; an append that needs room then fails and the writer gives up its reserve; fill
  // what the reserve freed too, so that every transaction from now on fails for want of space.
  fillUp(path.join(mnt, 'filler1'));
  const big = [{ topic: 'bal/raw/big', payload: JSON.stringify({ pad: 'x'.repeat(300_000) }) }];
  await t.rejects(buffer.append(big), { name: 'BufferWriteError', code: /^SQLITE_(FULL|IOERR)/ }, 'an append on the full disk rejects');
  await until(() => !fs.existsSync(path.join(dir, 'buffer.reserve')), 'the writer to give up its space reserve');
  fillUp(path.join(mnt, 'filler2'));
  const errorsBefore = counters.total('buffer_write_errors');

  // A reader holding the write lock keeps the prune in flight until the runner has seen it.
  const holder = new Database(path.join(dir, 'buffer.db'));
  t.teardown(() => holder.close());
  holder.exec('BEGIN IMMEDIATE');
  clock.advance(2 * HOUR); // the 50 rows are older than maxAgeHours
  await until(() => buffer.cursor('central') === old[49], 'the prune planned: the cursor moved past the 50 rows');

  const m = await startMosquitto({ port });
  t.teardown(() => m.stop());
  const sub = await collect(m.url, '#');
  t.teardown(() => sub.close());
  await until(() => runner.cursor === old[49], 'the runner (connected) set the 50 rows aside as dropped');
  holder.exec('COMMIT'); // the prune's transaction runs into the full disk
  await until(() => counters.total('buffer_write_errors') > errorsBefore, 'the prune to fail for want of space');
  t.match(buffer.stats().writeError, /^SQLITE_(FULL|IOERR)/, 'the buffer says why');
  t.ok(fs.existsSync(path.join(dir, 'buffer.db')), 'the database is still there');

  await sub.waitFor(50);
  t.same(sub.json().map((j) => j['seq']), old, 'the 50 rows arrived upstream, once each, in order, the disk still full');
  t.equal(counters.get('buffer_dropped', { forwarder: 'central' }), 0, 'none counted as dropped');
  // The subscriber can have the rows before the forwarder has read their PUBACKs.
  await until(() => counters.get('forward_sent', { forwarder: 'central' }) >= 50, 'the upstream to acknowledge the 50 rows');
  t.equal(counters.get('forward_sent', { forwarder: 'central' }), 50, 'the upstream acknowledged each once');
  await until(() => runner.cursor === old[49] && buffer.cursor('central') === old[49], 'the cursor past them, acknowledged');

  // Space back: the cursor is saved and the delivered rows pruned, still none counted as dropped.
  fs.rmSync(path.join(mnt, 'filler1'));
  fs.rmSync(path.join(mnt, 'filler2'));
  await until(() => !('writeError' in buffer.stats()), 'writes to succeed again');
  await until(() => buffer.stats().rows === 0, 'the delivered rows pruned');
  t.equal(counters.get('buffer_dropped', { forwarder: 'central' }), 0, 'still none counted as dropped');
  t.ok(lines.some((l) => /writes succeed again/.test(l.msg)), 'the recovery is logged');
});
