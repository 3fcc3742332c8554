/**
 * The store-and-forward buffer on one SQLite file.
 *
 * Writes go to a worker thread (writer-worker.ts) one transaction at a time, so fsync never blocks
 * the main event loop; reads, stats and all the deciding (what to commit, what to prune) stay here on
 * a second connection (WAL lets it read while the worker writes).
 *
 * - Group commit: `append` queues rows. When no transaction is in flight, the queue is sent after
 *   `commitIntervalMs` (at once when `maxBatchRows` are queued); while one is in flight, everything
 *   queued meanwhile goes in the next one as soon as it returns. A transaction also carries cursor
 *   moves and, when due, one prune batch. Appends resolve only after it committed (synchronous=FULL:
 *   durable once resolved); then `onCommit` listeners get the rows.
 * - Pruning, every `pruneIntervalMs`, at most `pruneBatchRows` rows per transaction, deletes from the
 *   head only, so seqs in the table stay contiguous (first..last).
 * - Write failures (disk full, I/O error) reject the appends of that transaction, set
 *   `stats().writeError`, are logged once and counted; the next transaction is the retry.
 */
import type { BufferStats, CursorStats, MessageBuffer, NewMessage } from '../core/buffer-types.js';
import type { Counters } from '../core/counters.js';
import type { Logger, StoredMessage } from '../core/plugin.js';
import { ClockSteps, type ClockStep } from './clock-steps.js';
import type { Db } from './open-db.js';
import type { ResolvedOptions } from './options.js';
import type { WriteJob, WriterReply } from './writer-protocol.js';
import { planPrune, undelivered, type HeadRow, type PrunePlan } from './prune-plan.js';
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
  private pruneDue = false;

  private worker: Worker | null = null;
  private inFlight: InFlight | null = null;
  private jobId = 0;
  private idleWaiters: (() => void)[] = [];

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
    /** The main thread's connection: reads only (the worker writes). */
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

    this.pruneTimer = setInterval(() => {
      this.pruneDue = true;
      this.kick();
    }, o.pruneIntervalMs);
    this.pruneTimer.unref();
  }

  private prepare() {
    const db = this.db;
    return {
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
      saveStep: db.prepare(
        `INSERT INTO clock_steps (seq, delta_ms) VALUES (?, ?)
           ON CONFLICT (seq) DO UPDATE SET delta_ms = delta_ms + excluded.delta_ms`,
      ),
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
      this.st.saveStep.run(step.seq, step.deltaMs); // before the worker exists: no other writer yet
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
      if (this.inFlight) return; // goes with the next transaction, as soon as this one returns
      if (this.queuedRows >= this.o.maxBatchRows) {
        this.commitNow ??= setImmediate(() => this.kick());
      } else {
        this.commitTimer ??= setTimeout(() => this.kick(), this.o.commitIntervalMs);
      }
    });
  }

  /** Sends the next transaction to the writer, if none is in flight and there is anything to write. */
  private kick(): void {
    if (this.commitTimer) clearTimeout(this.commitTimer);
    if (this.commitNow) clearImmediate(this.commitNow);
    this.commitTimer = null;
    this.commitNow = null;
    if (this.inFlight) return; // its reply kicks again

    const seen = this.steps.observe(this.last);
    let plan: PrunePlan | null = null;
    let behind = false;
    if (this.pruneDue && !this.closed) {
      this.pruneDue = false;
      const p = this.planPrune(seen);
      if (p.plan.rows > 0) plan = p.plan;
      behind = p.behind;
    }
    // Whole appends, up to maxBatchRows rows: a short transaction and a small message to the worker.
    let take = 0;
    let taken = 0;
    while (take < this.queue.length && (take === 0 || taken < this.o.maxBatchRows)) {
      taken += this.queue[take]!.rows.length;
      take++;
    }
    if (take === 0 && plan === null && !seen.step && !this.cursorsDirty()) {
      this.steps.accept(seen); // nothing to write: just follow the clock's slow drift
      return;
    }
    const batch = take === this.queue.length ? this.queue : this.queue.slice(0, take);
    this.queue = take === this.queue.length ? [] : this.queue.slice(take);
    this.queuedRows -= taken;

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
    };
    this.inFlight = { job, appends: batch, seen, plan, drops, behind };
    const w = this.writer();
    w.ref(); // a transaction in flight keeps the process alive
    w.postMessage(job);
  }

  /** What the next prune batch deletes (read on this thread's connection; rows only go from the head). */
  private planPrune(seen: Seen): { plan: PrunePlan; behind: boolean } {
    const none = { plan: { upTo: -1, rows: 0, bytes: 0 }, behind: false };
    if (this.first > this.last) return none;
    const correction = (seq: number): number =>
      this.steps.correction(seq) + (seen.step && seq <= seen.step.seq ? seen.step.deltaMs : 0);
    const ageCutoff = this.o.maxAgeHours > 0 ? seen.now - this.o.maxAgeHours * 3_600_000 : null;
    // With no cursor at all, rows wait (within the limits) for a forwarder registered `fromStart`.
    let deliveredUpTo = this.cursors.size > 0 ? this.last : 0;
    for (const c of this.cursors.values()) deliveredUpTo = Math.min(deliveredUpTo, c.seq);
    const oldest = (this.st.storedAt.get(this.first) as number) + correction(this.first);
    const worth =
      deliveredUpTo >= this.first ||
      (this.o.maxBytes > 0 && this.bytes > this.o.maxBytes) ||
      (ageCutoff !== null && oldest < ageCutoff);
    if (!worth) return none;
    const head = (this.st.head.all(this.first, this.o.pruneBatchRows) as [number, number, number][]).map(
      ([seq, at, bytes]): HeadRow => ({ seq, at: at + correction(seq), bytes }),
    );
    const plan = planPrune(head, { deliveredUpTo, bytes: this.bytes, maxBytes: this.o.maxBytes, ageCutoff });
    return { plan, behind: plan.rows === head.length && head.length === this.o.pruneBatchRows };
  }

  private writer(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./writer-worker.js', import.meta.url), { workerData: { file: this.file } });
    w.on('message', (m: WriterReply) => this.onReply(m));
    w.on('error', (err) => this.log.error({ err: describe(err).text }, 'buffer: the writer thread failed'));
    w.on('exit', (code) => {
      if (this.worker !== w) return;
      this.worker = null;
      if (this.inFlight) {
        this.finish(this.inFlight, { ok: false, code: 'EWORKER', message: `writer thread exited (code ${code})` });
      }
    });
    this.worker = w;
    return w;
  }

  private onReply(m: WriterReply): void {
    if (m.type === 'fatal') {
      this.log.error({ file: this.file, err: `${m.code}: ${m.message}` }, 'buffer: the writer thread cannot open the database');
      return; // its exit fails the transaction in flight
    }
    if (m.type !== 'done' && m.type !== 'failed') return;
    const f = this.inFlight;
    if (!f || f.job.id !== m.id) return;
    this.finish(f, m.type === 'done' ? { ok: true, seqs: m.seqs } : { ok: false, code: m.code, message: m.message });
  }

  /** Books a transaction's outcome, resolves or rejects its appends, and sends the next one. */
  private finish(
    f: InFlight,
    r: { ok: true; seqs: number[] } | { ok: false; code: string; message: string },
  ): void {
    this.inFlight = null;
    this.worker?.unref();
    if (r.ok) {
      this.succeeded(f);
      this.committedRows(f.appends, r.seqs, f.job.now);
    } else {
      for (const d of f.drops) {
        if (d.c.seq === f.plan!.upTo) d.c.seq = d.was; // unless an ack moved it since
        d.c.dropped -= d.n;
      }
      const err = this.writeFailed(r.code, r.message);
      for (const p of f.appends) p.reject(err);
    }
    if (this.queue.length > 0 || (r.ok && this.pruneDue)) this.kick();
    if (!this.inFlight) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private succeeded(f: InFlight): void {
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
      for (const d of f.drops) this.counters.inc('buffer_dropped', { forwarder: d.name }, d.n);
      if (f.behind) this.pruneDue = true;
    }
    if (this.writeError !== undefined) {
      this.log.info({ file: this.file, failedWrites: this.failedWrites }, 'buffer: writes succeed again');
      this.writeError = undefined;
      this.failedWrites = 0;
    }
  }

  private committedRows(batch: readonly PendingAppend[], seqs: readonly number[], storedAt: number): void {
    if (seqs.length === 0) return;
    let k = 0;
    const per: number[][] = new Array<number[]>(batch.length);
    for (let b = 0; b < batch.length; b++) {
      const rows = batch[b]!.rows;
      per[b] = seqs.slice(k, k + rows.length);
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i]!;
        this.bytes += Buffer.byteLength(r.topic) + Buffer.byteLength(r.payload);
      }
      k += rows.length;
    }
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

  private writeFailed(code: string, message: string): BufferWriteError {
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

  private idle(): Promise<void> {
    return this.inFlight ? new Promise((r) => this.idleWaiters.push(r)) : Promise.resolve();
  }

  private async shutdown(): Promise<void> {
    clearInterval(this.pruneTimer);
    await this.idle();
    this.kick(); // the last appends and cursor moves
    await this.idle();
    const late = this.queue; // appended by an onCommit listener during that last commit
    this.queue = [];
    for (const p of late) p.reject(new Error(`buffer: ${this.file} is closed`));
    const w = this.worker;
    if (w) {
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
    this.db.close();
  }
}
