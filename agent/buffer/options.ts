/** The buffer's options: what the agent passes to `openBuffer`, checked once with clear errors. */
import type { Counters } from '../core/counters.js';
import type { Logger } from '../core/plugin.js';
import { MIN_MAX_BYTES } from './space.js';

/** Time sources. Tests pass their own to move the wall clock without touching the system's. */
export interface BufferClock {
  /** Wall clock, milliseconds since the Unix epoch (default `Date.now`). */
  wall(): number;
  /** A clock that never steps, milliseconds (default `performance.now`). */
  monotonic(): number;
}

export interface BufferOptions {
  /** Directory of `buffer.db` (created when missing). */
  dir: string;
  /** Bound on the disk space of the buffer's files (database, WAL, shared memory, space reserve, seq
   *  floor); the oldest rows are dropped to stay within it (0 = unlimited). At least MIN_MAX_BYTES. */
  maxBytes: number;
  /** Rows older than this are dropped (0 = unlimited). */
  maxAgeHours: number;
  /** Delivered rows stay this many hours for history reads (0 = off, the default: rows go once every
   *  forwarder has them). Within maxBytes: rows kept only for history are the first to go for space. */
  historyHours?: number;
  /** Group-commit period: appends wait at most this long for their transaction. */
  commitIntervalMs: number;
  log: Logger;
  counters: Counters;
  /** Commit at once (without waiting for the period) when this many rows are queued; also the most
   *  rows one transaction takes (whole appends, so one large append may exceed it) (default 2000). */
  maxBatchRows?: number;
  /** How often acks are persisted and old rows pruned, and how often a buffer that cannot write
   *  (disk full, file lost) tries again (default 1000 ms). */
  pruneIntervalMs?: number;
  /** Rows deleted per prune transaction, to keep each one short (default 1000). */
  pruneBatchRows?: number;
  /** A wall-clock change larger than this between two writes is a clock step (default 30 000 ms). */
  clockStepMs?: number;
  /**
   * How long the writer waits for readers to leave the WAL when a transaction could take it past its
   * part of maxBytes; then the transaction is refused (default 5000 ms; tests use less).
   */
  walWaitMs?: number;
  clock?: BufferClock;
}

export type ResolvedOptions = Required<Omit<BufferOptions, 'log' | 'counters'>> &
  Pick<BufferOptions, 'log' | 'counters'>;

export const systemClock: BufferClock = {
  wall: () => Date.now(),
  monotonic: () => performance.now(),
};

function need(ok: boolean, what: string, rule: string, got: unknown): void {
  if (!ok) throw new TypeError(`buffer: ${what} must be ${rule}, got ${JSON.stringify(got) ?? String(got)}`);
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

export function resolveOptions(o: BufferOptions): ResolvedOptions {
  need(typeof o.dir === 'string' && o.dir.length > 0, 'dir', 'a non-empty path', o.dir);
  need(isInt(o.maxBytes) && o.maxBytes >= 0, 'maxBytes', 'an integer >= 0 (0 = unlimited)', o.maxBytes);
  need(
    o.maxBytes === 0 || o.maxBytes >= MIN_MAX_BYTES,
    'maxBytes',
    `0 (unlimited) or at least ${MIN_MAX_BYTES} (the WAL, shared memory, space reserve and seq floor take ${MIN_MAX_BYTES - 64 * 1024} of it)`,
    o.maxBytes,
  );
  need(
    typeof o.maxAgeHours === 'number' && Number.isFinite(o.maxAgeHours) && o.maxAgeHours >= 0,
    'maxAgeHours',
    'a number >= 0 (0 = unlimited)',
    o.maxAgeHours,
  );
  need(
    typeof o.commitIntervalMs === 'number' && o.commitIntervalMs >= 0 && o.commitIntervalMs <= 60_000,
    'commitIntervalMs',
    'a number of milliseconds between 0 and 60000',
    o.commitIntervalMs,
  );
  need(
    o.historyHours === undefined || (typeof o.historyHours === 'number' && Number.isFinite(o.historyHours) && o.historyHours >= 0),
    'historyHours',
    'a number >= 0 (0 = off)',
    o.historyHours,
  );
  const r: ResolvedOptions = {
    dir: o.dir,
    historyHours: o.historyHours ?? 0,
    maxBytes: o.maxBytes,
    maxAgeHours: o.maxAgeHours,
    commitIntervalMs: o.commitIntervalMs,
    log: o.log,
    counters: o.counters,
    maxBatchRows: o.maxBatchRows ?? 2000,
    pruneIntervalMs: o.pruneIntervalMs ?? 1000,
    pruneBatchRows: o.pruneBatchRows ?? 1000,
    clockStepMs: o.clockStepMs ?? 30_000,
    walWaitMs: o.walWaitMs ?? 5000,
    clock: o.clock ?? systemClock,
  };
  need(isInt(r.maxBatchRows) && r.maxBatchRows >= 1, 'maxBatchRows', 'an integer >= 1', r.maxBatchRows);
  need(isInt(r.pruneIntervalMs) && r.pruneIntervalMs >= 1, 'pruneIntervalMs', 'an integer >= 1', r.pruneIntervalMs);
  need(isInt(r.pruneBatchRows) && r.pruneBatchRows >= 1, 'pruneBatchRows', 'an integer >= 1', r.pruneBatchRows);
  need(isInt(r.clockStepMs) && r.clockStepMs >= 1, 'clockStepMs', 'an integer >= 1', r.clockStepMs);
  need(isInt(r.walWaitMs) && r.walWaitMs >= 0, 'walWaitMs', 'an integer >= 0', r.walWaitMs);
  return r;
}
