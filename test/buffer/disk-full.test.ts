/**
 * Disk full: the buffer lives on a 2 MiB tmpfs. Appends must reject (so the broker can refuse the
 * PUBACK), stats().writeError must say why, the error is logged once and counted per failed
 * transaction, the file stays intact, and once space is freed appends work again with nothing
 * previously acknowledged lost. Needs root (mount); skipped with the reason otherwise.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { mountSmallDisk } from '../helpers/tmpfs.js';
import Database from 'better-sqlite3';
import { open, tempDir } from './harness.js';

const mnt = tempDir('diskfull');
const { skip: mountError } = mountSmallDisk(t, mnt);

t.test('disk full: appends reject, writeError is set, nothing is corrupted, recovery after space returns', { skip: mountError }, async (t) => {
  const filler = path.join(mnt, 'filler');
  fs.writeFileSync(filler, Buffer.alloc(640 * 1024, 1)); // space to hand back later
  const dir = path.join(mnt, 'buffer');
  const o = open(dir);
  let closed = false;
  t.teardown(async () => {
    if (!closed) await o.buffer.close();
  });
  o.buffer.registerCursor('central', true); // keeps every row: nothing is pruned to make room

  const resolved: number[] = [];
  const payload = JSON.stringify({ pad: 'x'.repeat(1000) });
  let failure: unknown = null;
  for (let i = 0; i < 10_000 && failure === null; i++) {
    try {
      resolved.push(...(await o.buffer.append(Array.from({ length: 20 }, () => ({ topic: 'bal/processed/pmu1', payload })))));
    } catch (err) {
      failure = err;
    }
  }
  t.ok(resolved.length > 100, `${resolved.length} rows were stored before the disk filled`);
  t.match(failure, { name: 'BufferWriteError', code: /^SQLITE_(FULL|IOERR)/ }, 'the append rejected with the SQLite code');
  t.match(String((failure as Error).message), /cannot write .*buffer\.db/);
  t.comment(`rejected with: ${String((failure as Error).message)}`);
  t.match(o.buffer.stats().writeError, /^SQLITE_(FULL|IOERR)/, 'stats().writeError says why');

  // More failures while still full: each transaction counted, one log line in all.
  for (let i = 0; i < 3; i++) {
    await t.rejects(o.buffer.append([{ topic: 'bal/processed/pmu1', payload }]), { name: 'BufferWriteError' });
  }
  t.ok(o.counters.total('buffer_write_errors') >= 4, `counted: ${o.counters.total('buffer_write_errors')}`);
  t.equal(o.lines.filter((l) => /cannot write the database/.test(l.msg)).length, 1, 'logged once');

  const check = new Database(path.join(dir, 'buffer.db'), { readonly: true });
  t.equal(check.pragma('integrity_check', { simple: true }), 'ok', 'the full database is intact');
  check.close();

  fs.rmSync(filler);
  const after = await o.buffer.append([{ topic: 'bal/processed/pmu1', payload: '{"back":true}' }]);
  t.equal(after.length, 1, 'appends work again once space is back');
  t.ok(after[0]! > resolved[resolved.length - 1]!, 'with a new seq above every stored one');
  t.notOk('writeError' in o.buffer.stats(), 'writeError is cleared');
  t.ok(o.lines.some((l) => /writes succeed again/.test(l.msg)), 'the recovery is logged');

  await o.buffer.close();
  closed = true;
  const db = new Database(path.join(dir, 'buffer.db'), { readonly: true });
  t.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  const has = db.prepare('SELECT 1 FROM messages WHERE seq = ?').pluck();
  t.same(resolved.filter((s) => has.get(s) === undefined), [], 'every row acknowledged before the disk filled is there');
  t.equal(has.get(after[0]), 1);
  db.close();
});
