/**
 * The forwarder runner: one per configured forwarder. It owns the forwarder's buffer cursor,
 * reconnects with backoff, sends live rows first while the backlog drains in order at a bounded
 * rate, and advances the cursor only over rows the peer acknowledged (or refused for good).
 *
 * Model (see README.md "How the runner works"):
 * - `live`: routed rows handed over by `buffer.onCommit` (connected or not), in seq order, sent as
 *   soon as the link is up; at most `liveMax`, the newest.
 * - `backlog`: ranges of sequence numbers still to be read from the buffer and sent, in order, at
 *   most `backlogMaxRate` rows/s. At start it is (cursor, lastSeq]; rows not acknowledged, the live
 *   rows of a lost connection, and the oldest live rows when the live queue overflows (upstream
 *   slower than the input, or down) join it — the buffer still has them all.
 * - the persistent cursor is the contiguous low-water mark: every row at or below it was
 *   delivered, refused, or is not routed to this forwarder. Rows delivered live above it are sent
 *   again after a crash (at least once; receivers drop duplicates by `seq`).
 *
 * Up to `forwarder.maxInFlight` `send` calls are in flight at once (pipelining; 1 when the forwarder
 * does not say). Each batch is the live rows first, then backlog rows up to `batchSize` as the rate
 * limiter allows; a row is in at most one batch in flight.
 */
import type { CursorStats, MessageBuffer } from '../core/buffer-types.js';
import type { Forwarder, Logger, PluginContext, SendResult, StoredMessage } from '../core/plugin.js';
import type { ForwarderStatus } from '../core/status-types.js';
import { Backoff, sleep } from './backoff.js';
import { ForwardError, PartialSendError } from './errors.js';
import { RateLimiter } from '../core/rate-limiter.js';
import { SeqRanges } from './seq-ranges.js';
import { RefusedTopics } from './refused-topics.js';
import { LogLimiter } from '../core/log-limiter.js';
import { DEFAULT_RUNNER_OPTIONS, runnerOptions, type RunnerOptions } from './options.js';

export interface ForwarderRunnerInit {
  /** The forwarder's id (config `id`): names its cursor and labels its counters. */
  id: string;
  /** The forwarder's type (config `type`), shown in status. */
  type: string;
  forwarder: Forwarder;
  buffer: MessageBuffer;
  /** The forwarder's validated config slice: the runner keys (batchSize, backlogMaxRate, reconnect*) are read from it. */
  config?: Readonly<Record<string, unknown>>;
  /** Explicit runner options (tests); they win over `config`. */
  options?: Partial<RunnerOptions>;
}

interface Batch {
  rows: StoredMessage[];
  live: StoredMessage[];
  backlog: StoredMessage[];
}

/** Add the seqs of `rows` (ascending) to `to`, one range per run of consecutive seqs. */
function addRuns(to: SeqRanges, rows: readonly StoredMessage[]): void {
  let lo = -1;
  let hi = -1;
  for (const r of rows) {
    if (r.seq === hi + 1) hi = r.seq;
    else {
      if (lo >= 0) to.add(lo, hi);
      lo = hi = r.seq;
    }
  }
  if (lo >= 0) to.add(lo, hi);
}

const ROUTE_CACHE_MAX = 4096;
/**
 * Some brokers refuse a publish by closing the connection (MQTT 3.1.1 §3.3.5 allows it). After a
 * send failed that way the runner sends one row at a time; a row that loses the connection this
 * many times in a row, each time on a fresh connection, is refused for good.
 */
const POISON_STRIKES = 3;

export class ForwarderRunner {
  readonly id: string;
  readonly type: string;
  private readonly forwarder: Forwarder;
  private readonly buffer: MessageBuffer;
  private readonly opts: RunnerOptions;
  private readonly backoff: Backoff;
  private readonly limiter: RateLimiter;
  private readonly liveMax: number;

