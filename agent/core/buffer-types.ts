/**
 * The store-and-forward buffer's interface (implemented by agent/buffer with better-sqlite3).
 * One table of messages with a sequence number that is never reused, and one cursor per forwarder.
 */
import type { StoredMessage } from './plugin.js';

export interface NewMessage {
  topic: string;
  payload: string;
}

export interface CursorStats {
  forwarder: string;
  /** Every row with seq <= cursor was delivered (or dropped) for this forwarder. */
  cursor: number;
  /** Rows above the cursor. */
  lag: number;
  /** Age in seconds of the oldest row above the cursor (0 when none). */
  lagSeconds: number;
  /** Rows pruned by size/age limits before this forwarder delivered them. */
  dropped: number;
}

export interface BufferStats {
  path: string;
  rows: number;
  bytes: number;
  firstSeq: number;
  lastSeq: number;
  /** Age in seconds of the oldest row (0 when empty). */
  oldestAgeSeconds: number;
  cursors: CursorStats[];
  /** Set while the disk is full or the database cannot be written: QoS 1 publishes are not acknowledged. */
  writeError?: string;
}

/** A cursor `retainCursors` removed, with the rows above it that were not delivered. */
export interface RemovedCursor {
  forwarder: string;
  undelivered: number;
}

export interface MessageBuffer {
  /**
   * Append rows in one group commit. Resolves with their sequence numbers once the transaction that
   * holds them is durable (synchronous=FULL); rejects when it cannot be written (disk full ...).
   */
  append(rows: readonly NewMessage[]): Promise<number[]>;
  /** Rows with seq > after, in order, at most `limit`, optionally only up to `upTo` (inclusive). */
  read(after: number, limit: number, upTo?: number): StoredMessage[];
  /**
   * Make sure a cursor exists for the forwarder (new cursors start at the current last seq, or 0 when
   * `fromStart`). `onReset(seq)` (the last registration's) is called when the buffer moves the cursor
   * back to `seq`: the database opens only later (a full disk at start) and holds a cursor for this
   * forwarder behind what was returned; or a prune that had moved the cursor past rows the forwarder
   * had not delivered failed to commit, so those rows are still there. The forwarder then sends the
   * rows after `seq` it does not hold. Without `onReset` a cursor registered before the database
   * opened keeps its place until the next run.
   */
  registerCursor(forwarder: string, fromStart?: boolean, onReset?: (seq: number) => void): number;
  /**
   * Remove cursors of forwarders no longer configured, so they do not hold back pruning. Returns
   * each removed one with the rows above it it had not delivered (its lag).
   */
  retainCursors(forwarders: readonly string[]): RemovedCursor[];
  cursor(forwarder: string): number;
  /**
   * Advance a forwarder's cursor (never moves back, except through `onReset`, see registerCursor).
   * Persisted with the next commit.
   */
  ack(forwarder: string, seq: number): void;
  lastSeq(): number;
  stats(): BufferStats;
  /** Called after each commit with the rows it made durable (the live feed for forwarders). */
  onCommit(listener: (rows: readonly StoredMessage[]) => void): () => void;
  close(): Promise<void>;
}
