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
  /** Delete rows with seq <= this (null: no pruning in this job). */
  deleteUpTo: number | null;
}

export interface CloseJob {
  type: 'close';
}

export type WriterRequest = WriteJob | CloseJob;

export type WriterReply =
  | { type: 'ready' }
  | { type: 'done'; id: number; seqs: number[] }
  | { type: 'failed'; id: number; code: string; message: string }
  | { type: 'closed'; warning?: string }
  | { type: 'fatal'; code: string; message: string };

export interface WriterData {
  file: string;
}
