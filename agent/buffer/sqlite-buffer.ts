/**
 * The store-and-forward buffer on one SQLite file.
 *
 * Writes go to a worker thread (writer-worker.ts) one transaction at a time, so fsync never blocks
 * the main event loop; reads, stats and all the deciding (what to commit, what to prune) stay here on
 * a second connection (WAL lets it read while the worker writes).
 *
 * - Group commit: `append` queues rows. When no transaction is in flight, the queue is sent at the
 *   end of the current event-loop turn (commitIntervalMs 0, the default), or after
 *   `commitIntervalMs` (at once when `maxBatchRows` are queued); while one is in flight, everything
 *   queued meanwhile goes in the next one as soon as it returns. So a PUBACK costs about one fsync
 *   when the writer is idle, and a busy writer commits ever larger groups. A transaction also carries cursor
 *   moves and, when due, one prune batch. Appends resolve only after it committed (synchronous=FULL:
 *   durable once resolved); then `onCommit` listeners get the rows.
 * - Pruning, every `pruneIntervalMs`, at most `pruneBatchRows` rows per transaction, deletes from the
 *   head only, so seqs in the table stay contiguous (first..last).
 * - Write failures (disk full, I/O error) reject the appends of that transaction, set
 *   `stats().writeError`, are logged once and counted; the next transaction is the retry. Appends
 *   are refused while the writer cannot keep its space reserve (writer-worker.ts).
 * - Space: with `maxBytes`, rows are pruned so that the database's used pages stay within the part
 *   of `maxBytes` left after the WAL, shared memory, reserve, seq floor and the file system's own
 *   blocks (space.ts), a prune deleting at least what a transaction adds beyond the limit;
 *   transactions are capped in bytes so the WAL stays within its part.
 * - The file deleted or replaced while open (the writer checks device + inode on every job): appends
 *   are refused and `writeError` is set at once; at the next tick the database, as the open
 *   connections still see it, is copied to a new file put in place of the old one, so nothing
 *   acknowledged is lost and seqs continue. If that copy cannot be made, a fresh file starts above
 *   the seq floor (seq-floor.ts): a seq is never issued twice.
 * - No database at all (openBuffer on a full disk): everything reads as empty, appends are refused,
 *   and opening is tried again at every tick.
 * - Rows are stored encoded (codec.ts) by the writer; `read` decodes them with the file's shapes
 *   (cached here per open file), `onCommit` hands listeners the original texts.
 * - History (historyHours > 0): delivered rows stay until older than the window; `history` reads
 *   one field of one topic's encoded rows per bucket through the (shape, stored_at) index.
 */
import type { BufferStats, CursorStats, MessageBuffer, NewMessage, RemovedCursor } from '../core/buffer-types.js';
import type { Counters } from '../core/counters.js';
import type { Logger, StoredMessage } from '../core/plugin.js';
import { ClockSteps, type ClockStep } from './clock-steps.js';
import fs from 'node:fs';
import path from 'node:path';
import { clearLostPath, fileIdentity, openDatabase, StoreUnavailable, syncDir, type Db, type OpenedDb } from './open-db.js';
import type { ResolvedOptions } from './options.js';
import type { WriteJob, WriterData, WriterReply } from './writer-protocol.js';
import { planPrune, undelivered, type HeadRow, type PrunePlan } from './prune-plan.js';
import { readSeqFloor, SEQ_FILE } from './seq-floor.js';
import { payloadLimit, USED_PAGES_SQL, type SpaceBudget } from './space.js';
import { decode, decodeSpliced, readNumber, Shape } from './codec.js';
import { spliceFields } from '../forwarders/payload.js';
import { Buckets, checkQuery, resolveField, type HistoryQuery, type HistorySeries, type HistorySource } from './history.js';
import { Worker } from 'node:worker_threads';

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
  /** Topic + payload bytes (UTF-8) of the rows. */
  bytes: number;
  resolve(seqs: number[]): void;
  reject(err: Error): void;
}

interface CursorState {
  seq: number;
  /** Registered with fromStart (matters only while no database is open). */
  fromStart?: boolean;
  /**
   * Told when the buffer moves this cursor back (the last registration's): the database opened only
   * after the cursor was registered (attach, 'late'), or a prune that had moved it past undelivered
   * rows failed to commit (undoDrops).
   */
  onReset?: (seq: number) => void;
  dropped: number;
  /** Values last written to the cursors table (null: never written). */
  savedSeq: number | null;
  savedDropped: number;
}

type Seen = ReturnType<ClockSteps['observe']>;

interface Drop {
  name: string;
  c: CursorState;
  n: number;
  /** The cursor before it was moved past the dropped rows. */
  was: number;
}

/** The transaction in the worker's hands, and what to book when it returns. */
interface InFlight {
  job: WriteJob;
  appends: PendingAppend[];
  seen: Seen;
  plan: PrunePlan | null;
  drops: Drop[];
  /** Whether the prune batch was full (more to prune right away). */
  behind: boolean;
}

const MAX_SEQ = Number.MAX_SAFE_INTEGER;

/** The open database: the main thread's (read) connection and what belongs to it. */
interface Store {
  db: Db;
  file: string;
  identity: string;
  st: Statements;
  /** Shapes read so far, by id (ids are only ever added to a file, so entries stay true while it is open). */
  shapes: Map<number, Shape>;
  /**
   * Pages in use as of the last transaction, as the writer read them inside it; null until one
   * committed, or after one failed, when the next space check asks the file.
   */
  usedPages: number | null;
}

type Statements = ReturnType<typeof prepare>;

