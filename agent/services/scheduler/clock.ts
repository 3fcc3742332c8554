import { setLongTimeout, type LongTimer } from '../../core/long-timer.js';

/**
 * The time source of the scheduler's near-real-time loop. The service reads the wall clock and sets
 * its timers only through a `Clock`, so tests drive the loop with a clock of their own (no sleeps).
 */
export interface Clock {
  /** Wall-clock milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds of this clock; returns a handle for `clearTimeout`. */
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * The real clock: Date.now and Node's timers. A delay beyond one Node timer's range (2^31 - 1 ms,
 * about 24.8 days: a job_start weeks ahead) is waited in steps (agent/core/long-timer.ts); a single
 * timer would fire after 1 ms. The timers are unref'd: they never keep the process alive by themselves.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setLongTimeout(fn, Math.max(1, ms)), // at least 1 ms: never calls `fn` before returning
  clearTimeout: (h) => (h as LongTimer).clear(),
};
