/**
 * Wall-clock steps, so that age limits measure real age.
 *
 * `stored_at` is the wall clock at commit. When the wall clock steps (an RTC-less box that booted in
 * 1970 and then got NTP, an operator setting the date), rows stamped before the step are on another
 * timeline than rows stamped after it. Rewriting their stamps would rewrite the whole table, so a
 * step is recorded instead: "rows with seq <= S were stamped on a clock that later moved by D ms".
 * A row's stamp on today's timeline is `stored_at + (sum of D over steps with S >= its seq)`.
 *
 * A step is seen as a change of (wall - monotonic) larger than `thresholdMs` between two writes;
 * slow NTP slewing stays below it and is simply followed.
 */
import type { BufferClock } from './options.js';

export interface ClockStep {
  /** Rows with seq <= this were stamped before the step. */
  seq: number;
  /** How far the wall clock moved (ms, negative when it went back). */
  deltaMs: number;
}

export class ClockSteps {
  /** Ascending by seq, at most one per seq. */
  private steps: ClockStep[];
  private offset: number;

  constructor(
    private readonly clock: BufferClock,
    private readonly thresholdMs: number,
    steps: readonly ClockStep[],
  ) {
    this.steps = [...steps].sort((a, b) => a.seq - b.seq);
    this.offset = clock.wall() - clock.monotonic();
  }

  /** Every step still recorded (ascending by seq). */
  list(): readonly ClockStep[] {
    return this.steps;
  }

  /**
   * Reads the wall clock for a write transaction. Returns the time to stamp rows with, and the
   * step (if the clock stepped since the last write) to record with the rows up to `lastSeq`.
   * Nothing changes until `accept` is called (after the transaction committed).
   */
  observe(lastSeq: number): { now: number; offset: number; step: ClockStep | null } {
    const now = this.clock.wall();
    const offset = now - this.clock.monotonic();
    const moved = offset - this.offset;
    const step = Math.abs(moved) > this.thresholdMs ? { seq: lastSeq, deltaMs: Math.round(moved) } : null;
    return { now, offset, step };
  }

  /** Takes in what `observe` saw, once the transaction that recorded its step committed. */
  accept(seen: { offset: number; step: ClockStep | null }): void {
    this.offset = seen.offset;
    if (seen.step) this.add(seen.step);
  }

  /** Records a step found some other way (at open: newest row stamped in the future). */
  add(step: ClockStep): void {
    const same = this.steps.find((s) => s.seq === step.seq);
    if (same) same.deltaMs += step.deltaMs;
    else this.steps.push({ ...step });
    this.steps.sort((a, b) => a.seq - b.seq);
  }

  /** What to add to the stamp of row `seq` to put it on today's timeline. */
  correction(seq: number): number {
    let c = 0;
    for (let i = this.steps.length - 1; i >= 0; i--) {
      const s = this.steps[i]!;
      if (s.seq < seq) break;
      c += s.deltaMs;
    }
    return c;
  }

  /** Steps that only concern rows below `firstSeq` (all pruned) are dropped; returns their seqs. */
  forgetBelow(firstSeq: number): number[] {
    const gone = this.steps.filter((s) => s.seq < firstSeq).map((s) => s.seq);
    if (gone.length > 0) this.steps = this.steps.filter((s) => s.seq >= firstSeq);
    return gone;
  }
}
