/**
 * A clock that moves only when the test says (the scheduler's `Clock`): `advanceTo(t)` fires, in
 * order of due time, every timer due by `t`, each with the clock set to its due time. A timer set
 * for a time already reached fires on the next event-loop turn (as a real timer of 0 ms would).
 */
import type { Clock } from '../../agent/services/scheduler/clock.js';

interface Timer {
  due: number;
  seq: number;
  fn: () => void;
}

export class ManualClock implements Clock {
  private timers: Timer[] = [];
  private seq = 0;

  constructor(private t: number) {}

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const timer: Timer = { due: this.t + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(timer);
    if (timer.due <= this.t) setImmediate(() => this.fireDue());
    return timer;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((x) => x !== handle);
  }

  /** Timers not fired yet. */
  get pending(): number {
    return this.timers.length;
  }

  advanceTo(t: number): void {
    for (;;) {
      const next = this.timers.filter((x) => x.due <= t).sort((a, b) => a.due - b.due || a.seq - b.seq)[0];
      if (!next) break;
      this.timers = this.timers.filter((x) => x !== next);
      this.t = Math.max(this.t, next.due);
      next.fn();
    }
    this.t = Math.max(this.t, t);
  }

  private fireDue(): void {
    this.advanceTo(this.t);
  }
}
