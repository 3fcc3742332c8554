/** Small human-readable renderings for terminal output. */
import { formatDuration } from '../core/duration-text.js';

export function count(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : String(n);
}

/** 0.4 s, 12 s, 3 min 12 s, 2 h 13 min, 3 d 4 h (the agent's one formatter). */
export const duration = formatDuration;

/** Time since a wall-clock millisecond timestamp. */
export function ago(ms: number | undefined, now: number): string {
  return ms === undefined ? 'never' : `${duration((now - ms) / 1000)} ago`;
}

export function bytes(n: number): string {
  if (!Number.isFinite(n)) return '?';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let k = 0;
  while (v >= 1024 && k < units.length - 1) {
    v /= 1024;
    k++;
  }
  return k === 0 ? `${v} B` : `${v.toFixed(1)} ${units[k]}`;
}

/** Align columns: every row padded to the widest cell of each column (last column unpadded). */
export function columns(rows: readonly (readonly string[])[], indent = '  '): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, k) => (widths[k] = Math.max(widths[k] ?? 0, c.length)));
  return rows.map((r) => indent + r.map((c, k) => (k === r.length - 1 ? c : c.padEnd(widths[k]!))).join('  ').trimEnd());
}

/** A single line: no newlines, at most `max` characters. */
export function oneLine(s: string, max = 100): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 3)}...` : t;
}

export { unsent } from '../core/buffer-unsent.js';
