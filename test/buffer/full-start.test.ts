/**
 * Starting on a full disk: openBuffer does not throw; the buffer is degraded (writeError, appends
 * refused), keeps trying, and works once space returns. A 2 MiB tmpfs stands in for the disk. Needs
 * root (mount); skipped with the reason otherwise.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { open, rows, tempDir, until } from './harness.js';

/** Fills the filesystem of `file` until ENOSPC; returns the bytes written. */
function fill(file: string): number {
  const fd = fs.openSync(file, 'a');
  let written = 0;
  try {
    for (const size of [64 * 1024, 4096, 512]) {
      const chunk = Buffer.alloc(size, 1);
      for (;;) {
        try {
          written += fs.writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return written;
}

function mount(name: string): { mnt: string; skip: string | false } {
  const mnt = tempDir(name);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt], { stdio: 'pipe' });
  } catch (err) {
    return { mnt, skip: `cannot mount a tmpfs (needs root and mount permission): ${(err as Error).message.split('\n')[0]}` };
  }
  process.on('exit', () => {
    try {
      execFileSync('umount', ['-l', mnt], { stdio: 'pipe' });
    } catch {
      // already unmounted
    }
  });
  return { mnt, skip: false };
}

const empty = mount('fullstart-empty');
t.test('a first start on a full disk: degraded, appends refused, works once space returns', { skip: empty.skip }, async (t) => {
  const filler = path.join(empty.mnt, 'filler');
  const dir = path.join(empty.mnt, 'data');
  fs.mkdirSync(dir);
  t.ok(fill(filler) > 1024 * 1024, 'disk filled');
  const o = open(dir);
  t.teardown(() => o.buffer.close());
  t.match(o.buffer.stats().writeError, /SQLITE_FULL|SQLITE_IOERR|ENOSPC/, `degraded: ${o.buffer.stats().writeError}`);
  await t.rejects(o.buffer.append(rows(1)), { name: 'BufferWriteError' }, 'appends are refused');
  t.same(o.buffer.read(0, 10), [], 'nothing to read');
  t.equal(o.buffer.registerCursor('central'), 0, 'forwarders can register');
  t.ok(o.lines.some((l) => l.level === 50 && /cannot write the database/.test(l.msg)), 'logged');
  const failures = o.counters.total('buffer_write_errors');
  await until(() => o.counters.total('buffer_write_errors') >= failures + 2, 'opening to be tried again');

  fs.rmSync(filler);
  await until(() => o.buffer.stats().writeError === undefined, 'the buffer to open once space returned');
  t.same(await o.buffer.append(rows(2)), [1, 2], 'appends are acknowledged again');
  t.ok(fs.statSync(path.join(dir, 'buffer.reserve')).size > 0, 'the space reserve is in place');
});

const used = mount('fullstart-used');
t.test('a restart on a full disk with rows stored: the reserve lets it open; rows readable; appends refused until space returns', { skip: used.skip }, async (t) => {
  const dir = path.join(used.mnt, 'data');
  let o = open(dir);
  o.buffer.registerCursor('central', true);
  const stored = await o.buffer.append(rows(200, 'bal/processed/pmu1', 400));
  await o.buffer.close();
  t.ok(fs.existsSync(path.join(dir, 'buffer.reserve')), 'a space reserve was kept');

  const filler = path.join(used.mnt, 'filler');
  fill(filler);
  o = open(dir);
  t.teardown(() => o.buffer.close());
  t.same(o.buffer.read(0, 1000).map((r) => r.seq), stored, 'every stored row is readable (forwarders keep draining)');
  t.equal(o.buffer.cursor('central'), 0, 'cursors are there');
  await until(() => o.buffer.stats().writeError !== undefined, 'the missing reserve to be reported');
  t.match(o.buffer.stats().writeError, /disk full|SQLITE_FULL/, `degraded: ${o.buffer.stats().writeError}`);
  await t.rejects(o.buffer.append(rows(1)), { name: 'BufferWriteError' }, 'appends are refused while the reserve cannot be kept');
  o.buffer.ack('central', 50);
  await until(() => o.buffer.stats().firstSeq === 51, 'acks to be persisted and delivered rows pruned, using the reserve space');

  fs.rmSync(filler);
  await until(() => o.buffer.stats().writeError === undefined, 'writes to succeed once space returned');
  t.same(await o.buffer.append(rows(1)), [201], 'appends are acknowledged again');
});

const late = mount('fullstart-late');
t.test('a database that opens only after the start: a forwarder registered meanwhile is told its cursor and can move it', { skip: late.skip }, async (t) => {
  const dir = path.join(late.mnt, 'data');
  let o = open(dir);
  o.buffer.registerCursor('central', true);
  const stored = await o.buffer.append(rows(50, 'bal/processed/pmu1', 200));
  o.buffer.ack('central', 10);
  await o.buffer.close();
  // No reserve and a full disk: the WAL files cannot be created, so the database cannot open.
  fs.rmSync(path.join(dir, 'buffer.reserve'));
  for (const f of ['buffer.db-wal', 'buffer.db-shm']) fs.rmSync(path.join(dir, f), { force: true });
  const filler = path.join(late.mnt, 'filler');
  fill(filler);
  o = open(dir);
  t.teardown(() => o.buffer.close());
  if (o.buffer.stats().writeError === undefined) {
    t.fail('the database opened on the full disk: the late-open path was not reached');
    return;
  }
  const resets: number[] = [];
  const before = o.buffer.registerCursor('central', false, (seq) => resets.push(seq));
  const legacy = 'other';
  o.buffer.registerCursor(legacy); // no onReset: keeps its place until the next run
  fs.rmSync(filler);
  await until(() => resets.length > 0, 'the forwarder to be told its cursor once the database opened');
  t.same(resets, [10], `told the file's cursor (it was told ${before} while nothing was open)`);
  t.same(o.buffer.read(resets[0]!, 1000).map((r) => r.seq), stored.slice(10), 'the rows it had left are readable from there');
  o.buffer.ack('central', 30);
  t.equal(o.buffer.cursor('central'), 30, 'its acks move the cursor (it is not pinned)');
});