function prepare(db: Db) {
  return {
    read: db
      .prepare(
        `SELECT seq, stored_at, topic, payload, shape FROM messages
          WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?`,
      )
      .raw(),
    shape: db.prepare(`SELECT id, topic, template, ref FROM shapes WHERE id = ?`),
    shapesOf: db.prepare(`SELECT id FROM shapes WHERE topic = ? ORDER BY id`).pluck(),
    hasShape: db.prepare(`SELECT 1 FROM shapes WHERE topic = ? LIMIT 1`).pluck(),
    // Uses the partial index messages_shape_time (shape = ? implies shape IS NOT NULL).
    historyRows: db.prepare(`SELECT payload FROM messages WHERE shape = ? AND stored_at >= ? AND stored_at <= ?`).pluck(),
    storedAt: db.prepare(`SELECT stored_at FROM messages WHERE seq = ?`).pluck(),
    head: db
      .prepare(
        `SELECT seq, stored_at, octet_length(topic) + octet_length(payload) FROM messages
          WHERE seq >= ? ORDER BY seq LIMIT ?`,
      )
      .raw(),
    saveStep: db.prepare(
      `INSERT INTO clock_steps (seq, delta_ms) VALUES (?, ?)
         ON CONFLICT (seq) DO UPDATE SET delta_ms = delta_ms + excluded.delta_ms`,
    ),
    pageCount: db.prepare(USED_PAGES_SQL).pluck(),
  };
}

/** How a database just opened is reconciled with what is in memory. */
type AttachMode =
  /** openBuffer opened it: everything comes from the file. */
  | 'initial'
  /** opened later (openBuffer could not): the file's rows and cursors, reconciled with cursors registered meanwhile. */
  | 'late'
  /** re-created after the open one was lost: memory is right about cursors; rows come from the file. */
  | 'recovered';

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

/** Buckets one synchronous step of a history read covers; the event loop gets a turn between steps. */
const HISTORY_STEP_BUCKETS = 50;

export class SqliteBuffer implements MessageBuffer, HistorySource {
  private readonly log: Logger;
  private readonly counters: Counters;
  private steps: ClockSteps;
  private readonly file: string;
  private readonly seqFile: string;
  private readonly reserveFile: string;

  /** The open database; null while it cannot be opened (full disk at start, or while re-creating it). */
  private store: Store | null = null;
  /** Set when the file was found deleted/replaced, until it is re-created. */
  private lost: string | null = null;
  /** Ticks since the loss was noticed: re-creation waits one full tick (see tick). */
  private lostTicks = 0;
  private recovering: Promise<void> | null = null;
  /** How the next database opened is reconciled with memory. */
  private attachMode: AttachMode = 'initial';
  /** The durable seq floor, as last known (null: none). */
  private seqMark: number | null;

  private queue: PendingAppend[] = [];
  private queuedRows = 0;
  private queuedBytes = 0;
  private commitTimer: NodeJS.Timeout | null = null;
  private commitNow: NodeJS.Immediate | null = null;
  private readonly tickTimer: NodeJS.Timeout;
  private pruneDue = false;
  /** A write error is set: the next tick sends a job even with nothing to write, to retry. */
  private retryDue = false;

  private worker: Worker | null = null;
  private inFlight: InFlight | null = null;
  private salvageWaiter: { id: number; done(r: { ok: boolean; code?: string; message?: string }): void } | null = null;
  private jobId = 0;
  private idleWaiters: (() => void)[] = [];

  private readonly cursors = new Map<string, CursorState>();
  private readonly removedCursors = new Set<string>();
  /**
   * Cursors removed in this run (retainCursors): where each was and the last seq then. The rows in
   * between were not delivered by that forwarder, so a forwarder registered `fromStart` after it (a
   * renamed one) sends them, while the buffer still holds them (see oldestUndelivered). A cursor that
   * had delivered every row is kept too (`seq` = `last`): the rows at or below it are history, and a
   * forwarder registered `fromStart` while no other cursor exists starts after them, not at 0.
   */
  private removedPlaces: { seq: number; last: number }[] = [];
  /** Forwarders registered before the database could be opened that have rows they never read: acks do not move them this run. */
  private readonly pinned = new Set<string>();
  /** The forwarders named by retainCursors while no database was open. */
  private retained: Set<string> | null = null;
  private readonly listeners = new Set<(rows: readonly StoredMessage[]) => void>();

  /** Committed rows are exactly seq first..last (first = last + 1 when empty). */
  private first = 1;
  private last = 0;
  /** Stored bytes of the rows (topic + payload as stored: encoded rows count their BLOB). */
  private bytes = 0;
  /** Stored bytes per text byte of the last commit: estimates what queued rows will take. */
  private storedRatio = 1;

  private writeError: string | undefined;
  private writeErrorCode = 'EUNKNOWN';
  private failedWrites = 0;
  private closed: Promise<void> | null = null;

  constructor(
    private readonly o: ResolvedOptions,
    private readonly budget: SpaceBudget,
  ) {
    this.log = o.log;
    this.counters = o.counters;
    this.file = path.join(o.dir, 'buffer.db');
    this.seqFile = path.join(o.dir, SEQ_FILE);
    this.reserveFile = path.join(o.dir, 'buffer.reserve');
    this.describeCounters();
    this.seqMark = readSeqFloor(this.seqFile);
    this.steps = new ClockSteps(o.clock, o.clockStepMs, []);
    this.tickTimer = setInterval(() => this.tick(), o.pruneIntervalMs);
    this.tickTimer.unref();
  }

  /**
   * Opens the database. A full disk or an I/O error leaves the buffer degraded (appends refused,
   * opening retried every tick) instead of throwing; anything else (a directory in the way,
   * permissions) throws.
   */
  start(): void {
    try {
      this.tryOpen(true);
    } catch (err) {
      clearInterval(this.tickTimer);
      throw err;
    }
  }

  private tryOpen(first: boolean): void {
    let opened: OpenedDb;
    try {
      opened = this.openFile();
    } catch (err) {
      if (!(err instanceof StoreUnavailable)) throw err;
      let retried = false;
      if (first && fs.existsSync(this.reserveFile)) {
        // The reserve is there for this: give its space to SQLite's WAL and shared memory.
        fs.rmSync(this.reserveFile, { force: true });
        retried = true;
      }
      if (!retried) return this.unavailable(err);
      try {
        opened = this.openFile();
      } catch (again) {
        if (!(again instanceof StoreUnavailable)) throw again;
        return this.unavailable(again);
      }
    }
    this.attach(opened);
    if (!first) this.log.info({ file: this.file }, 'buffer: the database is open again');
  }

