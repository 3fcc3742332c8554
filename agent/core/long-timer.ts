/**
 * setTimeout for delays longer than Node's timers take: a delay above 2^31 - 1 ms (about 24.8
 * days) makes Node print a TimeoutOverflowWarning and fire after 1 ms. `setLongTimeout` waits in
 * steps of at most `MAX_TIMER_MS` on the monotonic clock and calls `fn` once the whole delay has
 * passed. The timers are unref'd (they never keep the process alive).
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LongTimer {
  clear(): void;
}

export function setLongTimeout(fn: () => void, ms: number, maxStepMs = MAX_TIMER_MS): LongTimer {
  const due = performance.now() + Math.max(0, ms);
  let timer: NodeJS.Timeout | undefined;
  let cleared = false;
  const arm = (): void => {
    const left = due - performance.now();
    if (left <= 0) {
      fn();
      return;
    }
    timer = setTimeout(() => {
      if (!cleared) arm();
    }, Math.min(Math.ceil(left), maxStepMs));
    timer.unref();
  };
  arm();
  return {
    clear() {
      cleared = true;
      clearTimeout(timer);
    },
  };
}
