/**
 * Opens `<dir>/buffer.db`: WAL, synchronous=FULL, schema, a quick integrity check. A database that
 * is corrupt or not a database at all is moved aside (`buffer.db.corrupt-<time>`, with its -wal and
 * -shm) and a fresh one is created, so a bad file never turns into a crash loop. A fresh database
 * (missing file, corrupt one moved aside) numbers its rows above the seq floor (seq-floor.ts).
 * A full disk or an I/O error throws `StoreUnavailable`, which the buffer turns into "degraded, try
 * again later" instead of a failed start.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Counters } from '../core/counters.js';
import type { Logger } from '../core/plugin.js';
import { makeDirs } from '../core/make-dirs.js';

export type Db = Database.Database;

/**
 * 2: rows may be encoded (codec.ts): `messages.shape` names their shape in `shapes`, `payload` holds
 * a BLOB and `topic` is empty (the shape has it). Version 1 files (every payload TEXT, no shape) are
 * upgraded in place at open (one column, one table, one index added; no row is rewritten): their
 * rows are read and forwarded as before.
 */
export const SCHEMA_VERSION = 2;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  seq       INTEGER PRIMARY KEY AUTOINCREMENT,
  stored_at INTEGER NOT NULL,
  topic     TEXT    NOT NULL,
  payload   TEXT    NOT NULL,
  shape     INTEGER
);
CREATE TABLE IF NOT EXISTS shapes (
  id        INTEGER PRIMARY KEY,
  topic     TEXT    NOT NULL,
  template  TEXT    NOT NULL,
  ref       BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (
  forwarder TEXT PRIMARY KEY,
  seq       INTEGER NOT NULL,
  dropped   INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS clock_steps (
  seq      INTEGER PRIMARY KEY,
  delta_ms INTEGER NOT NULL
);
`;

/** Thrown when the file exists but cannot be used as our database. */
class CorruptDatabase extends Error {}

/** The database cannot be opened for want of space or because of an I/O error: worth retrying later. */
export class StoreUnavailable extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'StoreUnavailable';
  }
}

export function isSpaceOrIoError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' &&
    (code.startsWith('SQLITE_FULL') || code.startsWith('SQLITE_IOERR') || ['ENOSPC', 'EDQUOT', 'EIO', 'EROFS'].includes(code))
  );
}

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'EUNKNOWN';
}

function isCorruption(err: unknown): boolean {
  if (err instanceof CorruptDatabase) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code.startsWith('SQLITE_NOTADB'));
}

function describe(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? `${e.code}: ` : '';
  return code + (typeof e?.message === 'string' ? e.message : String(err));
}

type Attempt = { ok: true; db: Db; fresh: boolean } | { ok: false; db: Db | null; err: unknown };

/**
 * Opens and checks one file. On failure the handle (if one was opened) is returned still open, so
 * that a bad file can be renamed with its -wal/-shm before SQLite's close removes them.
 */
function openChecked(file: string, seqFloor: number | null): Attempt {
  let fresh = false;
  let db: Db | null = null;
  try {
    db = new Database(file, { timeout: 200 });
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new Error(`cannot switch to WAL (journal_mode is ${String(mode)})`);
    db.pragma('synchronous = FULL');
    const check = db.pragma('quick_check(1)', { simple: true });
    if (check !== 'ok') throw new CorruptDatabase(`quick_check: ${String(check)}`);
    const version = Number(db.pragma('user_version', { simple: true }));
    if (version > SCHEMA_VERSION) {
      throw new CorruptDatabase(`schema version ${version} is newer than this agent's (${SCHEMA_VERSION})`);
    }
    const init = db;
    init.transaction(() => {
      fresh = init.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'messages'`).get() === undefined;
      init.exec(SCHEMA);
      const has = init.prepare(`SELECT name FROM pragma_table_info('messages') ORDER BY cid`).pluck().all();
      if (has.length === 4 && has.join(',') === 'seq,stored_at,topic,payload') {
        // A version 1 file: its rows stay TEXT with no shape.
        init.exec(`ALTER TABLE messages ADD COLUMN shape INTEGER`);
      }
      // A table of a different shape (another program's file) is not ours.
      const cols = init.prepare(`SELECT name FROM pragma_table_info('messages') ORDER BY cid`).pluck().all();
      if (cols.join(',') !== 'seq,stored_at,topic,payload,shape') {
        throw new CorruptDatabase(`table messages has columns (${cols.join(', ')})`);
      }
      // History reads (one topic's shapes over a time range) go through this index; text rows are not in it.
      init.exec(`CREATE INDEX IF NOT EXISTS messages_shape_time ON messages (shape, stored_at) WHERE shape IS NOT NULL`);
      init.pragma(`user_version = ${SCHEMA_VERSION}`);
      if (fresh && seqFloor !== null && seqFloor > 0) {
        // AUTOINCREMENT continues from sqlite_sequence: the fresh file never reissues an old seq.
        init.prepare(`DELETE FROM sqlite_sequence WHERE name = 'messages'`).run();
        init.prepare(`INSERT INTO sqlite_sequence (name, seq) VALUES ('messages', ?)`).run(seqFloor);
      }
    })();
    return { ok: true, db, fresh };
  } catch (err) {
    return { ok: false, db, err };
  }
}

function closeQuietly(db: Db | null): void {
  try {
    db?.close();
  } catch {
    // closing a broken handle: nothing more to do
  }
}

/** The highest seq a bad file may have issued, read as far as it still can be; null when unreadable. */
function salvageLastSeq(file: string): number | null {
  let db: Db | null = null;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    let best: number | null = null;
    for (const sql of [
      `SELECT seq FROM sqlite_sequence WHERE name = 'messages'`,
      `SELECT MAX(seq) FROM messages`,
    ]) {
      try {
        const v = db.prepare(sql).pluck().get();
        if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) best = Math.max(best ?? 0, v);
      } catch {
        // that part of the file is unreadable: try the other
      }
    }
    return best;
  } catch {
    return null;
  } finally {
    db?.close();
  }
}

function moveAside(file: string, stamp: string): string {
  const aside = `${file}.corrupt-${stamp}`;
  fs.renameSync(file, aside);
  for (const suffix of ['-wal', '-shm']) {
    if (fs.existsSync(file + suffix)) fs.renameSync(file + suffix, aside + suffix);
  }
  return aside;
}

export interface OpenedDb {
  db: Db;
  file: string;
  /** `dev:ino` of the file opened: the writer checks the path still holds this file. */
  identity: string;
  /** Where a bad file was moved (undefined when the file was fine). */
  movedAside?: string;
  /** The file was created now (it was missing, or a bad one was moved aside). */
  fresh: boolean;
}

export function fileIdentity(file: string): string {
  const s = fs.statSync(file, { bigint: true });
  return `${s.dev}:${s.ino}`;
}

function opened(db: Db, file: string, fresh: boolean, movedAside?: string): OpenedDb {
  const o: OpenedDb = { db, file, identity: fileIdentity(file), fresh };
  if (movedAside !== undefined) o.movedAside = movedAside;
  return o;
}

function unavailable(file: string, err: unknown): StoreUnavailable {
  return new StoreUnavailable(`buffer: cannot open ${file}: ${describe(err)}`, codeOf(err));
}

/**
 * Opens the buffer's database in `dir`. `seqFloor` (the durable seq floor, or null when unknown)
 * is where a freshly created file starts numbering. A corrupt file is moved aside once (logged,
 * counted as `buffer_corrupt`); its successor continues above both the floor and what can be read of
 * the bad file, or, when neither is known, above the wall clock in microseconds (≈1.7e15, above any
 * seq this gateway could have issued at realistic rates). A full disk or an I/O error throws
 * `StoreUnavailable`; any other failure (permissions, a directory in the way) throws an Error.
 */
export function openDatabase(
  dir: string,
  log: Logger,
  counters: Counters,
  wallNow: () => number,
  seqFloor: number | null,
): OpenedDb {
  try {
    makeDirs(dir);
  } catch (err) {
    if (isSpaceOrIoError(err)) throw new StoreUnavailable(`buffer: cannot create directory ${dir}: ${describe(err)}`, codeOf(err));
    throw new Error(`buffer: cannot create directory ${dir}: ${describe(err)}`);
  }
  const file = path.join(dir, 'buffer.db');
  const first = openChecked(file, seqFloor);
  if (first.ok) return opened(first.db, file, first.fresh);
  if (!isCorruption(first.err)) {
    closeQuietly(first.db);
    if (isSpaceOrIoError(first.err)) throw unavailable(file, first.err);
    throw new Error(`buffer: cannot open ${file}: ${describe(first.err)}`);
  }
  const stamp = new Date(wallNow()).toISOString().replace(/[:.]/g, '-');
  let aside: string;
  try {
    aside = moveAside(file, stamp); // while still open: SQLite's close would delete the -wal
  } finally {
    closeQuietly(first.db);
  }
  const salvaged = salvageLastSeq(aside);
  const known = salvaged === null && seqFloor === null ? null : Math.max(salvaged ?? 0, seqFloor ?? 0);
  const floor = known ?? Math.floor(wallNow() * 1000);
  counters.inc('buffer_corrupt');
  log.error(
    { file, movedTo: aside, reason: describe(first.err), seqContinuesAfter: floor, seqSalvaged: salvaged !== null },
    'buffer: database is corrupt; moved it aside and started a fresh one',
  );
  const fresh = openChecked(file, floor);
  if (fresh.ok) return opened(fresh.db, file, true, aside);
  closeQuietly(fresh.db);
  if (isSpaceOrIoError(fresh.err)) throw unavailable(file, fresh.err);
  throw new Error(`buffer: cannot create a fresh ${file} after moving the corrupt one aside: ${describe(fresh.err)}`);
}

/**
 * Clears the path for a re-created database after the open one was deleted or replaced (its
 * connections are closed by now): a file that is not ours (`identity` differs) is moved aside as
 * `buffer.db.replaced-<time>` with its -wal/-shm; our stale -wal/-shm are removed, so SQLite never
 * replays an old WAL onto the new file. Returns where a foreign file went.
 */
export function clearLostPath(file: string, identity: string, stamp: string): string | undefined {
  let foreign = false;
  try {
    foreign = fileIdentity(file) !== identity;
  } catch {
    foreign = false; // nothing there
  }
  if (foreign) {
    const aside = `${file}.replaced-${stamp}`;
    fs.renameSync(file, aside);
    for (const suffix of ['-wal', '-shm']) {
      if (fs.existsSync(file + suffix)) fs.renameSync(file + suffix, aside + suffix);
    }
    return aside;
  }
  for (const suffix of ['', '-wal', '-shm']) fs.rmSync(file + suffix, { force: true });
  return undefined;
}

/** fsync a directory, so a rename in it is durable. */
export function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
