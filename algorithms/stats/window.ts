/** Window lengths and their epoch-aligned boundaries, in integer microseconds. */
import { parseDuration } from '../common/duration.js';

/**
 * "10s", "1m", "10min", "1h", "500ms" → length in microseconds.
 * Throws naming the bad value when it is not a positive duration of whole microseconds.
 */
export function parseWindow(s: string): number {
  const ms = typeof s === 'string' ? parseDuration(s) : null;
  if (ms === null)
    throw new RangeError(`window ${JSON.stringify(s)}: must be a duration such as "10s", "1m", "10min" or "1h"`);
  const us = ms * 1000;
  if (!Number.isSafeInteger(us))
    throw new RangeError(`window ${JSON.stringify(s)}: must be a whole number of microseconds, got ${us} µs`);
  return us;
}

/** Start of the window of length `len` µs holding `ts`: windows are [k·len, (k+1)·len) from the epoch. */
export function windowStart(ts: number, len: number): number {
  const r = ts % len; // exact for integers (no division rounding), negative for ts < 0
  return ts - (r < 0 ? r + len : r);
}