  private ctx: PluginContext | undefined;
  private log: Logger | undefined;
  private readonly stopCtl = new AbortController();
  private loopDone: Promise<void> | undefined;
  private unsubscribe: (() => void) | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private stopped: Promise<void> | undefined;
  /** Aborted when any caller's stop deadline aborts. */
  private readonly stopDeadline = new AbortController();

  private readonly live: StoredMessage[] = [];
  private readonly backlog = new SeqRanges();
  /**
   * The rows the last `skipPruned` discarded (the buffer had moved the cursor past them for a prune).
   * Only the last skip's: one prune transaction is in flight at a time, so when the cursor moves
   * past held rows again, the prune before has committed. If the prune fails instead, the buffer
   * moves the cursor back (`restartFrom`) and these rows go to the backlog: they are still there.
   */
  private readonly discarded = new SeqRanges();
  /** Highest seq this runner has accounted for (in live, in the backlog, sent, or skipped). */
  private seen = 0;
  /** Lowest seq of each batch being sent. */
  private readonly inflight = new Map<Promise<void>, number>();
  /** Set by a failed send: the loop waits for the other sends, then backs off. */
  private failed = false;
  private readonly window: number;
  private acked = 0;
  private linkUp = false;
  private connectedAt = 0;
  private lastSuccess: number | undefined;
  private lastError: string | undefined;
  /** Wall-clock ms when `lastError` was set. */
  private lastErrorAt: number | undefined;
  private lastLogged = { message: '', at: 0 };
  private sentTotal = 0;
  private readonly rateSamples: { t: number; total: number }[] = [];
  private readonly routeCache = new Map<string, string | null>();
  private probing = false;
  private strikes = { seq: 0, n: 0 };
  /** Upstream topics refused for good (not authorized): their rows are skipped for a while. */
  private readonly refusedTopics: RefusedTopics;
  /** At most 10 lines a minute about refused topics and rows. */
  private readonly refusalLog = new LogLimiter(10);

  constructor(init: ForwarderRunnerInit) {
    this.id = init.id;
    this.type = init.type;
    this.forwarder = init.forwarder;
    this.buffer = init.buffer;
    this.opts = { ...DEFAULT_RUNNER_OPTIONS, ...runnerOptions(init.config ?? {}), ...init.options };
    this.opts.reconnectMaxMs = Math.max(this.opts.reconnectMaxMs, this.opts.reconnectMinMs);
    this.backoff = new Backoff(this.opts.reconnectMinMs, this.opts.reconnectMaxMs);
    this.limiter = new RateLimiter(this.opts.backlogMaxRate, Math.max(1, this.opts.batchSize));
    this.liveMax = Math.max(1000, this.opts.batchSize * 4);
    this.window = Math.max(1, Math.min(16, Math.floor(this.forwarder.maxInFlight ?? 1)));
    this.refusedTopics = new RefusedTopics(this.opts.refusedTopicHoldS * 1000);
  }

  /** Register the cursor, subscribe to new rows and start sending. Returns at once (never waits for the peer). */
  start(ctx: PluginContext): void {
    if (this.ctx) throw new Error(`forwarder ${this.id}: start() called twice`);
    this.ctx = ctx;
    this.log = ctx.log;
    const c = ctx.counters;
    c.inc('forward_sent', { forwarder: this.id }, 0);
    c.inc('forward_rejected', { forwarder: this.id }, 0);

    // Cursor, last seq and subscription in one synchronous step, so no commit falls in between.
    // A new cursor starts at the last committed row, or before the oldest one held (`startFrom: oldest`).
    this.acked = this.buffer.registerCursor(this.id, this.opts.startFrom === 'oldest', (seq) => this.restartFrom(seq));
    this.seen = Math.max(this.acked, this.buffer.lastSeq());
    if (this.seen > this.acked) this.backlog.add(this.acked + 1, this.seen);
    this.unsubscribe = this.buffer.onCommit((rows) => this.onCommit(rows));

    ctx.signal.addEventListener('abort', () => void this.stop(), { once: true });
    this.ticker = setInterval(() => this.tick(), 1000);
    this.ticker.unref();
    this.loopDone = this.loop().catch((e: unknown) => {
      this.log?.error({ err: e }, `forwarder ${this.id}: runner loop failed`);
    });
  }

