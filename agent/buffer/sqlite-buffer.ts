/**
 * The store-and-forward buffer on one SQLite file, driven from the main thread.
 *
 * - Group commit: `append` queues rows; one transaction per `commitIntervalMs` (or at once when
 *   `maxBatchRows` are queued) inserts them, persists cursor moves, and only then resolves the
 *   appends (synchronous=FULL: durable once resolved) and feeds `onCommit` listeners.
 * - Pruning runs every `pruneIntervalMs` in its own short transactions of at most `pruneBatchRows`
 *   rows, deleting from the head only, so seqs in the table stay contiguous (first..last).
 * - Write failures (disk full, I/O error) reject the appends of that transaction, set
 *   `stats().writeError`, are logged once and counted; the next transaction is the retry.
 */
import type { BufferStats, CursorStats, MessageBuffer, NewMessage } from '../core/buffer-types.js';
import type { Counters } from '../core/counters.js';
import type { Logger, StoredMessage } from '../core/plugin.js';
import { ClockSteps, type ClockStep } from './clock-steps.js';
import type { Db } from './open-db.js';
import type { ResolvedOptions } from './options.js';
import { planPrune, undelivered, type HeadRow } from './prune-plan.js';

/** Why an append was refused: the transaction holding it could not be written. */
export class BufferWriteError extends Error {
  constructor(
    message: string,
    /** SQLite's extended code (`SQLITE_FULL`, `SQLITE_IOERR_WRITE` ...) or `EUNKNOWN`. */
    readonly code: string,
  ) {
    super(message);
    this.name = 'BufferWriteError';
  }
}

interface PendingAppend {
  rows: readonly NewMessage[];
  resolve(seqs: number[]): void;
  reject(err: Error): void;
}

interface CursorState {
  seq: number;
  dropped: number;
  /** Values last written to the cursors table (null: never written). */
  savedSeq: number | null;
  savedDropped: number;
}

type Seen = ReturnType<ClockSteps['observe']>;

const MAX_SEQ = Number.MAX_SAFE_INTEGER;

function describe(err: unknown): { code: string; text: string } {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : 'EUNKNOWN';
  const msg = typeof e?.message === 'string' ? e.message : String(err);
  return { code, text: code === 'EUNKNOWN' ? msg : `${code}: ${msg}` };
}

function checkSeq(what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new TypeError(`buffer: ${what} must be an integer >= 0, got ${JSON.stringify(v) ?? String(v)}`);
  }
  return v;
}

function checkName(what: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) {
    throw new TypeError(`buffer: ${what} must be a non-empty string, got ${JSON.stringify(v) ?? String(v)}`);
  }
  return v;
}

export class SqliteBuffer implements MessageBuffer {
  private readonly log: Logger;
  private readonly counters: Counters;
  private readonly steps: ClockSteps;
  private readonly st: ReturnType<SqliteBuffer['prepare']>;

  private queue: PendingAppend[] = [];
  private queuedRows = 0;
  private commitTimer: NodeJS.Timeout | null = null;
  private commitNow: NodeJS.Immediate | null = null;
  private readonly pruneTimer: NodeJS.Timeout;
  private pruneAgain: NodeJS.Timeout | null = null;

  private readonly cursors = new Map<string, CursorState>();
  private readonly removedCursors = new Set<string>();
  private readonly listeners = new Set<(rows: readonly StoredMessage[]) => void>();

  /** Committed rows are exactly seq first..last (first = last + 1 when empty). */
  private first: number;
  private last: number;
  private bytes: number;

  private writeError: string | undefined;
  private failedWrites = 0;
  private closed: Promise<void> | null = null;

