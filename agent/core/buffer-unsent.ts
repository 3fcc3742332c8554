/**
 * What the buffer still has to send: the rows above the slowest forwarder's cursor and the age of
 * the oldest of them; null with no forwarder. The other rows were delivered everywhere and stay as
 * local history (storage.historyHours), so the buffer's own row count and oldest age include them.
 * Pure (the CLI and the live page in the browser both use it).
 */
export interface Unsent {
  rows: number;
  ageSeconds: number;
}

export function unsent(b: { cursors: readonly { lag: number; lagSeconds: number }[] }): Unsent | null {
  if (b.cursors.length === 0) return null;
  let rows = 0;
  let ageSeconds = 0;
  for (const c of b.cursors) {
    rows = Math.max(rows, c.lag);
    ageSeconds = Math.max(ageSeconds, c.lagSeconds);
  }
  return { rows, ageSeconds };
}
