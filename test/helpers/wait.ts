/**
 * Waiting in tests: on an event, on a promise, or on a condition over counters or collected
 * messages. Every wait has a deadline and fails with a message naming what did not happen (and,
 * for conditions, the last state seen), so a hung peer shows up as "timed out after 30000 ms
 * waiting for 500 messages upstream (have 312)" and not as tap's file timeout.
 * Tests never sleep for a fixed time and then assert: they wait for the thing itself.
 */
import { once, type EventEmitter } from 'node:events';

export const DEFAULT_TIMEOUT_MS = 30_000;

/** Anything with node-style `on`/`off` (EventEmitter, streams, child processes, mqtt.js clients). */
export interface Emitter {
  on(event: string, listener: () => void): unknown;
  off(event: string, listener: () => void): unknown;
}

export class WaitTimeout extends Error {
  override name = 'WaitTimeout';
}

export interface WaitOptions {
  /** Give up after this long (default 30 s). */
  timeoutMs?: number;
  /**
   * Re-check this often (default 10 ms when no `on` events are given; with events, only on the
   * events unless this is set).
   */
  intervalMs?: number;
  /** Re-check whenever one of these emitters emits the named event. */
  on?: [Emitter, string][];
  /** Appended to the timeout message: the state that was still not right. */
  detail?: () => string;
  /**
   * Treat a `check` that throws or rejects as "not yet" (for probes of a peer that is still coming
   * up); the last error goes into the timeout message. Default: the error fails the wait at once.
   */
  retryErrors?: boolean;
}

type Maybe<T> = T | undefined | null | false;

/**
 * Resolves with the first value of `check()` that is not undefined, null or false. `check` runs at
 * once, then on each `on` event and/or every `intervalMs`, never two at a time. A `check` that throws
 * or rejects fails the wait at once with that error (unless `retryErrors`). After `timeoutMs` the wait rejects with
 * `WaitTimeout("timed out after N ms waiting for WHAT (DETAIL)")`.
 */
export function waitFor<T>(what: string, check: () => Maybe<T> | Promise<Maybe<T>>, opts: WaitOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const events = opts.on ?? [];
  const intervalMs = opts.intervalMs ?? (events.length ? 0 : 10);
  return new Promise<T>((resolve, reject) => {
    let done = false;
    let running = false;
    let again = false;
    let poll: NodeJS.Timeout | undefined;
    let lastError = '';
    const finish = (err: Error | null, value?: T): void => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      if (poll) clearInterval(poll);
      for (const [em, ev] of events) em.off(ev, run);
      if (err) reject(err);
      else resolve(value as T);
    };
    const run = (): void => {
      if (done) return;
      if (running) {
        again = true; // re-check once the current check settles
        return;
      }
      running = true;
      let result: Maybe<T> | Promise<Maybe<T>>;
      try {
        result = check();
      } catch (err) {
        result = Promise.reject(err);
      }
      void Promise.resolve(result).then(
        (v) => {
          running = false;
          if (v !== undefined && v !== null && v !== false) finish(null, v);
          else if (again) {
            again = false;
            run();
          }
        },
        (err: unknown) => {
          running = false;
          if (!opts.retryErrors) return finish(err instanceof Error ? err : new Error(String(err)));
          lastError = err instanceof Error ? err.message : String(err);
          if (again) {
            again = false;
            run();
          }
        },
      );
    };
    const deadline = setTimeout(() => {
      let detail = '';
      try {
        detail = opts.detail ? ` (${opts.detail()})` : '';
      } catch (err) {
        detail = ` (detail failed: ${(err as Error).message})`;
      }
      const last = lastError ? ` (last error: ${lastError})` : '';
      finish(new WaitTimeout(`timed out after ${timeoutMs} ms waiting for ${what}${detail}${last}`));
    }, timeoutMs);
    for (const [em, ev] of events) em.on(ev, run);
    if (intervalMs > 0) poll = setInterval(run, intervalMs);
    run();
  });
}

/**
 * The arguments of the next `event` from `emitter` (node's `events.once`: an 'error' event rejects
 * the wait). Rejects with a WaitTimeout naming `what` after `timeoutMs` (default 30 s).
 */
export async function onceWithTimeout<T extends unknown[] = unknown[]>(
  emitter: EventEmitter,
  event: string,
  what: string,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<T> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    return (await once(emitter, event, { signal: ac.signal })) as T;
  } catch (err) {
    if (ac.signal.aborted) throw new WaitTimeout(`timed out after ${timeoutMs} ms waiting for ${what} (no '${event}' event)`);
    throw new Error(`${what}: ${(err as Error).message}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}

/** `promise`'s outcome, or a WaitTimeout naming `what` after `timeoutMs` (default 30 s). */
export async function withTimeout<T>(promise: Promise<T>, what: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new WaitTimeout(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