  /**
   * Stop: wait for the sends in flight to settle (at most `stopTimeoutMs`, and never past
   * `deadline`), record the cursor, close the connection (dropped at once once `deadline` aborted).
   * Rows in flight that were not acknowledged stay above the cursor and are sent again after a
   * restart. Call it before closing the buffer. Called again, it returns the first call's promise.
   */
  stop(deadline?: AbortSignal): Promise<void> {
    // The first call may come from the agent's stop signal, without a deadline; a later call's
    // deadline still applies to the stop in progress.
    if (deadline) {
      if (deadline.aborted) this.stopDeadline.abort();
      else deadline.addEventListener('abort', () => this.stopDeadline.abort(), { once: true });
    }
    this.stopped ??= this.doStop(this.stopDeadline.signal);
    return this.stopped;
  }

  private async doStop(deadline: AbortSignal): Promise<void> {
    this.stopCtl.abort();
    this.wake?.();
    this.unsubscribe?.();
    if (this.ticker) clearInterval(this.ticker);
    const aborted = new Promise<void>((resolve) => {
      if (deadline.aborted) resolve();
      else deadline.addEventListener('abort', () => resolve(), { once: true });
    });
    if (this.loopDone) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        this.loopDone.then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), this.opts.stopTimeoutMs))),
        aborted.then(() => true),
      ]);
      clearTimeout(timer);
      if (timedOut) this.log?.warn(`forwarder ${this.id}: sends still in flight at the stop deadline; closing`);
    }
    try {
      await this.forwarder.close(deadline);
    } catch (e) {
      this.log?.warn({ err: e }, `forwarder ${this.id}: close failed`);
    }
    // close() rejects the sends in flight, so the loop ends promptly; do not wait past the deadline.
    if (this.loopDone) await Promise.race([this.loopDone, aborted]);
    this.linkUp = false;
    try {
      this.advanceCursor();
    } catch (e) {
      this.log?.warn(`forwarder ${this.id}: cursor not recorded at stop: ${(e as Error).message}`);
    }
  }

  status(): ForwarderStatus {
    let stats: CursorStats | undefined;
    try {
      stats = this.buffer.stats().cursors.find((c) => c.forwarder === this.id);
    } catch {
      stats = undefined; // buffer closed: report what the runner knows
    }
    const s: ForwarderStatus = {
      id: this.id,
      type: this.type,
      connected: this.linkUp && this.forwarder.connected(),
      lag: stats?.lag ?? Math.max(0, this.seen - this.acked),
      lagSeconds: stats?.lagSeconds ?? 0,
      drainRate: this.drainRate(),
      dropped: stats?.dropped ?? 0,
    };
    if (this.lastSuccess !== undefined) s.lastSuccess = this.lastSuccess;
    if (this.lastError !== undefined) s.lastError = this.lastError;
    if (this.lastErrorAt !== undefined) s.lastErrorAt = this.lastErrorAt;
    const refused = this.refusedTopics.list();
    if (refused.length) s.refusedTopics = refused;
    return s;
  }

  /** The persistent cursor this runner last acknowledged to the buffer. */
  get cursor(): number {
    return this.acked;
  }

  private get stopping(): boolean {
    return this.stopCtl.signal.aborted;
  }

  /** Whether this forwarder sends rows of this topic upstream. */
  routes(topic: string): boolean {
    return this.route(topic) !== null;
  }

  private route(topic: string): string | null {
    let r = this.routeCache.get(topic);
    if (r === undefined) {
      r = this.forwarder.route(topic);
      if (this.routeCache.size >= ROUTE_CACHE_MAX) this.routeCache.clear();
      this.routeCache.set(topic, r);
    }
    return r;
  }

  private onCommit(rows: readonly StoredMessage[]): void {
    let added = false;
    for (const row of rows) {
      if (row.seq <= this.seen) continue;
      this.seen = row.seq;
      // Rows committed while the link is down are live too: the newest `liveMax` go first once it is
      // back (older ones move to the backlog below), so fresh data never waits for a whole drain.
      // Rows of a refused topic too: nextBatch skips and counts them, once (so the live queue holds
      // every routed row after its first, and the seqs between its rows are rows not routed here).
      const to = this.route(row.topic);
      if (to === null) continue;
      this.live.push(to === row.topic ? row : { ...row, topic: to });
      added = true;
    }
    if (this.live.length > this.liveMax) {
      // Upstream slower than the input: the oldest live rows go back to the backlog (the buffer has them).
      this.demoteLive(this.live.length - this.liveMax / 2);
    }
    if (added) this.wake?.();
    else this.advanceCursor();
  }

  /**
   * The buffer moved this forwarder's cursor back to `seq`. Two cases:
   * - A prune that had moved the cursor past rows not delivered yet failed to commit: those rows are
   *   still in the buffer. The ones `skipPruned` discarded meanwhile go to the backlog (the others
   *   are still held, in flight or delivered), and the cursor is acknowledged again from `seq` on, at
   *   once up to the first row still pending (a prune that failed after this runner had delivered
   *   the rows again leaves nothing to send, and the buffer's cursor is moved back to where it was).
   * - The database opened only after this runner started (a full disk at start) and holds a cursor
   *   for it at `seq`: every row after it that is not already live goes to the backlog, sent in
   *   order like any backlog. Nothing was read before (there was no database), so nothing is in
   *   flight.
   */
  private restartFrom(seq: number): void {
    if (this.stopping) return;
    this.acked = Math.min(this.acked, seq);
    for (const [lo, hi] of this.discarded.toArray()) if (hi > seq) this.backlog.add(Math.max(lo, seq + 1), hi);
    this.discarded.clear();
    const last = this.buffer.lastSeq();
    if (last > this.seen) {
      // Rows this runner never saw: the database opened late.
      const hi = this.live.length ? this.live[0]!.seq - 1 : last;
      if (hi > seq) this.backlog.add(Math.max(seq, this.seen) + 1, hi);
      this.seen = last;
      this.log?.warn({ forwarder: this.id, from: seq + 1, to: hi }, `forwarder ${this.id}: the buffer opened late; sending the rows it held for this forwarder`);
    }
    // Rows delivered since (acknowledged upstream before the buffer moved the cursor back) are not
    // sent again: acknowledge up to the first row still pending here, which may be past `seq`.
    this.advanceCursor();
    this.wake?.();
  }

  /**
   * Move the oldest `n` live rows (all by default) to the backlog, as one range: the rows between
   * them are not routed here (onCommit keeps every routed row, refused topics included), so reading
   * them back skips them without counting anything twice.
   */
  private demoteLive(n = this.live.length): void {
    if (n <= 0 || this.live.length === 0) return;
    const moved = this.live.splice(0, n);
    this.backlog.add(moved[0]!.seq, moved[moved.length - 1]!.seq);
  }

  private async loop(): Promise<void> {
    const signal = this.stopCtl.signal;
    while (!this.stopping) {
      if (this.failed) {
        // A send failed: let the others settle, then wait before trying again.
        await this.settle();
        this.failed = false;
        if (this.stopping) break;
        await sleep(this.backoff.next(), signal);
        continue;
      }
      if (!this.linkUp || !this.forwarder.connected()) {
        await this.settle();
        if (this.stopping) break;
        if (this.linkUp) {
          this.linkUp = false;
          this.demoteLive();
          this.fail(new ForwardError('closed', 'connection lost'));
          await sleep(this.backoff.next(), signal);
          continue;
        }
        try {
          await this.forwarder.connect(this.ctx!);
          if (this.stopping) break;
          this.linkUp = true;
          this.connectedAt = performance.now();
          this.log?.info(`forwarder ${this.id}: connected`);
        } catch (e) {
          if (this.stopping) break;
          this.fail(e);
          await sleep(this.backoff.next(), signal);
          continue;
        }
      }
      // Live rows never wait for a free slot: they get one more (the window is for the backlog).
      const room = this.probing ? 1 : this.window;
      const batch =
        this.inflight.size < room
          ? this.nextBatch(false)
          : !this.probing && this.live.length && this.inflight.size < room + 1
            ? this.nextBatch(true)
            : null;
      if (batch) {
        this.launch(batch);
        continue;
      }
      await this.idle();
    }
    await this.settle();
  }

  /** Start sending a batch; it removes itself from `inflight` when done. */
  private launch(batch: Batch): void {
    let min = Infinity;
    for (const r of batch.rows) if (r.seq < min) min = r.seq;
    const p: Promise<void> = this.send(batch)
      .catch((e: unknown) => {
        this.log?.error({ err: e }, `forwarder ${this.id}: send bookkeeping failed`);
        this.failed = true;
      })
      .finally(() => {
        this.inflight.delete(p);
        this.advanceCursor();
        this.wake?.();
      });
    this.inflight.set(p, min);
  }

  /** Wait until no send is in flight. */
  private async settle(): Promise<void> {
    while (this.inflight.size) await Promise.allSettled([...this.inflight.keys()]);
  }

  /** Wait for new live rows, a finished send, rate tokens, a periodic check, or stop. */
  private idle(): Promise<void> {
    let ms = 1000;
    if (!this.backlog.empty && this.inflight.size < this.window) ms = Math.min(ms, Math.max(1, this.limiter.waitMs(1)));
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
      if (this.stopping) done();
    });
  }

  /**
   * The buffer moves this forwarder's cursor past the rows it prunes before they were delivered
   * (size or age limit) and counts them in `buffer_dropped`: rows at or below that cursor still held
   * here (live queue, backlog ranges) are discarded, so a row counted as dropped is never sent after.
   * (Rows already in flight when the prune was planned may still arrive.)
   */
  private skipPruned(): void {
    let floor: number;
    try {
      floor = this.buffer.cursor(this.id);
    } catch {
      return; // no cursor (buffer closed or not open): nothing to compare with
    }
    if (floor <= this.acked) return;
    this.acked = floor;
    // A new prune: the one before committed (or was undone, which cleared the list).
    this.discarded.clear();
    let n = 0;
    while (n < this.live.length && this.live[n]!.seq <= floor) n++;
    if (n) addRuns(this.discarded, this.live.splice(0, n));
    for (let r = this.backlog.first(); r && r[0] <= floor; r = this.backlog.first()) {
      this.discarded.add(r[0], Math.min(r[1], floor));
      this.backlog.consumeThrough(floor);
    }
  }

  private nextBatch(liveOnly: boolean): Batch | null {
    this.skipPruned();
    // Probing (after the link dropped during a send): one row at a time, oldest first.
    const size = this.probing ? 1 : this.opts.batchSize;
    const want = this.probing && !this.backlog.empty ? 0 : size;
    // Up to `want` live rows from the head; rows of a refused topic on the way are skipped and counted.
    const live: StoredMessage[] = [];
    let skipped = 0;
    let taken = 0;
    while (taken < this.live.length && live.length < want) {
      const r = this.live[taken++]!;
      if (this.refusedTopics.size && this.refusedTopics.has(r.topic)) skipped++;
      else live.push(r);
    }
    if (taken) this.live.splice(0, taken);
    const backlog: StoredMessage[] = [];
    let backlogReadHi = 0;
    let room = liveOnly ? 0 : Math.min(size - live.length, this.limiter.available());
    // A bounded scan per batch: a long run of rows not routed to us is skipped in steps (8 reads of
    // `room` rows), and many small ranges (the rows a failed send put back) take a read each.
    let scanned = 0;
    for (let reads = 0; room > 0 && reads < size + 8 && scanned < 8 * size; reads++) {
      const range = this.backlog.first();
      if (!range) break;
      const rows = this.buffer.read(range[0] - 1, room, range[1]);
      scanned += Math.max(1, rows.length);
      if (rows.length < room) this.backlog.consumeThrough(range[1]);
      else this.backlog.consumeThrough(rows[rows.length - 1]!.seq);
      if (rows.length) backlogReadHi = Math.max(backlogReadHi, rows[rows.length - 1]!.seq);
      else backlogReadHi = Math.max(backlogReadHi, Math.min(range[1], this.seen));
      for (const row of rows) {
        const to = this.route(row.topic);
        if (to === null) continue;
        if (this.refusedTopics.size && this.refusedTopics.has(to)) {
          skipped++;
          continue;
        }
        backlog.push(to === row.topic ? row : { ...row, topic: to });
        room--;
      }
    }
    this.countSkipped(skipped);
    this.limiter.take(backlog.length);
    if (live.length === 0 && backlog.length === 0) {
      if (backlogReadHi || skipped) this.advanceCursor();
      return null;
    }
    return { rows: live.concat(backlog), live, backlog };
  }

  private async send(batch: Batch): Promise<void> {
    let result: SendResult;
    let failure: unknown = null;
    try {
      result = await this.forwarder.send(batch.rows);
    } catch (e) {
      failure = e;
      result = e instanceof PartialSendError ? { delivered: [...e.delivered], rejected: [...e.rejected] } : { delivered: [], rejected: [] };
    }
    const counters = this.ctx!.counters;
    const done = new Set<number>(result.delivered);
    for (const r of result.rejected) {
      done.add(r.seq);
      // One line per refused row at most 10 times a minute (the counter has them all).
      const d = this.refusalLog.take('row');
      if (d.ok) this.log?.warn({ seq: r.seq, suppressed: d.suppressed }, `forwarder ${this.id}: row ${r.seq} refused by the peer: ${r.reason}${d.suppressed ? ` (${d.suppressed} more refusal line(s) suppressed in the last minute)` : ''}`);
      if (r.topicRefused) this.refuseTopic(batch.rows.find((row) => row.seq === r.seq)?.topic, r.reason);
    }
    if (result.delivered.length) {
      counters.inc('forward_sent', { forwarder: this.id }, result.delivered.length);
      this.sentTotal += result.delivered.length;
      this.lastSuccess = Date.now();
    }
    if (result.rejected.length) {
      counters.inc('forward_rejected', { forwarder: this.id }, result.rejected.length);
      this.setError(`peer refused ${result.rejected.length} row(s): ${result.rejected[0]!.reason}`);
    }
    // A row the upstream answers by closing the connection, again and again, is refused for good.
    const dropped = failure !== null && !this.forwarder.connected() && !this.stopping;
    let poisoned = '';
    if (dropped && batch.rows.length === 1 && !done.has(batch.rows[0]!.seq)) {
      const seq = batch.rows[0]!.seq;
      this.strikes = this.strikes.seq === seq ? { seq, n: this.strikes.n + 1 } : { seq, n: 1 };
      if (this.strikes.n >= POISON_STRIKES) {
        done.add(seq);
        counters.inc('forward_rejected', { forwarder: this.id });
        const why = `upstream closed the connection on row ${seq} (${batch.rows[0]!.topic}) ${POISON_STRIKES} times: skipped`;
        this.log?.warn(`forwarder ${this.id}: ${why}`);
        poisoned = why;
        this.strikes = { seq: 0, n: 0 };
      }
    }
    if (dropped) this.probing = true;
    else if (failure === null) {
      this.probing = false;
      this.strikes = { seq: 0, n: 0 };
    }
    // What was not acknowledged goes (back) to the backlog: re-sent in order after the backoff. Only
    // those rows, by runs of consecutive seqs (at most one range per row of the batch): a range from
    // the first to the last of them would also take in the rows between, refused (counted, and sent
    // or skipped and counted again), delivered, in another batch in flight, or skipped as of a
    // refused topic (counted again when read back).
    const liveLeft = batch.live.filter((r) => !done.has(r.seq));
    const backlogLeft = batch.backlog.filter((r) => !done.has(r.seq));
    addRuns(this.backlog, liveLeft);
    addRuns(this.backlog, backlogLeft);
    if (failure !== null && !this.forwarder.connected()) {
      this.linkUp = false;
      this.demoteLive();
    }

    if (failure === null && (liveLeft.length || backlogLeft.length))
      failure = new ForwardError('error', `peer acknowledged ${done.size} of ${batch.rows.length} rows`);
    if (failure !== null && !this.stopping) {
      // Sends in flight together fail together: count the first failure of a round only.
      if (!this.failed) this.fail(failure);
      if (poisoned) this.setError(poisoned);
      this.failed = true;
    } else if (result.delivered.length) this.backoff.reset();
  }

  /**
   * The peer refused every row of `topic` (not authorized): skip its rows for `refusedTopicHoldS`,
   * then try the topic again.
   */
  private refuseTopic(topic: string | undefined, reason: string): void {
    if (topic === undefined || !this.refusedTopics.refuse(topic)) return;
    const hold = this.opts.refusedTopicHoldS;
    this.setError(`upstream refuses topic ${topic} (${reason}); its rows are skipped for ${hold} s`);
    const d = this.refusalLog.take('topic');
    if (d.ok)
      this.log?.warn(
        { topic, suppressed: d.suppressed },
        `forwarder ${this.id}: upstream refuses topic ${topic} (${reason}): its rows are skipped, counted in forward_rejected, for ${hold} s, then the topic is tried again`,
      );
  }

  /** Count rows skipped because their topic is refused (not logged one by one). */
  private countSkipped(n: number): void {
    if (n > 0) this.ctx!.counters.inc('forward_rejected', { forwarder: this.id }, n);
  }

  /**
   * Remember the last problem and when it happened. It stays after the forwarder recovers (as the
   * drivers' lastError does): `lastErrorAt` against `lastSuccess` and `connected` says whether it is
   * still current.
   */
  private setError(message: string): void {
    this.lastError = message;
    this.lastErrorAt = Date.now();
  }

  /** Count, remember and (without flooding the log) report a failure. */
  private fail(e: unknown): void {
    const err = e instanceof ForwardError ? e : new ForwardError('error', e instanceof Error ? e.message : String(e));
    const counters = this.ctx!.counters;
    counters.inc('forward_errors', { forwarder: this.id, reason: err.reason });
    counters.inc('forward_retries', { forwarder: this.id });
    this.setError(err.message);
    const now = Date.now();
    if (err.message !== this.lastLogged.message || now - this.lastLogged.at > 60_000) {
      this.lastLogged = { message: err.message, at: now };
      this.log?.warn({ reason: err.reason }, `forwarder ${this.id}: ${err.message} (retrying with backoff)`);
    }
  }

  /** Acknowledge the contiguous low-water mark to the buffer when it moved. */
  private advanceCursor(): void {
    let pending = Math.min(this.backlog.min(), this.live[0]?.seq ?? Infinity, this.seen + 1);
    for (const min of this.inflight.values()) pending = Math.min(pending, min);
    const cursor = pending - 1;
    if (cursor > this.acked) {
      this.acked = cursor;
      this.buffer.ack(this.id, cursor);
    }
  }

  private tick(): void {
    const t = performance.now();
    this.rateSamples.push({ t, total: this.sentTotal });
    while (this.rateSamples.length > 11) this.rateSamples.shift();
    // Stayed up a while: forget earlier failures so the next outage starts with short delays.
    if (this.linkUp && performance.now() - this.connectedAt > this.opts.reconnectMaxMs) this.backoff.reset();
    if (this.linkUp && !this.forwarder.connected()) this.wake?.();
  }

  private drainRate(): number {
    const s = this.rateSamples;
    if (s.length < 2) return 0;
    const a = s[0]!;
    const b = s[s.length - 1]!;
    return b.t > a.t ? Math.round(((b.total - a.total) * 1000) / (b.t - a.t)) : 0;
  }
}