  private openFile(): OpenedDb {
    const floor = this.attachMode === 'recovered' ? Math.max(this.last, this.seqMark ?? 0) : this.seqMark;
    return openDatabase(this.o.dir, this.log, this.counters, () => this.o.clock.wall(), floor);
  }

  /** No database: every append is refused until a later tick opens it. */
  private unavailable(err: StoreUnavailable): void {
    if (this.attachMode === 'initial') this.attachMode = 'late';
    this.failed(err.code, err.message.replace(/^buffer: /, '').replace(`${err.code}: `, ''));
  }

  /** Takes an opened database into use (see AttachMode). */
  private attach(opened: OpenedDb): void {
    const mode = this.attachMode;
    const db = opened.db;
    let st: Statements;
    try {
      st = prepare(db);
    } catch (err) {
      db.close();
      throw err;
    }
    this.store = { db, file: opened.file, identity: opened.identity, st, shapes: new Map(), usedPages: null };
    if (opened.fresh && this.seqMark !== null && mode !== 'recovered') {
      this.counters.inc('buffer_file_lost');
      this.log.error(
        { file: this.file, seqContinuesAfter: this.seqMark },
        'buffer: the database file was missing although rows were stored before; started a fresh one above the seq floor',
      );
    }

    const head = db
      .prepare(
        `SELECT MIN(seq) AS first, MAX(seq) AS last, COUNT(*) AS n,
                COALESCE(SUM(octet_length(topic) + octet_length(payload)), 0) AS bytes FROM messages`,
      )
      .get() as { first: number | null; last: number | null; n: number; bytes: number };
    const issued = (db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'messages'`).pluck().get() ?? 0) as number;
    const had = { first: this.first, last: this.last };
    this.last = Math.max(issued, head.last ?? 0);
    this.first = head.first ?? this.last + 1;
    this.bytes = head.bytes;
    if (head.n !== this.last - this.first + 1 && head.n > 0) {
      this.log.warn(
        { file: this.file, rows: head.n, first: this.first, last: this.last },
        'buffer: seqs in the table are not contiguous; lag figures are approximate',
      );
    }
    const saved = new Map<string, { seq: number; dropped: number }>();
    for (const c of db.prepare(`SELECT forwarder, seq, dropped FROM cursors`).all() as {
      forwarder: string;
      seq: number;
      dropped: number;
    }[]) {
      saved.set(c.forwarder, { seq: c.seq, dropped: c.dropped });
    }

    if (mode === 'recovered') {
      // Memory is right about cursors (it may hold acks not yet written): all are written again.
      for (const c of this.cursors.values()) c.savedSeq = null;
      const lostRows = opened.fresh ? Math.max(0, had.last - had.first + 1) : 0;
      if (lostRows > 0) {
        this.counters.inc('buffer_lost_rows', undefined, lostRows);
        this.log.error({ file: this.file, lostRows, seqContinuesAfter: this.last }, 'buffer: rows of the lost database could not be copied');
      }
    } else {
      const provisional = new Map(this.cursors);
      const resets: [(seq: number) => void, number][] = [];
      this.cursors.clear();
      for (const [name, c] of saved) {
        if (this.retained && !this.retained.has(name)) {
          this.removedCursors.add(name);
          this.removedPlaces.push({ seq: c.seq, last: this.last });
          continue;
        }
        this.cursors.set(name, { seq: c.seq, dropped: c.dropped, savedSeq: c.seq, savedDropped: c.dropped });
      }
      this.retained = null;
      const oldest = this.oldestUndelivered(); // before the provisional cursors join
      for (const [name, p] of provisional) {
        // Registered while no database was open: the forwarder was told rows up to p.seq were done.
        const c = this.cursors.get(name);
        if (c && p.onReset) c.onReset = p.onReset;
        if (c && c.seq < this.last && p.onReset) {
          // It starts over from the file's cursor: told once the database is in use (below).
          resets.push([p.onReset, c.seq]);
        } else if (c && c.seq < this.last) {
          // It never reads the rows it had left: keep its place, so a restart sends them.
          this.pinned.add(name);
          this.log.warn(
            { forwarder: name, cursor: c.seq, lastSeq: this.last },
            'buffer: a forwarder started before the database could be opened; its undelivered rows are sent after the next restart',
          );
        } else if (!c) {
          const seq = p.fromStart && this.last >= this.first ? oldest : this.last;
          if (seq < this.last) this.pinned.add(name);
          this.cursors.set(name, { seq, dropped: 0, savedSeq: null, savedDropped: 0, ...(p.onReset ? { onReset: p.onReset } : {}) });
        }
      }
      const steps = db.prepare(`SELECT seq, delta_ms AS deltaMs FROM clock_steps`).all() as ClockStep[];
      this.steps = new ClockSteps(this.o.clock, this.o.clockStepMs, steps);
      this.checkClockAtOpen();
      // After this attach has finished (a listener may read at once): each such forwarder starts over.
      for (const [reset, seq] of resets) {
        queueMicrotask(() => {
          try {
            reset(seq);
          } catch (err) {
            this.log.error({ err: describe(err).text }, 'buffer: a forwarder failed to take its cursor back');
          }
        });
      }
    }
    this.attachMode = 'recovered';
    // The first tick makes sure the space reserve exists (it may have been used to open on a full
    // disk); a failure there sets writeError, a success clears an earlier one.
    this.retryDue = true;
  }

  private describeCounters(): void {
    const c = this.counters;
  }

  /** The newest row stamped in the future: the clock went back while the agent was not running. */
  private checkClockAtOpen(): void {
    const store = this.store;
    if (!store || this.first > this.last) return;
    const stamp = store.st.storedAt.get(this.last) as number | undefined;
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
      store.st.saveStep.run(step.seq, step.deltaMs); // before the worker exists: no other writer yet
    } catch (err) {
      this.log.warn({ err: describe(err).text }, 'buffer: could not record the clock step (kept in memory)');
    }
  }

  /** Every pruneIntervalMs: prune, persist acks, and retry whatever is failing. */
  private tick(): void {
    if (this.closed) return;
    if (!this.store) {
      if (!this.recovering) {
        try {
          this.tryOpen(false);
        } catch (err) {
          this.failed('EUNKNOWN', describe(err).text);
        }
      }
      return;
    }
    if (this.lost !== null) {
      // Not at the first tick, which may come right after the loss was noticed: someone removing or
      // replacing the files gets one full interval to finish first, and the degraded state (appends
      // refused) lasts at least that long, so that monitoring sees it.
      if (++this.lostTicks < 2) return;
      this.recovering ??= this.recover().finally(() => {
        this.recovering = null;
      });
      return;
    }
    this.pruneDue = true;
    if (this.writeError !== undefined) this.retryDue = true;
    this.kick();
  }

  // ---------------------------------------------------------------- appends and group commit

  append(rows: readonly NewMessage[]): Promise<number[]> {
    if (this.closed) return Promise.reject(new Error(`buffer: ${this.file} is closed`));
    if (!Array.isArray(rows)) return Promise.reject(new TypeError('buffer.append: rows must be an array'));
    let bytes = 0;
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i] as NewMessage | undefined;
      if (typeof r?.topic !== 'string' || r.topic.length === 0) {
        return Promise.reject(new TypeError(`buffer.append: rows[${i}].topic must be a non-empty string`));
      }
      if (typeof r.payload !== 'string') {
        return Promise.reject(new TypeError(`buffer.append: rows[${i}].payload must be a string`));
      }
      bytes += Buffer.byteLength(r.topic) + Buffer.byteLength(r.payload);
    }
    if (rows.length === 0) return Promise.resolve([]);
    if (!this.store || this.lost !== null) {
      // No database to write (not opened yet, or being re-created): refused at once.
      this.counters.inc('buffer_write_errors');
      return Promise.reject(this.refusal());
    }
    return new Promise<number[]>((resolve, reject) => {
      this.queue.push({ rows, bytes, resolve, reject });
      this.queuedRows += rows.length;
      this.queuedBytes += bytes;
      if (this.inFlight) return; // goes with the next transaction, as soon as this one returns
      if (this.o.commitIntervalMs === 0 || this.queuedRows >= this.o.maxBatchRows || this.queuedBytes >= this.budget.txnBytes) {
        // Idle writer: commit right after this turn of the event loop (what arrives meanwhile joins it).
        this.commitNow ??= setImmediate(() => this.kick());
      } else {
        this.commitTimer ??= setTimeout(() => this.kick(), this.o.commitIntervalMs);
      }
    });
  }

  private refusal(): BufferWriteError {
    return new BufferWriteError(`buffer: cannot write ${this.file}: ${this.writeError ?? 'not open'}`, this.writeErrorCode);
  }

  /**
   * The payload-byte limit for the current page use (0: unlimited). The page use comes from the
   * writer's last reply (only the writer changes pages once it runs, and no transaction is in flight
   * when this is asked), else from a query on this connection (about 35 µs: it opens a read
   * transaction, which is why the writer's figure is kept).
   */
  private limitBytes(store: Store): number {
    if (this.budget.maxBytes === 0) return 0;
    store.usedPages ??= store.st.pageCount.get() as number;
    return payloadLimit(this.budget, store.usedPages, this.bytes);
  }

  /** Sends the next transaction to the writer, if none is in flight and there is anything to write. */
  private kick(): void {
    if (this.commitTimer) clearTimeout(this.commitTimer);
    if (this.commitNow) clearImmediate(this.commitNow);
    this.commitTimer = null;
    this.commitNow = null;
    if (this.inFlight || this.salvageWaiter) return; // its reply kicks again
    const store = this.store;
    if (!store || this.lost !== null) return;

    // Whole appends, up to maxBatchRows rows and txnBytes bytes: a short transaction, a bounded WAL.
    let take = 0;
    let taken = 0;
    let takenBytes = 0;
    while (
      take < this.queue.length &&
      (take === 0 || (taken < this.o.maxBatchRows && takenBytes + this.queue[take]!.bytes <= this.budget.txnBytes))
    ) {
      taken += this.queue[take]!.rows.length;
      takenBytes += this.queue[take]!.bytes;
      take++;
    }

    const seen = this.steps.observe(this.last);
    let plan: PrunePlan | null = null;
    let behind = false;
    const limit = this.limitBytes(store);
    const incoming = Math.ceil(takenBytes * this.storedRatio);
    const overLimit = limit > 0 && this.bytes + incoming > limit;
    if ((this.pruneDue || overLimit) && !this.closed) {
      const round = this.pruneDue;
      this.pruneDue = false;
      const p = this.planPrune(store, seen, limit, incoming);
      if (p.plan.rows > 0) plan = p.plan;
      else if (round) this.counters.inc('buffer_prune_rounds');
      behind = p.behind;
    }
    const retry = this.retryDue;
    this.retryDue = false;
    if (take === 0 && plan === null && !seen.step && !this.cursorsDirty() && !retry) {
      this.steps.accept(seen); // nothing to write: just follow the clock's slow drift
      this.settled();
      return;
    }
    const batch = take === this.queue.length ? this.queue : this.queue.slice(0, take);
    this.queue = take === this.queue.length ? [] : this.queue.slice(take);
    this.queuedRows -= taken;
    this.queuedBytes -= takenBytes;

    // Cursors behind the pruned rows move past them; what they had not delivered is dropped.
    const drops: Drop[] = [];
    if (plan) {
      for (const [name, c] of this.cursors) {
        const n = undelivered(c.seq, this.first, plan.upTo);
        if (n > 0) drops.push({ name, c, n, was: c.seq });
      }
      for (const d of drops) {
        d.c.seq = plan.upTo;
        d.c.dropped += d.n;
      }
    }

    const topics: string[] = [];
    const payloads: string[] = [];
    for (const p of batch) {
      for (const r of p.rows) {
        topics.push(r.topic);
        payloads.push(r.payload);
      }
    }
    const cursors: [string, number, number][] = [];
    for (const [name, c] of this.cursors) {
      if (c.seq !== c.savedSeq || c.dropped !== c.savedDropped) cursors.push([name, c.seq, c.dropped]);
    }
    const job: WriteJob = {
      type: 'write',
      id: ++this.jobId,
      now: seen.now,
      step: seen.step,
      topics,
      payloads,
      cursors,
      removedCursors: [...this.removedCursors],
      deleteUpTo: plan ? plan.upTo : null,
      deleteBytes: plan ? plan.bytes : 0,
      ensureReserve: retry,
    };
    this.inFlight = { job, appends: batch, seen, plan, drops, behind };
    const w = this.writer(store);
    w.ref(); // a transaction in flight keeps the process alive
    w.postMessage(job);
  }

  /** What the next prune batch deletes (read on this thread's connection; rows only go from the head). */
  private planPrune(store: Store, seen: Seen, limit: number, incoming: number): { plan: PrunePlan; behind: boolean } {
    const none = { plan: { upTo: -1, rows: 0, bytes: 0, historyDropped: 0 }, behind: false };
    if (this.first > this.last) return none;
    const correction = (seq: number): number =>
      this.steps.correction(seq) + (seen.step && seq <= seen.step.seq ? seen.step.deltaMs : 0);
    const ageCutoff = this.o.maxAgeHours > 0 ? seen.now - this.o.maxAgeHours * 3_600_000 : null;
    const historyCutoff = this.o.historyHours > 0 ? seen.now - this.o.historyHours * 3_600_000 : null;
    // With no cursor at all, rows wait (within the limits) for a forwarder registered `fromStart`.
    let deliveredUpTo = this.cursors.size > 0 ? this.last : 0;
    for (const c of this.cursors.values()) deliveredUpTo = Math.min(deliveredUpTo, c.seq);
    const oldest = (store.st.storedAt.get(this.first) as number) + correction(this.first);
    const bytes = this.bytes + incoming;
    const worth =
      (deliveredUpTo >= this.first && (historyCutoff === null || oldest < historyCutoff)) ||
      (limit > 0 && bytes > limit) ||
      (ageCutoff !== null && oldest < ageCutoff);
    if (!worth) return none;
    const chunk = this.o.pruneBatchRows;
    const readHead = (from: number): HeadRow[] =>
      (store.st.head.all(from, chunk) as [number, number, number][]).map(([seq, at, b]): HeadRow => ({ seq, at: at + correction(seq), bytes: b }));
    // Over the size limit, the transaction deletes at least what brings the kept bytes (its own
    // inserts included) back within it, beyond pruneBytes and pruneBatchRows if need be: otherwise
    // each transaction inserting more than one prune batch takes (a large append, 2000 small rows)
    // would grow the file past maxBytes for as long as rows come that fast. Deleting from the head
    // mostly frees whole pages, which costs the WAL little.
    const over = limit > 0 ? bytes - limit : 0;
    const limits = { deliveredUpTo, bytes, maxBytes: limit, ageCutoff, historyCutoff, maxPlanBytes: Math.max(this.budget.pruneBytes, over) };
    let head = readHead(this.first);
    let lastFull = head.length === chunk;
    let plan = planPrune(head, limits);
    while (over > 0 && lastFull && plan.rows === head.length && plan.bytes < over) {
      const more = readHead(head[head.length - 1]!.seq + 1);
      lastFull = more.length === chunk;
      if (more.length === 0) break;
      head = head.concat(more);
      plan = planPrune(head, limits);
    }
    const full = plan.rows === head.length && lastFull;
    return { plan, behind: full || (plan.rows > 0 && plan.rows < head.length && plan.bytes >= limits.maxPlanBytes) };
  }

  private writer(store: Store): Worker {
    if (this.worker) return this.worker;
    const data: WriterData = {
      file: store.file,
      identity: store.identity,
      reserveFile: this.reserveFile,
      reserveBytes: this.budget.reserveBytes,
      freeMarginBytes: this.budget.freeMarginBytes,
      checkpointAtBytes: this.budget.checkpointAtBytes,
      walBytes: this.budget.walBytes,
      walWaitMs: this.o.walWaitMs,
      seqFile: this.seqFile,
      seqMark: this.seqMark,
    };
    const w = new Worker(new URL('./writer-worker.js', import.meta.url), { workerData: data, resourceLimits: { maxYoungGenerationSizeMb: 4 } });
    w.on('message', (m: WriterReply) => this.onReply(m));
    w.on('error', (err) => this.log.error({ err: describe(err).text }, 'buffer: the writer thread failed'));
    w.on('exit', (code) => {
      if (this.worker !== w) return;
      this.worker = null;
      const gone = this.store !== null && this.identityChanged(this.store);
      if (this.salvageWaiter) {
        const s = this.salvageWaiter;
        this.salvageWaiter = null;
        s.done({ ok: false, code: 'EWORKER', message: `writer thread exited (code ${code})` });
      }
      if (this.inFlight) {
        if (gone) this.fileLost(this.inFlight, `${this.file} was deleted or replaced`);
        else this.finish(this.inFlight, { ok: false, code: 'EWORKER', message: `writer thread exited (code ${code})`, reserved: false });
      }
    });
    this.worker = w;
    return w;
  }

  private identityChanged(store: Store): boolean {
    try {
      return fileIdentity(store.file) !== store.identity;
    } catch {
      return true;
    }
  }

  private onReply(m: WriterReply): void {
    if (m.type === 'fatal') {
      this.log.error({ file: this.file, err: `${m.code}: ${m.message}` }, 'buffer: the writer thread cannot open the database');
      return; // its exit fails the transaction in flight
    }
    if (m.type === 'salvaged') {
      const s = this.salvageWaiter;
      if (!s || s.id !== m.id) return;
      this.salvageWaiter = null;
      s.done(m.ok ? { ok: true } : { ok: false, code: m.code, message: m.message });
      return;
    }
    if (m.type !== 'done' && m.type !== 'failed' && m.type !== 'lost') return;
    const f = this.inFlight;
    if (!f || f.job.id !== m.id) return;
    if (m.type === 'lost') this.fileLost(f, m.reason);
    else if (m.type === 'done') {
      if (this.store) this.store.usedPages = m.usedPages;
      if (m.seqMark !== null) this.seqMark = Math.max(this.seqMark ?? 0, m.seqMark);
      if (m.reserveError) this.failed(m.reserveError.code, m.reserveError.message);
      this.finish(f, { ok: true, seqs: m.seqs, bytes: m.bytes, reserved: m.reserved });
    } else {
      if (this.store) this.store.usedPages = null;
      this.finish(f, { ok: false, code: m.code, message: m.message, reserved: m.reserved });
    }
  }

  /**
   * Undoes what a transaction that did not commit had booked in memory. The prune that moved a cursor
   * past rows it had not delivered did not happen: the cursor goes back to where it was, also when
   * an ack moved it further meanwhile (a forwarder that discarded those rows as dropped acks past
   * them without having sent them), and its forwarder is told, so that it sends them after all.
   */
  private undoDrops(f: InFlight): void {
    for (const d of f.drops) {
      d.c.seq = d.was;
      d.c.dropped -= d.n;
    }
    for (const d of f.drops) {
      if (this.cursors.get(d.name) !== d.c || !d.c.onReset) continue; // removed meanwhile, or nobody to tell
      try {
        d.c.onReset(d.was);
      } catch (err) {
        this.log.error({ err: describe(err).text }, 'buffer: a forwarder failed to take its cursor back');
      }
    }
  }

  /** Books a transaction's outcome, resolves or rejects its appends, and sends the next one. */
  private finish(
    f: InFlight,
    r: { ok: true; seqs: number[]; bytes: number; reserved: boolean } | { ok: false; code: string; message: string; reserved: boolean },
  ): void {
    this.inFlight = null;
    this.worker?.unref();
    if (r.ok) {
      this.succeeded(f, r.reserved);
      this.committedRows(f.appends, r.seqs, f.job.now, r.bytes);
    } else {
      this.undoDrops(f);
      const err = this.failed(r.code, r.message);
      for (const p of f.appends) p.reject(err);
    }
    if (this.queue.length > 0 || (r.ok && this.pruneDue)) this.kick();
    this.settled();
  }

  /** Wakes whoever waits for no transaction to be in flight. */
  private settled(): void {
    if (this.inFlight) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * The writer found the file deleted or replaced; nothing of this job was written. Appends are
   * refused from now on (writeError), and the next tick re-creates the file (recover).
   */
  private fileLost(f: InFlight, reason: string): void {
    this.inFlight = null;
    this.worker?.unref();
    this.undoDrops(f);
    this.lost = reason;
    this.lostTicks = 0;
    this.counters.inc('buffer_file_lost');
    this.log.error(
      { file: this.file, reason },
      'buffer: the database file was deleted or replaced while open; refusing appends and re-creating it',
    );
    const err = this.failed('SQLITE_IOERR_LOST', `${reason}; re-creating it`);
    const queued = this.queue;
    this.queue = [];
    this.queuedRows = 0;
    this.queuedBytes = 0;
    for (const p of [...f.appends, ...queued]) p.reject(err);
    this.settled();
  }

  /**
   * Re-creates the database after it was lost: the writer copies it as its connection still sees it
   * (`VACUUM INTO`), both connections close, whatever is at the path now is moved aside (not ours)
   * or removed (our stale -wal/-shm), and the copy is renamed into place. Without a copy (it failed
   * for another reason than space), a fresh file starts above the seq floor. A copy that fails for
   * want of space is tried again at the next tick; meanwhile reads still work on the old connection.
   */
  private async recover(): Promise<void> {
    const store = this.store;
    if (!store || this.lost === null) return;
    await this.idle();
    const tmp = `${store.file}.recovering`;
    let copy = await this.salvage(store, tmp);
    if (!copy.ok && copy.code === 'EWORKER') {
      // No writer could be started on the lost file: copy through this thread's connection instead
      // (it blocks the event loop for the length of the copy, once).
      try {
        fs.rmSync(tmp, { force: true });
        store.db.prepare('VACUUM INTO ?').run(tmp);
        const fd = fs.openSync(tmp, 'r');
        try {
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
        copy = { ok: true };
      } catch (err) {
        fs.rmSync(tmp, { force: true });
        copy = { ok: false, code: describe(err).code, message: describe(err).text };
      }
    }
    const noRoom = ['SQLITE_FULL', 'ENOSPC', 'EDQUOT'].includes(copy.code ?? '');
    if (!copy.ok && noRoom) {
      this.log.warn({ file: this.file, err: `${copy.code}: ${copy.message}` }, 'buffer: cannot copy the lost database yet; trying again');
      return;
    }
    await this.detach();
    const stamp = new Date(this.o.clock.wall()).toISOString().replace(/[:.]/g, '-');
    try {
      const aside = clearLostPath(store.file, store.identity, stamp);
      if (aside) this.log.warn({ file: this.file, movedTo: aside }, 'buffer: moved the file that replaced the database aside');
      if (copy.ok) {
        fs.renameSync(tmp, store.file);
        syncDir(this.o.dir);
      } else {
        this.log.error({ file: this.file, err: `${copy.code}: ${copy.message}` }, 'buffer: cannot copy the lost database; starting a fresh one above the seq floor');
      }
    } catch (err) {
      this.log.error({ file: this.file, err: describe(err).text }, 'buffer: cannot put the re-created database in place; trying again');
    }
    this.lost = null;
    this.attachMode = 'recovered';
    try {
      this.tryOpen(false);
    } catch (err) {
      this.failed('EUNKNOWN', describe(err).text);
    }
    if (this.store) {
      this.log.info({ file: this.file, lastSeq: this.last, rows: this.last - this.first + 1 }, 'buffer: re-created the database');
    }
  }

  private salvage(store: Store, to: string): Promise<{ ok: boolean; code?: string; message?: string }> {
    return new Promise((resolve) => {
      const id = ++this.jobId;
      this.salvageWaiter = { id, done: resolve };
      const w = this.writer(store);
      w.ref();
      w.postMessage({ type: 'salvage', id, to });
    }).finally(() => this.worker?.unref()) as Promise<{ ok: boolean; code?: string; message?: string }>;
  }

  /** Closes the writer and the read connection (the store is gone until the next open). */
  private async detach(): Promise<void> {
    await this.closeWorker();
    const store = this.store;
    this.store = null;
    try {
      store?.db.close();
    } catch {
      // a broken handle: nothing more to do
    }
  }

  private succeeded(f: InFlight, reserved: boolean): void {
    this.steps.accept(f.seen);
    if (f.seen.step) {
      this.counters.inc('buffer_clock_steps');
      this.log.warn({ stepMs: f.seen.step.deltaMs }, 'buffer: the wall clock stepped; age limits follow the step');
    }
    for (const [name, seq, dropped] of f.job.cursors) {
      const c = this.cursors.get(name);
      if (c) {
        c.savedSeq = seq;
        c.savedDropped = dropped;
      }
    }
    for (const name of f.job.removedCursors) this.removedCursors.delete(name);
    if (f.plan) {
      this.first = f.plan.upTo + 1;
      this.bytes -= f.plan.bytes;
      this.steps.forgetBelow(this.first);
      this.counters.inc('buffer_pruned', undefined, f.plan.rows);
      this.counters.inc('buffer_prune_rounds');
      for (const d of f.drops) this.counters.inc('buffer_dropped', { forwarder: d.name }, d.n);
      if (f.plan.historyDropped > 0) this.counters.inc('history_dropped_rows', undefined, f.plan.historyDropped);
      if (f.behind) this.pruneDue = true;
    }
    if (this.writeError !== undefined && reserved) {
      this.log.info({ file: this.file, failedWrites: this.failedWrites }, 'buffer: writes succeed again');
      this.writeError = undefined;
      this.failedWrites = 0;
    }
  }

  private committedRows(batch: readonly PendingAppend[], seqs: readonly number[], storedAt: number, storedBytes: number): void {
    if (seqs.length === 0) return;
    let k = 0;
    let textBytes = 0;
    const per: number[][] = new Array<number[]>(batch.length);
    for (let b = 0; b < batch.length; b++) {
      const p = batch[b]!;
      per[b] = seqs.slice(k, k + p.rows.length);
      textBytes += p.bytes;
      k += p.rows.length;
    }
    this.bytes += storedBytes;
    if (textBytes > 0) this.storedRatio = Math.min(1, Math.max(0.01, storedBytes / textBytes));
    if (this.first > this.last) this.first = seqs[0]!;
    this.last = seqs[seqs.length - 1]!;
    this.counters.inc('buffer_appended', undefined, seqs.length);
    for (let b = 0; b < batch.length; b++) batch[b]!.resolve(per[b]!);
    if (this.listeners.size === 0) return;
    const out: StoredMessage[] = new Array<StoredMessage>(seqs.length);
    k = 0;
    for (const p of batch) {
      for (const r of p.rows) {
        out[k] = { seq: seqs[k]!, storedAt, topic: r.topic, payload: r.payload };
        k++;
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

  /** Records a failure: counted, logged once per episode, and kept in writeError until a write succeeds. */
  private failed(code: string, message: string): BufferWriteError {
    const text = code === 'EUNKNOWN' ? message : `${code}: ${message}`;
    this.counters.inc('buffer_write_errors');
    this.failedWrites++;
    if (this.writeError === undefined) {
      this.log.error(
        { file: this.file, err: text },
        'buffer: cannot write the database; appends are refused until a write succeeds',
      );
    }
    this.writeError = text;
    this.writeErrorCode = code;
    return new BufferWriteError(`buffer: cannot write ${this.file}: ${text}`, code);
  }

  private cursorsDirty(): boolean {
    if (this.removedCursors.size > 0) return true;
    for (const c of this.cursors.values()) if (c.seq !== c.savedSeq || c.dropped !== c.savedDropped) return true;
    return false;
  }

  // ---------------------------------------------------------------- reads and cursors

  read(after: number, limit: number, upTo?: number): StoredMessage[] {
    this.open();
    checkSeq('read: after', after);
    if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1) {
      throw new TypeError(`buffer: read: limit must be an integer >= 1, got ${String(limit)}`);
    }
    const hi = upTo === undefined ? MAX_SEQ : checkSeq('read: upTo', upTo);
    const store = this.store;
    if (!store) return []; // no database open: nothing to read yet
    const rows = store.st.read.all(after, hi, limit) as [number, number, string, string | Buffer, number | null][];
    const out = new Array<StoredMessage>(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const [seq, storedAt, topic, payload, shapeId] = rows[i]!;
      if (shapeId === null) out[i] = { seq, storedAt, topic, payload: String(payload) };
      else {
        const shape = this.shapeOf(store, shapeId);
        const text = decode(shape, payload as Buffer);
        out[i] = {
          seq,
          storedAt,
          topic: shape.topic,
          payload: text,
          spliced: (fields) => decodeSpliced(shape, payload as Buffer, fields, spliceFields) ?? spliceFields(text, fields),
        };
      }
    }
    return out;
  }

  /** A shape by id, from the cache or the shapes table (it was committed with the first row that uses it). */
  private shapeOf(store: Store, id: number): Shape {
    let s = store.shapes.get(id);
    if (s) return s;
    const r = store.st.shape.get(id) as { id: number; topic: string; template: string; ref: Buffer } | undefined;
    if (!r) throw new Error(`buffer: ${this.file}: shape ${id} is missing (the file is damaged)`);
    s = new Shape(r.id, r.topic, r.template, r.ref);
    store.shapes.set(id, s);
    return s;
  }

  /**
   * One numeric field of a device's processed (or stats) rows stored between fromMs and toMs
   * (stored_at, the commit time, inclusive), as min / max / mean / count per bucket. Only encoded
   * rows are read (the one field is picked out of each without decoding the rest), through the
   * (shape, stored_at) index; rows stored as text are not in the history. The work is done in steps
   * of HISTORY_STEP_BUCKETS buckets with a turn of the event loop between them. Throws
   * HistoryQueryError (naming the parameter) for a bad query.
   */
  async history(q: HistoryQuery): Promise<HistorySeries> {
    this.open();
    const { bucketMs, buckets } = checkQuery(q);
    const { topic, path } = resolveField(q.device, q.field);
    const acc = new Buckets(q.fromMs, bucketMs, buckets);
    for (let b0 = 0; b0 < buckets; b0 += HISTORY_STEP_BUCKETS) {
      const store = this.store; // looked up again each step: the file may have been re-created meanwhile
      if (!store || this.closed) break;
      const fields: [Shape, number][] = [];
      for (const id of store.st.shapesOf.all(topic) as number[]) {
        const shape = this.shapeOf(store, id);
        const k = shape.numericSlot(path);
        if (k >= 0) fields.push([shape, k]);
      }
      if (fields.length === 0) break;
      // One query per bucket and shape: SQLite hands over only the payloads (measured about 40 %
      // faster than one query over the range returning the stamp with each row).
      for (let b = b0; b < Math.min(buckets, b0 + HISTORY_STEP_BUCKETS); b++) {
        const lo = q.fromMs + b * bucketMs;
        const hi = Math.min(q.toMs, lo + bucketMs - 1);
        for (const [shape, k] of fields) {
          for (const blob of store.st.historyRows.iterate(shape.id, lo, hi) as Iterable<Buffer>) acc.addTo(b, readNumber(shape, blob, k));
        }
      }
      if (b0 + HISTORY_STEP_BUCKETS < buckets) await new Promise<void>((r) => setImmediate(r));
    }
    return acc.series(q.device, q.field, q.toMs);
  }

  hasHistory(device: string): boolean {
    const store = this.store;
    return store !== null && store.st.hasShape.get(`bal/processed/${device}`) !== undefined;
  }

  registerCursor(forwarder: string, fromStart = false, onReset?: (seq: number) => void): number {
    this.open();
    checkName('registerCursor: forwarder', forwarder);
    const c = this.cursors.get(forwarder);
    if (c) {
      if (onReset) c.onReset = onReset; // a restarted forwarder: tell the new one
      return c.seq;
    }
    const seq = fromStart ? this.oldestUndelivered() : this.last;
    this.cursors.set(forwarder, { seq, dropped: 0, savedSeq: null, savedDropped: 0, fromStart, ...(onReset ? { onReset } : {}) });
    this.removedCursors.delete(forwarder);
    return seq;
  }

  /**
   * Where a cursor registered `fromStart` starts: below the oldest row some forwarder has not
   * delivered, counting the forwarders removed in this run while the rows they left are still held
   * (a renamed forwarder's backlog; the rows committed after its removal come with it). With no
   * cursor at all, at 0: every row held. Rows every forwarder delivered, kept only for history
   * (historyHours), are not sent again: history is for reading here, and a new cursor starts at the
   * same place whether or not they are still kept.
   */
  private oldestUndelivered(): number {
    // A removed cursor's rows that are all pruned by now no longer count.
    this.removedPlaces = this.removedPlaces.filter((r) => r.last >= this.first);
    let floor = Number.POSITIVE_INFINITY;
    for (const r of this.removedPlaces) floor = Math.min(floor, r.seq);
    for (const c of this.cursors.values()) floor = Math.min(floor, c.seq);
    return Number.isFinite(floor) ? floor : 0;
  }

  retainCursors(forwarders: readonly string[]): RemovedCursor[] {
    this.open();
    if (!Array.isArray(forwarders)) throw new TypeError('buffer: retainCursors: forwarders must be an array');
    const keep = new Set(forwarders);
    const removed: RemovedCursor[] = [];
    for (const name of [...this.cursors.keys()]) {
      if (keep.has(name)) continue;
      const c = this.cursors.get(name)!;
      this.cursors.delete(name);
      this.pinned.delete(name);
      this.removedCursors.add(name); // deleting a row that was never written is harmless
      this.removedPlaces.push({ seq: c.seq, last: this.last });
      removed.push({ forwarder: name, undelivered: undelivered(c.seq, this.first, this.last) });
    }
    if (!this.store) this.retained = keep; // applied to the file's cursors once it opens
    return removed;
  }

  cursor(forwarder: string): number {
    return this.known(forwarder).seq;
  }

  ack(forwarder: string, seq: number): void {
    this.open();
    const c = this.known(forwarder);
    checkSeq(`ack(${JSON.stringify(forwarder)}): seq`, seq);
    if (this.pinned.has(forwarder)) return; // keeps its place for the next run (see attach)
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
    const store = this.store;
    const ageOf = (seq: number): number => {
      const at = store?.st.storedAt.get(seq) as number | undefined;
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

  private idle(): Promise<void> {
    return this.inFlight ? new Promise((r) => this.idleWaiters.push(r)) : Promise.resolve();
  }

  private async closeWorker(): Promise<void> {
    const w = this.worker;
    if (!w) return;
    this.worker = null;
    const done = new Promise<void>((resolve) => {
      w.on('message', (m: WriterReply) => {
        if (m.type === 'closed' && m.warning) {
          this.log.warn({ file: this.file, err: m.warning }, 'buffer: final checkpoint failed (the WAL keeps the data)');
        }
      });
      w.once('exit', () => resolve());
    });
    w.ref();
    w.postMessage({ type: 'close' });
    await done;
  }

  private async shutdown(): Promise<void> {
    clearInterval(this.tickTimer);
    if (this.recovering) await this.recovering;
    // Lost and not re-created yet: the rows are still readable through the open connections.
    if (this.lost !== null && this.store) await this.recover();
    await this.idle();
    this.kick(); // the last appends and cursor moves
    await this.idle();
    const late = this.queue; // appended by an onCommit listener during that last commit, or refused
    this.queue = [];
    for (const p of late) p.reject(new Error(`buffer: ${this.file} is closed`));
    await this.detach();
  }
}
