/**
 * The one duration formatter of the CLI and the page: 0.4 s, 12 s, 4 min, 3 min 12 s, 2 h 13 min,
 * 3 d 4 h. The value is rounded to the unit shown last before it is split, so a carry moves up a
 * unit (239.6 s is "4 min", never "3 min 60 s"; 3599.7 s is "1 h").
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, seconds);
  const tenths = Math.round(s * 10);
  if (tenths < 100) return `${tenths / 10} s`;
  const secs = Math.round(s);
  if (secs < 60) return `${secs} s`;
  if (secs < 3600) {
    const m = Math.floor(secs / 60);
    const r = secs % 60;
    return r ? `${m} min ${r} s` : `${m} min`;
  }
  const mins = Math.round(s / 60);
  if (mins < 24 * 60) {
    const h = Math.floor(mins / 60);
    const r = mins % 60;
    return r ? `${h} h ${r} min` : `${h} h`;
  }
  const hours = Math.round(s / 3600);
  const d = Math.floor(hours / 24);
  const r = hours % 24;
  return r ? `${d} d ${r} h` : `${d} d`;
}
