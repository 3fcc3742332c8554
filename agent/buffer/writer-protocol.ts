/** Messages between the buffer (main thread) and its writer worker (writer-worker.ts). */
import type { ClockStep } from './clock-steps.js';

/** One write transaction. Everything in it commits together or not at all. */
export interface WriteJob {
  type: 'write';
  id: number;
  /** stored_at of the new rows (wall clock at the time the job was made). */
  now: number;
  step: ClockStep | null;
  topics: string[];
  payloads: string[];
  /** Cursor rows to upsert: [forwarder, seq, dropped]. */
  cursors: [string, number, number][];
  removedCursors: string[];
  /** Delete rows with seq <= this (null: no pruning in this job). Runs before the inserts. */
  deleteUpTo: number | null;
  /** Stored bytes of the rows that delete removes (0: none); for the WAL estimate. */
  deleteBytes: number;
  /** Try to (re-)create the space reserve if it is missing, even without rows (a retry while degraded). */
  ensureReserve: boolean;
}

/** Copy the database, as this connection still sees it, to `to` (after the file was deleted or replaced). */
export interface SalvageJob {
  type: 'salvage';
  id: number;
  to: string;
}

export interface CloseJob {
  type: 'close';
}

export type WriterRequest = WriteJob | SalvageJob | CloseJob;

export type WriterReply =
  | { type: 'ready' }
  /** `reserved`: the space reserve is in place (appends may be acknowledged). */
  | {
      type: 'done';
      id: number;
      seqs: number[];
      /** Stored bytes of the inserted rows (topic + payload as stored: an encoded row counts its BLOB). */
      bytes: number;
      /** The database's pages in use (page_count - freelist_count) once this transaction committed. */
      usedPages: number;
      reserved: boolean;
      seqMark: number | null;
      /** Why the reserve could not be re-created (the job had no rows, so it ran anyway). */
      reserveError?: { code: string; message: string };
    }
  | { type: 'failed'; id: number; code: string; message: string; reserved: boolean }
  /** The database file (or its WAL) at the path is no longer the one this writer has open. Nothing was written. */
  | { type: 'lost'; id: number; reason: string }
  | { type: 'salvaged'; id: number; ok: true }
  | { type: 'salvaged'; id: number; ok: false; code: string; message: string }
  | { type: 'closed'; warning?: string }
  | { type: 'fatal'; code: string; message: string };

export interface WriterData {
  file: string;
  /** dev:ino of the file the main thread opened; the writer must be writing the same one. */
  identity: string;
  reserveFile: string;
  reserveBytes: number;
  freeMarginBytes: number;
  checkpointAtBytes: number;
  walBytes: number;
  /** How long a checkpoint that must make room in the WAL for a transaction waits for readers (BufferOptions.walWaitMs). */
  walWaitMs: number;
  seqFile: string;
  seqMark: number | null;
}
