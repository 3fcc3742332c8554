/**
 * Opens `<dir>/buffer.db`: WAL, synchronous=FULL, schema, a quick integrity check. A database that
 * is corrupt or not a database at all is moved aside (`buffer.db.corrupt-<time>`, with its -wal and
 * -shm) and a fresh one is created, so a bad file never turns into a crash loop.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Counters } from '../core/counters.js';
import type { Logger } from '../core/plugin.js';

export type Db = Database.Database;

export const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  seq       INTEGER PRIMARY KEY AUTOINCREMENT,
  stored_at INTEGER NOT NULL,
  topic     TEXT    NOT NULL,
  payload   TEXT    NOT NULL
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

type Attempt = { ok: true; db: Db } | { ok: false; db: Db | null; err: unknown };

/**
 * Opens and checks one file. On failure the handle (if one was opened) is returned still open, so
 * that a bad file can be renamed with its -wal/-shm before SQLite's close removes them.
 */
function openChecked(file: string, seqFloor: number | null): Attempt {
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
      init.exec(SCHEMA);
      init.pragma(`user_version = ${SCHEMA_VERSION}`);
      if (seqFloor !== null) {
        // AUTOINCREMENT continues from sqlite_sequence: the fresh file never reissues an old seq.
        init.prepare(`DELETE FROM sqlite_sequence WHERE name = 'messages'`).run();
        init.prepare(`INSERT INTO sqlite_sequence (name, seq) VALUES ('messages', ?)`).run(seqFloor);
      }
    })();
    // A table of a different shape (another program's file) is not ours either.
    const cols = db.prepare(`SELECT name FROM pragma_table_info('messages') ORDER BY cid`).pluck().all();
    if (cols.join(',') !== 'seq,stored_at,topic,payload') {
      throw new CorruptDatabase(`table messages has columns (${cols.join(', ')})`);
    }
    return { ok: true, db };
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
  /** Where a bad file was moved (undefined when the file was fine). */
  movedAside?: string;
}

/**
 * Opens the buffer's database in `dir`. A corrupt file is moved aside once (logged, counted as
 * `buffer_corrupt`); its successor continues the seq numbering from what can be read of the bad file,
 * or — when nothing can be — from the wall clock in microseconds, above any seq this gateway could
 * have issued at realistic rates. Any other failure (permissions, a directory in the way) throws.
 */
export function openDatabase(dir: string, log: Logger, counters: Counters, wallNow: () => number): OpenedDb {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new Error(`buffer: cannot create directory ${dir}: ${describe(err)}`);
  }
  const file = path.join(dir, 'buffer.db');
  const first = openChecked(file, null);
  if (first.ok) return { db: first.db, file };
  if (!isCorruption(first.err)) {
    closeQuietly(first.db);
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
  const floor = salvaged ?? Math.floor(wallNow() * 1000);
  counters.inc('buffer_corrupt');
  log.error(
    { file, movedTo: aside, reason: describe(first.err), seqContinuesAfter: floor, seqSalvaged: salvaged !== null },
    'buffer: database is corrupt; moved it aside and started a fresh one',
  );
  const fresh = openChecked(file, floor);
  if (fresh.ok) return { db: fresh.db, file, movedAside: aside };
  closeQuietly(fresh.db);
  throw new Error(`buffer: cannot create a fresh ${file} after moving the corrupt one aside: ${describe(fresh.err)}`);
}
