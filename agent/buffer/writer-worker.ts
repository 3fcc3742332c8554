/**
 * The buffer's writer: a worker thread that owns the write connection, so that the fsync of each
 * synchronous=FULL commit (and WAL checkpoints) never block the main event loop, where the broker
 * and the pipeline run. It runs one job at a time, in order. For each write job it:
 * 1. checks that the file at the path (and its -wal) is still the one it has open (device + inode):
 *    if not, it writes nothing and replies `lost`;
 * 2. when the job has rows, makes sure the space reserve file exists (re-creating it only when the
 *    disk has room for it and one WAL besides) and that the seq floor file covers the seqs about to
 *    be issued (seq-floor.ts); either failing fails the job;
 * 3. runs the transaction (prune delete first, then inserts, cursors, clock steps); each row is
 *    encoded (codec.ts) against the shapes of its topic, a new shape stored in the same transaction,
 *    or stored as its text when the codec does not take it;
 * 4. leaves checkpoints to SQLite (`wal_autocheckpoint` at `checkpointAtBytes`, PASSIVE, inside the
 *    commit), after which the next transaction writes the WAL again from its start, in place; a WAL
 *    that a transaction could take past `walBytes`, or that reached it (a checkpoint held back by a
 *    reader), is checkpointed and truncated (checkpointIfLarge); when a reader keeps it from being
 *    truncated (after `walWaitMs`) and the transaction would take it past `walBytes`, the
 *    transaction is refused (its rows rejected) rather than growing the files past maxBytes.
 * A transaction that fails for want of space releases the reserve, so that cursor saves, prunes and
 * checkpoints still have room; appends stay refused until the reserve can be re-created.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { Shape, ShapeBook, type Encoded } from './codec.js';
import { PAGE_BYTES, USED_PAGES_SQL } from './space.js';
import { SEQ_BLOCK, SeqFloorWriter } from './seq-floor.js';
import type { SalvageJob, WriteJob, WriterData, WriterReply, WriterRequest } from './writer-protocol.js';

const port = parentPort;
if (!port) throw new Error('buffer writer: must run as a worker thread');
const data = workerData as WriterData;
const { file } = data;
const wal = `${file}-wal`;
const post = (m: WriterReply): void => port.postMessage(m);

function codeOf(err: unknown): { code: string; message: string } {
  const e = err as { code?: unknown; message?: unknown } | null;
  return {
    code: typeof e?.code === 'string' ? e.code : 'EUNKNOWN',
    message: typeof e?.message === 'string' ? e.message : String(err),
  };
}

/** A file's identity (device and inode) and size. */
const statOf = (p: string): { id: string; size: number } => {
  const s = fs.statSync(p, { bigint: true });
  return { id: `${s.dev}:${s.ino}`, size: Number(s.size) };
};

/** How long a statement waits for a lock another connection holds. */
const BUSY_TIMEOUT_MS = 5000;
/** How long the checkpoint after a commit that left the WAL at walBytes waits for the reads in progress (see checkpointIfLarge). */
const TRUNCATE_WAIT_MS = 200;

