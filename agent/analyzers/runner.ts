/**
 * Runs one analyzer: on its interval and/or after new measurements of the devices it watches.
 * Runs never overlap: a trigger during a run sets a flag and one more run follows it. Each run's
 * results go through the data path (`publish`); a run that throws or rejects is counted
 * (`analyzer_errors{analyzer}`) and logged, and the next trigger runs it again.
 */
import type { Measurement } from '../../algorithms/common/measurement.js';
import type { Counters } from '../core/counters.js';
import type { Analyzer, DerivedMessage, Logger } from '../core/plugin.js';

export interface AnalyzerRunnerDeps {
  latest(): ReadonlyMap<string, Measurement>;
  publish(msgs: readonly DerivedMessage[]): Promise<void>;
  counters: Counters;
  log: Logger;
  /** Wall clock in ms, for the runs' `nowMicros` (tests inject their own). */
  now?: () => number;
  /** Monotonic clock in ms, for `minIntervalMs` between runs (default `performance.now`; a wall-clock step must not delay a run). */
  monotonic?: () => number;
}

export class AnalyzerRunner {
  private timer: NodeJS.Timeout | undefined;
  private changeTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private lastRunAt = -Infinity;
  private readonly watched: ReadonlySet<string>;
  private readonly now: () => number;
  private readonly monotonic: () => number;

  constructor(
    readonly id: string,
    private readonly analyzer: Analyzer,
    private readonly deps: AnalyzerRunnerDeps,
  ) {
    this.watched = new Set(analyzer.trigger.onChange ?? []);
    this.now = deps.now ?? Date.now;
    this.monotonic = deps.monotonic ?? (() => performance.now());
  }

  /** Begin triggering (after the analyzer's own start succeeded). */
  start(): void {
    const every = this.analyzer.trigger.intervalMs;
    if (every && every > 0) this.timer = setInterval(() => this.trigger(), every);
  }

  /** A new processed measurement of `device`: run soon when the analyzer watches it. */
  changed(device: string): void {
    if (this.stopped || !this.watched.has(device) || this.changeTimer) return;
    const min = this.analyzer.trigger.minIntervalMs ?? 100;
    const wait = Math.max(0, this.lastRunAt + min - this.monotonic());
    this.changeTimer = setTimeout(() => {
      this.changeTimer = undefined;
      this.trigger();
    }, wait);
  }

  /** Run now, or right after the run in flight. Resolves when the run it caused has finished. */
  trigger(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.runOnce().finally(() => {
      this.running = null;
      if (this.again && !this.stopped) {
        this.again = false;
        void this.trigger();
      }
    });
    return this.running;
  }

  private async runOnce(): Promise<void> {
    this.lastRunAt = this.monotonic();
    const all = this.deps.latest();
    const latest = new Map<string, Measurement>();
    for (const d of this.analyzer.devices) {
      const m = all.get(d);
      if (m) latest.set(d, m);
    }
    try {
      const out = await this.analyzer.analyze({ latest, nowMicros: this.now() * 1000 });
      this.deps.counters.inc('analyzer_runs', { analyzer: this.id });
      if (out.length) await this.deps.publish(out);
    } catch (err) {
      this.deps.counters.inc('analyzer_errors', { analyzer: this.id });
      this.deps.log.error({ err: (err as Error).message }, 'analyzer run failed');
    }
  }

  /** No new runs; waits for the run in flight (until `deadline`), then stops the analyzer. */
  async stop(deadline: AbortSignal): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.changeTimer) clearTimeout(this.changeTimer);
    if (this.running) {
      const aborted = new Promise<void>((resolve) => {
        if (deadline.aborted) resolve();
        else deadline.addEventListener('abort', () => resolve(), { once: true });
      });
      await Promise.race([this.running, aborted]);
    }
    await this.analyzer.stop?.(deadline);
  }
}