  constructor(
    private readonly db: Db,
    private readonly file: string,
    private readonly o: ResolvedOptions,
  ) {
    this.log = o.log;
    this.counters = o.counters;
    this.describeCounters();
    this.st = this.prepare();

    const head = db
      .prepare(
        `SELECT MIN(seq) AS first, MAX(seq) AS last, COUNT(*) AS n,
                COALESCE(SUM(octet_length(topic) + octet_length(payload)), 0) AS bytes FROM messages`,
      )
      .get() as { first: number | null; last: number | null; n: number; bytes: number };
    const issued = (db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'messages'`).pluck().get() ??
      0) as number;
    this.last = Math.max(issued, head.last ?? 0);
    this.first = head.first ?? this.last + 1;
    this.bytes = head.bytes;
    if (head.n !== this.last - this.first + 1 && head.n > 0) {
      this.log.warn(
        { file, rows: head.n, first: this.first, last: this.last },
        'buffer: seqs in the table are not contiguous; lag figures are approximate',
      );
    }
    for (const c of db.prepare(`SELECT forwarder, seq, dropped FROM cursors`).all() as {
      forwarder: string;
      seq: number;
      dropped: number;
    }[]) {
      this.cursors.set(c.forwarder, { seq: c.seq, dropped: c.dropped, savedSeq: c.seq, savedDropped: c.dropped });
    }
    const steps = db.prepare(`SELECT seq, delta_ms AS deltaMs FROM clock_steps`).all() as ClockStep[];
    this.steps = new ClockSteps(o.clock, o.clockStepMs, steps);
    this.checkClockAtOpen();

    this.pruneTimer = setInterval(() => this.prune(), o.pruneIntervalMs);
    this.pruneTimer.unref();
  }

  private prepare() {
    const db = this.db;
    return {
      insert: db.prepare(`INSERT INTO messages (stored_at, topic, payload) VALUES (?, ?, ?)`),
      read: db.prepare(
        `SELECT seq, stored_at AS storedAt, topic, payload FROM messages
          WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?`,
      ),
      storedAt: db.prepare(`SELECT stored_at FROM messages WHERE seq = ?`).pluck(),
      head: db
        .prepare(
          `SELECT seq, stored_at, octet_length(topic) + octet_length(payload) FROM messages
            WHERE seq >= ? ORDER BY seq LIMIT ?`,
        )
        .raw(),
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
    };
  }

  private describeCounters(): void {
    const c = this.counters;
    c.describe('buffer_appended', 'Rows committed to the store-and-forward buffer');
    c.describe('buffer_pruned', 'Rows deleted from the buffer (delivered everywhere, or dropped by a limit)');
    c.describe('buffer_dropped', 'Rows deleted by the size/age limit before this forwarder delivered them');
    c.describe('buffer_write_errors', 'Buffer transactions that could not be written (disk full, I/O error)');
    c.describe('buffer_corrupt', 'Corrupt buffer databases moved aside at open');
    c.describe('buffer_clock_steps', 'Wall-clock steps seen by the buffer (age limits follow them)');
    c.describe('buffer_listener_errors', 'onCommit listeners that threw');
  }

  /** The newest row stamped in the future: the clock went back while the agent was not running. */
  private checkClockAtOpen(): void {
    if (this.first > this.last) return;
    const stamp = this.st.storedAt.get(this.last) as number | undefined;
    if (stamp === undefined) return;
    const now = this.o.clock.wall();
    const at = stamp + this.steps.correction(this.last);
    if (at - now <= this.o.clockStepMs) return;
    const step = { seq: this.last, deltaMs: now - at };
    this.steps.add(step);
    this.counters.inc('buffer_clock_steps');
    this.log.warn(
      { file: this.file, newestRowAheadMs: at - now },
      'buffer: the newest row is stamped in the future (clock went back); ages count from now for rows stored before',
    );
    try {
      this.st.saveStep.run(step.seq, step.deltaMs);
    } catch (err) {
      this.log.warn({ err: describe(err).text }, 'buffer: could not record the clock step (kept in memory)');
    }
  }

  // ---------------------------------------------------------------- appends and group commit

  append(rows: readonly NewMessage[]): Promise<number[]> {
    if (this.closed) return Promise.reject(new Error(`buffer: ${this.file} is closed`));
    if (!Array.isArray(rows)) return Promise.reject(new TypeError('buffer.append: rows must be an array'));
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i] as NewMessage | undefined;
      if (typeof r?.topic !== 'string' || r.topic.length === 0) {
        return Promise.reject(new TypeError(`buffer.append: rows[${i}].topic must be a non-empty string`));
      }
      if (typeof r.payload !== 'string') {
        return Promise.reject(new TypeError(`buffer.append: rows[${i}].payload must be a string`));
      }
    }
    if (rows.length === 0) return Promise.resolve([]);
    return new Promise<number[]>((resolve, reject) => {
      this.queue.push({ rows, resolve, reject });
      this.queuedRows += rows.length;
      if (this.queuedRows >= this.o.maxBatchRows) {
        this.commitNow ??= setImmediate(() => this.commit());
      } else {
        this.commitTimer ??= setTimeout(() => this.commit(), this.o.commitIntervalMs);
      }
    });
  }

  /** One group commit: queued rows and cursor moves in one transaction. */
  private commit(): void {
    if (this.commitTimer) clearTimeout(this.commitTimer);
    if (this.commitNow) clearImmediate(this.commitNow);
    this.commitTimer = null;
    this.commitNow = null;
    const batch = this.queue;
    if (batch.length === 0 && !this.cursorsDirty()) return;
    this.queue = [];
    this.queuedRows = 0;

    const seen = this.steps.observe(this.last);
    const now = seen.now;
    const seqs: number[][] = new Array<number[]>(batch.length);
    try {
      this.transaction(() => {
        this.saveStep(seen);
        const insert = this.st.insert;
        for (let b = 0; b < batch.length; b++) {
          const rows = batch[b]!.rows;
          const s = new Array<number>(rows.length);
          for (let i = 0; i < rows.length; i++) {
            const r = rows[i]!;
            s[i] = insert.run(now, r.topic, r.payload).lastInsertRowid as number;
          }
          seqs[b] = s;
        }
        this.saveCursors();
      });
    } catch (err) {
      const e = this.writeFailed(err);
      for (const p of batch) p.reject(e);
      return;
    }
    this.committed(seen);

    let n = 0;
    for (let b = 0; b < batch.length; b++) {
      const rows = batch[b]!.rows;
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i]!;
        this.bytes += Buffer.byteLength(r.topic) + Buffer.byteLength(r.payload);
      }
      n += rows.length;
    }
    if (n > 0) {
      const s0 = seqs[0]!;
      const sl = seqs[seqs.length - 1]!;
      if (this.first > this.last) this.first = s0[0]!;
      this.last = sl[sl.length - 1]!;
      this.counters.inc('buffer_appended', undefined, n);
    }
    for (let b = 0; b < batch.length; b++) batch[b]!.resolve(seqs[b]!);
    if (n > 0 && this.listeners.size > 0) this.feed(batch, seqs, now);
  }

  private feed(batch: readonly PendingAppend[], seqs: readonly number[][], storedAt: number): void {
    const out: StoredMessage[] = [];
    for (let b = 0; b < batch.length; b++) {
      const rows = batch[b]!.rows;
      const s = seqs[b]!;
      for (let i = 0; i < rows.length; i++) {
        out.push({ seq: s[i]!, storedAt, topic: rows[i]!.topic, payload: rows[i]!.payload });
      }
    }
    for (const l of this.listeners) {
      try {
        l(out);
      } catch (err) {
        this.counters.inc('buffer_listener_errors');
        this.log.warn({ err: describe(err).text }, 'buffer: an onCommit listener threw');
      }
    }
  }

  // ---------------------------------------------------------------- write transactions

  private transaction(fn: () => void): void {
    if (this.db.inTransaction) this.db.exec('ROLLBACK'); // left open by a failed rollback
    this.db.transaction(fn)();
  }

  private writeFailed(err: unknown): BufferWriteError {
    const { code, text } = describe(err);
    this.counters.inc('buffer_write_errors');
    this.failedWrites++;
    if (this.writeError === undefined) {
      this.log.error(
        { file: this.file, err: text },
        'buffer: cannot write the database; appends are refused until a write succeeds',
      );
    }
    this.writeError = text;
    return new BufferWriteError(`buffer: cannot write ${this.file}: ${text}`, code);
  }

  /** Book-keeping after any write transaction committed. */
  private committed(seen: Seen): void {
    this.steps.accept(seen);
    if (seen.step) {
      this.counters.inc('buffer_clock_steps');
      this.log.warn({ stepMs: seen.step.deltaMs }, 'buffer: the wall clock stepped; age limits follow the step');
    }
    for (const c of this.cursors.values()) {
      c.savedSeq = c.seq;
      c.savedDropped = c.dropped;
    }
    this.removedCursors.clear();
    if (this.writeError !== undefined) {
      this.log.info({ file: this.file, failedWrites: this.failedWrites }, 'buffer: writes succeed again');
      this.writeError = undefined;
      this.failedWrites = 0;
    }
  }

  private saveStep(seen: Seen): void {
    if (seen.step) this.st.saveStep.run(seen.step.seq, seen.step.deltaMs);
  }

  private cursorsDirty(): boolean {
    if (this.removedCursors.size > 0) return true;
    for (const c of this.cursors.values()) if (c.seq !== c.savedSeq || c.dropped !== c.savedDropped) return true;
    return false;
  }

  private saveCursors(): void {
    for (const name of this.removedCursors) this.st.deleteCursor.run(name);
    for (const [name, c] of this.cursors) {
      if (c.seq !== c.savedSeq || c.dropped !== c.savedDropped) this.st.saveCursor.run(name, c.seq, c.dropped);
    }
  }

  // ---------------------------------------------------------------- pruning

  /** One prune transaction (also persists cursor moves); schedules the next one soon if behind. */
  private prune(): void {
    if (this.pruneAgain) clearTimeout(this.pruneAgain);
    this.pruneAgain = null;
    if (this.closed) return;
    const seen = this.steps.observe(this.last);
    const correction = (seq: number): number =>
      this.steps.correction(seq) + (seen.step && seq <= seen.step.seq ? seen.step.deltaMs : 0);
    const ageCutoff = this.o.maxAgeHours > 0 ? seen.now - this.o.maxAgeHours * 3_600_000 : null;
    let deliveredUpTo = this.last; // no cursor at all: nobody will read the rows, keep none
    for (const c of this.cursors.values()) deliveredUpTo = Math.min(deliveredUpTo, c.seq);

    let plan = { upTo: -1, rows: 0, bytes: 0 };
    let headLength = 0;
    if (this.first <= this.last) {
      const oldest = (this.st.storedAt.get(this.first) as number) + correction(this.first);
      const worth =
        deliveredUpTo >= this.first ||
        (this.o.maxBytes > 0 && this.bytes > this.o.maxBytes) ||
        (ageCutoff !== null && oldest < ageCutoff);
      if (worth) {
        const head = (this.st.head.all(this.first, this.o.pruneBatchRows) as [number, number, number][]).map(
          ([seq, at, bytes]): HeadRow => ({ seq, at: at + correction(seq), bytes }),
        );
        headLength = head.length;
        plan = planPrune(head, { deliveredUpTo, bytes: this.bytes, maxBytes: this.o.maxBytes, ageCutoff });
      }
    }
    if (plan.rows === 0 && !seen.step && !this.cursorsDirty()) {
      this.steps.accept(seen);
      return;
    }

    // Cursors behind the pruned rows move past them; what they had not delivered is dropped.
    const drops: { name: string; c: CursorState; n: number; seq: number }[] = [];
    if (plan.rows > 0) {
      for (const [name, c] of this.cursors) {
        const n = undelivered(c.seq, this.first, plan.upTo);
        if (n > 0) drops.push({ name, c, n, seq: c.seq });
      }
    }
    for (const d of drops) {
      d.c.seq = plan.upTo;
      d.c.dropped += d.n;
    }
    try {
      this.transaction(() => {
        this.saveStep(seen);
        this.saveCursors();
        if (plan.rows > 0) {
          this.st.deleteUpTo.run(plan.upTo);
          this.st.forgetSteps.run(plan.upTo + 1);
        }
      });
    } catch (err) {
      for (const d of drops) {
        d.c.seq = d.seq;
        d.c.dropped -= d.n;
      }
      this.writeFailed(err);
      return;
    }
    this.committed(seen);
    if (plan.rows > 0) {
      this.first = plan.upTo + 1;
      this.bytes -= plan.bytes;
      this.steps.forgetBelow(this.first);
      this.counters.inc('buffer_pruned', undefined, plan.rows);
      for (const d of drops) this.counters.inc('buffer_dropped', { forwarder: d.name }, d.n);
      if (plan.rows === headLength && headLength === this.o.pruneBatchRows) {
        this.pruneAgain = setTimeout(() => this.prune(), Math.max(1, this.o.commitIntervalMs));
        this.pruneAgain.unref();
      }
    }
  }

  // ---------------------------------------------------------------- reads and cursors

  read(after: number, limit: number, upTo?: number): StoredMessage[] {
    this.open();
    checkSeq('read: after', after);
    if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1) {
      throw new TypeError(`buffer: read: limit must be an integer >= 1, got ${String(limit)}`);
    }
    const hi = upTo === undefined ? MAX_SEQ : checkSeq('read: upTo', upTo);
    return this.st.read.all(after, hi, limit) as StoredMessage[];
  }

  registerCursor(forwarder: string, fromStart = false): number {
    this.open();
    checkName('registerCursor: forwarder', forwarder);
    const c = this.cursors.get(forwarder);
    if (c) return c.seq;
    const seq = fromStart ? 0 : this.last;
    this.cursors.set(forwarder, { seq, dropped: 0, savedSeq: null, savedDropped: 0 });
    this.removedCursors.delete(forwarder);
    return seq;
  }

  retainCursors(forwarders: readonly string[]): string[] {
    this.open();
    if (!Array.isArray(forwarders)) throw new TypeError('buffer: retainCursors: forwarders must be an array');
    const keep = new Set(forwarders);
    const removed: string[] = [];
    for (const name of [...this.cursors.keys()]) {
      if (keep.has(name)) continue;
      const c = this.cursors.get(name)!;
      this.cursors.delete(name);
      if (c.savedSeq !== null) this.removedCursors.add(name);
      removed.push(name);
    }
    return removed;
  }

  cursor(forwarder: string): number {
    return this.known(forwarder).seq;
  }

  ack(forwarder: string, seq: number): void {
    this.open();
    const c = this.known(forwarder);
    checkSeq(`ack(${JSON.stringify(forwarder)}): seq`, seq);
    const s = Math.min(seq, this.last); // nothing above the last committed row can have been delivered
    if (s > c.seq) c.seq = s;
  }

  private known(forwarder: string): CursorState {
    const c = this.cursors.get(forwarder);
    if (!c) throw new Error(`buffer: no cursor for forwarder ${JSON.stringify(forwarder)} (registerCursor first)`);
    return c;
  }

  lastSeq(): number {
    return this.last;
  }

  stats(): BufferStats {
    this.open();
    const now = this.o.clock.wall();
    const ageOf = (seq: number): number => {
      const at = this.st.storedAt.get(seq) as number | undefined;
      return at === undefined ? 0 : Math.max(0, (now - at - this.steps.correction(seq)) / 1000);
    };
    const empty = this.first > this.last;
    const cursors: CursorStats[] = [];
    for (const [forwarder, c] of this.cursors) {
      const from = Math.max(c.seq, this.first - 1);
      const lag = Math.max(0, this.last - from);
      cursors.push({ forwarder, cursor: c.seq, lag, lagSeconds: lag > 0 ? ageOf(from + 1) : 0, dropped: c.dropped });
    }
    const s: BufferStats = {
      path: this.file,
      rows: empty ? 0 : this.last - this.first + 1,
      bytes: this.bytes,
      firstSeq: empty ? 0 : this.first,
      lastSeq: this.last,
      oldestAgeSeconds: empty ? 0 : ageOf(this.first),
      cursors,
    };
    if (this.writeError !== undefined) s.writeError = this.writeError;
    return s;
  }

  onCommit(listener: (rows: readonly StoredMessage[]) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private open(): void {
    if (this.closed) throw new Error(`buffer: ${this.file} is closed`);
  }

  // ---------------------------------------------------------------- close

  close(): Promise<void> {
    this.closed ??= this.shutdown();
    return this.closed;
  }

  private async shutdown(): Promise<void> {
    clearInterval(this.pruneTimer);
    if (this.pruneAgain) clearTimeout(this.pruneAgain);
    this.commit(); // resolves (or rejects) every pending append, persists cursor moves
    const late = this.queue; // appended by an onCommit listener during that last commit
    this.queue = [];
    for (const p of late) p.reject(new Error(`buffer: ${this.file} is closed`));
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch (err) {
      this.log.warn({ file: this.file, err: describe(err).text }, 'buffer: final checkpoint failed (the WAL keeps the data)');
    }
    this.db.close();
  }
}