let db: Database.Database;
try {
  db = new Database(file, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma(`journal_size_limit = ${data.walBytes}`);
  // SQLite checkpoints at the end of the commit that brings the WAL to checkpointAtBytes; the WAL is
  // then reused from its start, not truncated, so commits overwrite blocks the file already has
  // instead of growing it (a growing file makes every fsync a metadata commit too). The file stays at
  // about checkpointAtBytes + one transaction, within the walBytes the space budget counts.
  db.pragma(`wal_autocheckpoint = ${Math.max(1, Math.floor(data.checkpointAtBytes / PAGE_BYTES))}`);
  db.prepare('SELECT 1 FROM sqlite_master LIMIT 1').get(); // opens the WAL, so its inode can be noted
} catch (err) {
  post({ type: 'fatal', ...codeOf(err) });
  process.exit(1);
}

let walIdentity: string | null = null;
/** The WAL's size as the last `lostReason` found it (0: not there). */
let walBytesChecked = 0;
try {
  walIdentity = statOf(wal).id;
} catch {
  // not there yet: noted at the first check that finds it
}

/**
 * Why the path no longer holds the database this connection writes; null while it does. Notes the
 * WAL's size on the way (`walBytesChecked`), for the check before a transaction (checkpointIfLarge).
 */
function lostReason(): string | null {
  let id: string;
  walBytesChecked = 0;
  try {
    id = statOf(file).id;
  } catch (err) {
    const c = codeOf(err).code;
    return c === 'ENOENT' ? `${file} was deleted` : `${file} cannot be checked (${c})`;
  }
  if (id !== data.identity) return `${file} was replaced by another file`;
  let w: string;
  try {
    const st = statOf(wal);
    w = st.id;
    walBytesChecked = st.size;
  } catch (err) {
    const c = codeOf(err).code;
    if (c !== 'ENOENT') return `${wal} cannot be checked (${c})`;
    return walIdentity === null ? null : `${wal} was deleted`;
  }
  if (walIdentity === null) walIdentity = w;
  else if (w !== walIdentity) return `${wal} was replaced by another file`;
  return null;
}

// ------------------------------------------------------------------ space reserve

let haveReserve = false;

type Outcome = { ok: true } | { ok: false; code: string; message: string };

function ensureReserve(): Outcome {
  if (haveReserve) return { ok: true };
  let size = 0;
  try {
    size = fs.statSync(data.reserveFile).size;
  } catch {
    // missing: created below
  }
  if (size >= data.reserveBytes) {
    haveReserve = true;
    return { ok: true };
  }
  const need = data.reserveBytes - size;
  const dir = path.dirname(data.reserveFile);
  try {
    const s = fs.statfsSync(dir);
    const free = s.bavail * s.bsize;
    if (free < need + data.freeMarginBytes) {
      return {
        ok: false,
        code: 'SQLITE_FULL',
        message:
          `disk full: ${free} bytes free in ${dir}, the buffer needs ${need + data.freeMarginBytes} ` +
          `(its ${data.reserveBytes}-byte space reserve and room for the WAL) before it accepts rows again`,
      };
    }
    const fd = fs.openSync(data.reserveFile, 'a');
    try {
      const chunk = Buffer.alloc(Math.min(64 * 1024, need), 0);
      for (let left = need; left > 0; ) {
        const n = fs.writeSync(fd, chunk, 0, Math.min(chunk.length, left));
        left -= n;
      }
      fs.fdatasyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    const e = codeOf(err);
    return { ok: false, code: e.code === 'ENOSPC' ? 'SQLITE_FULL' : e.code, message: `space reserve ${data.reserveFile}: ${e.message}` };
  }
  haveReserve = true;
  return { ok: true };
}

function releaseReserve(): void {
  haveReserve = false;
  try {
    fs.rmSync(data.reserveFile, { force: true });
  } catch {
    // cannot remove it: the space stays taken, nothing else to do
  }
}

const isSpaceError = (code: string): boolean =>
  code.startsWith('SQLITE_FULL') || code.startsWith('SQLITE_IOERR') || code === 'ENOSPC' || code === 'EDQUOT';

// ------------------------------------------------------------------ transactions

const seqFloor = new SeqFloorWriter(data.seqFile, data.seqMark);

const st = {
  issued: db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'messages'`).pluck(),
  insert: db.prepare(`INSERT INTO messages (stored_at, topic, payload, shape) VALUES (?, ?, ?, ?)`),
  insertShape: db.prepare(`INSERT INTO shapes (topic, template, ref) VALUES (?, ?, ?)`),
  deleteUpTo: db.prepare(`DELETE FROM messages WHERE seq <= ?`),
  saveCursor: db.prepare(
    `INSERT INTO cursors (forwarder, seq, dropped) VALUES (?, ?, ?)
       ON CONFLICT (forwarder) DO UPDATE SET seq = excluded.seq, dropped = excluded.dropped`,
  ),
  deleteCursor: db.prepare(`DELETE FROM cursors WHERE forwarder = ?`),
  saveStep: db.prepare(
    `INSERT INTO clock_steps (seq, delta_ms) VALUES (?, ?)
       ON CONFLICT (seq) DO UPDATE SET delta_ms = delta_ms + excluded.delta_ms`,
  ),
  forgetSteps: db.prepare(`DELETE FROM clock_steps WHERE seq < ?`),
  usedPages: db.prepare(USED_PAGES_SQL).pluck(),
};

/** The shapes of this file, as the encoder looks them up (loaded once; grown by each commit). */
const book = new ShapeBook();
for (const r of db.prepare(`SELECT id, topic, template, ref FROM shapes`).all() as { id: number; topic: string; template: string; ref: Buffer }[]) {
  try {
    book.add(new Shape(r.id, r.topic, r.template, r.ref));
  } catch {
    // a damaged shape row: rows of its structure get a new shape
  }
}
/** Shapes created by the transaction in flight: forgotten again if it rolls back. */
let created: Shape[] = [];
/** Stored bytes (topic + payload, as octet_length counts them) of the rows the last transaction inserted. */
let storedBytes = 0;

function insertRow(now: number, topic: string, payload: string): number {
  let enc: Encoded | null = null;
  try {
    enc = book.encode(topic, payload);
  } catch {
    enc = null; // never lose a row to the codec: store the text
  }
  if (enc === null) {
    storedBytes += Buffer.byteLength(topic) + Buffer.byteLength(payload);
    return st.insert.run(now, topic, payload, null).lastInsertRowid as number;
  }
  let shape: Shape;
  if (enc.shape === null) {
    const c = enc.created;
    const id = st.insertShape.run(c.topic, c.template, c.ref).lastInsertRowid as number;
    shape = new Shape(id, c.topic, c.template, c.ref);
    book.add(shape);
    created.push(shape);
  } else shape = enc.shape;
  storedBytes += enc.blob.length;
  return st.insert.run(now, '', enc.blob, shape.id).lastInsertRowid as number;
}

/**
 * One job's transaction. It also reads, inside it (no read transaction of their own): the last seq
 * issued, for the seq floor, and the pages in use once its writes are done, for the main thread's
 * space limit.
 */
const write = db.transaction((job: WriteJob): { seqs: number[]; usedPages: number } => {
  if (job.topics.length > 0) reserveSeqs(job.topics.length);
  if (job.step) st.saveStep.run(job.step.seq, job.step.deltaMs);
  if (job.deleteUpTo !== null) {
    // Before the inserts, so that the pages it frees are reused by them.
    st.deleteUpTo.run(job.deleteUpTo);
    st.forgetSteps.run(job.deleteUpTo + 1);
  }
  const seqs = new Array<number>(job.topics.length);
  for (let i = 0; i < job.topics.length; i++) {
    seqs[i] = insertRow(job.now, job.topics[i]!, job.payloads[i]!);
  }
  for (const name of job.removedCursors) st.deleteCursor.run(name);
  for (const [name, seq, dropped] of job.cursors) st.saveCursor.run(name, seq, dropped);
  return { seqs, usedPages: st.usedPages.get() as number };
});

/** The seq floor must cover the seqs this job issues before they are committed (called inside its transaction). */
function reserveSeqs(rows: number): void {
  const issued = (st.issued.get() ?? 0) as number;
  const need = issued + rows;
  if (seqFloor.mark === null || need > seqFloor.mark) seqFloor.write(need + SEQ_BLOCK);
}

/**
 * The WAL's size when SQLite's checkpoints start it over: the checkpoint size, one transaction of
 * rows (the same size) and 8 pages; with the smallest part (64 KiB) that is the whole part, so
 * there half of it.
 */
const USUAL_WAL_BYTES = ((usual: number) => (usual < data.walBytes ? usual : data.walBytes / 2))(2 * data.checkpointAtBytes + 8 * PAGE_BYTES);
/** WAL frame: a page and its 24-byte header. */
const FRAME_BYTES = PAGE_BYTES + 24;
/**
 * Pages a transaction writes besides the pages of the rows it inserts and deletes, at most about:
 * page 1, table and index interior pages, index leaves, the shapes, cursors, sqlite_sequence and
 * clock_steps pages, the freelist trunk. Measured: 20 rows inserted and 20 deleted wrote up to 18
 * frames, 6 of them row pages.
 */
const TXN_FIXED_PAGES = 12;

/**
 * WAL bytes `job` may add, at most about: the pages of its text (the stored rows take less) and of
 * the rows it deletes, with page slack, and the fixed pages.
 */
function walBytesOf(job: WriteJob): number {
  let text = 0;
  for (let i = 0; i < job.topics.length; i++) text += job.topics[i]!.length + job.payloads[i]!.length;
  const rowPages = Math.ceil((text * 1.25) / PAGE_BYTES) + Math.ceil((job.deleteBytes * 1.25) / PAGE_BYTES);
  return (rowPages + TXN_FIXED_PAGES) * FRAME_BYTES;
}

/**
 * The WAL back within its budget when SQLite's own checkpoints could not reset it (a reader held
 * it): after a commit, once it reached `walBytes`; before one (`adding` > 0), when the transaction
 * could take it past `walBytes`. Returns false when, before a transaction, the checkpoint could not
 * reset the WAL (a reader still uses it after `walWaitMs`) and the transaction would take it past
 * `walBytes`: the caller refuses the transaction, since the WAL (unlike the database, whose rows
 * the prune bounds) can only grow while a reader holds it, and with it the files past maxBytes.
 */
function checkpointIfLarge(adding = 0): boolean {
  let size = 0;
  // Before a transaction: the size lostReason read at the start of this job (only this connection
  // writes the WAL; the readers do not change it), so the check costs no second stat.
  if (adding > 0) size = walBytesChecked;
  else {
    try {
      size = fs.statSync(wal).size;
    } catch {
      return true;
    }
  }
  if (size === 0) return true; // no WAL (yet): nothing to truncate
  if (adding > 0) {
    // Only a WAL past its usual size (a quarter of its part, where SQLite checkpoints, plus one
    // transaction) was held back by a reader; below that SQLite starts it over after its checkpoint
    // and the next transaction writes it in place, which truncating would spoil.
    if (size <= USUAL_WAL_BYTES || size + adding <= data.walBytes) return true;
  } else if (size < data.walBytes) return true;
  // Not the connection's 5 s busy wait after a commit, but a short one: the main thread's reads are
  // short statements, yet during a backlog drain one is running most of the time, and a checkpoint
  // that gave up at once when it met one let the WAL grow to several times its part (measured:
  // 135 KiB for a 64 KiB part while rows were read back without pause). Once the WAL is copied
  // back, new readers read the database file, so the checkpoint only waits for the reads in
  // progress. Before a transaction that needs the room, it waits `walWaitMs` (5 s): giving up there
  // refuses the transaction's rows.
  db.pragma(`busy_timeout = ${adding > 0 ? data.walWaitMs : TRUNCATE_WAIT_MS}`);
  let reset = false;
  try {
    // SQLite reports a checkpoint that readers kept from finishing in its `busy` column, not by throwing.
    const r = db.pragma('wal_checkpoint(TRUNCATE)') as { busy?: number }[];
    reset = r[0]?.busy === 0;
  } catch {
    // no room, or an I/O error: as busy
  } finally {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  }
  if (reset || adding === 0) return true; // after a commit: SQLite's own checkpoint and journal_size_limit try again later
  try {
    size = fs.statSync(wal).size;
  } catch {
    return true;
  }
  return size + adding <= data.walBytes;
}

function runWrite(job: WriteJob): void {
  const lost = lostReason();
  if (lost !== null) {
    post({ type: 'lost', id: job.id, reason: lost });
    return;
  }
  let reserveError: { code: string; message: string } | undefined;
  if (job.topics.length > 0 || job.ensureReserve) {
    const r = ensureReserve();
    if (!r.ok) {
      // Rows are refused without the reserve; cursor saves and prunes still go (they need little room).
      if (job.topics.length > 0) {
        post({ type: 'failed', id: job.id, code: r.code, message: r.message, reserved: false });
        return;
      }
      reserveError = { code: r.code, message: r.message };
    }
  }
  try {
    if (db.inTransaction) db.exec('ROLLBACK'); // left open by a failed rollback
    created = [];
    storedBytes = 0;
    const adding = walBytesOf(job);
    if (!checkpointIfLarge(adding)) {
      // A reader keeps the WAL from being started over, and this transaction would take it past its
      // part of maxBytes: nothing of it is written (its rows are refused, its prune and cursor saves
      // go with a later job), so the files stay within the bound until the reader is gone.
      post({
        type: 'failed',
        id: job.id,
        code: 'SQLITE_BUSY',
        message: `a reader has held the WAL for ${data.walWaitMs} ms, so it cannot be started over; this transaction (about ${adding} bytes) would take it past its ${data.walBytes}-byte part of maxBytes`,
        reserved: haveReserve,
      });
      return;
    }
    const { seqs, usedPages } = write.immediate(job);
    created = [];
    checkpointIfLarge();
    post({ type: 'done', id: job.id, seqs, bytes: storedBytes, usedPages, reserved: haveReserve, seqMark: seqFloor.mark, ...(reserveError ? { reserveError } : {}) });
  } catch (err) {
    for (const s of created) book.remove(s); // rolled back with the transaction
    created = [];
    const e = codeOf(err);
    if (isSpaceError(e.code)) releaseReserve();
    post({ type: 'failed', id: job.id, ...e, reserved: haveReserve });
  }
}

function runSalvage(job: SalvageJob): void {
  try {
    fs.rmSync(job.to, { force: true });
    db.prepare('VACUUM INTO ?').run(job.to);
    const fd = fs.openSync(job.to, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    post({ type: 'salvaged', id: job.id, ok: true });
  } catch (err) {
    try {
      fs.rmSync(job.to, { force: true });
    } catch {
      // nothing more to do
    }
    post({ type: 'salvaged', id: job.id, ok: false, ...codeOf(err) });
  }
}

port.on('message', (m: WriterRequest) => {
  if (m.type === 'close') {
    let warning: string | undefined;
    try {
      db.pragma('wal_checkpoint(TRUNCATE)');
    } catch (err) {
      warning = `${codeOf(err).code}: ${codeOf(err).message}`;
    }
    db.close();
    seqFloor.close();
    post(warning === undefined ? { type: 'closed' } : { type: 'closed', warning });
    port.close();
    return;
  }
  if (m.type === 'salvage') runSalvage(m);
  else runWrite(m);
});
post({ type: 'ready' });
