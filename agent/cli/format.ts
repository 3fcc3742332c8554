/** Small human-readable renderings for terminal output. */
import { fileErrorWords } from '../../algorithms/common/file-error.js';
import { formatDuration } from '../core/duration-text.js';

/** 12,345; `?` for anything that is not a finite number (a field an agent of another version lacks). */
export function count(n: number): string {
  return typeof n === 'number' && Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '?';
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

/**
 * Characters a terminal may act on (C0 controls, DEL, C1 controls such as CSI) as JSON-style escapes,
 * so that text from a peer (a payload, a device's quality reasons, an error message) cannot move the
 * cursor, recolour or clear the technician's screen.
 */
export function escapeControls(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

/**
 * A copy of a document from a peer with every string fit for one line of a terminal: line breaks
 * (and the blanks around them) become one space, other controls are escaped (`escapeControls`).
 */
export function printable<T>(v: T): T {
  if (typeof v === 'string') return escapeControls(v.replace(/\s*[\r\n]+\s*/g, ' ')) as T;
  if (Array.isArray(v)) return v.map((x) => printable(x)) as T;
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, printable(x)])) as T;
  return v;
}

/** A value as indented JSON for a terminal: JSON.stringify leaves DEL and C1 controls raw; they are escaped too (still valid JSON, same value). */
export function jsonText(v: unknown): string {
  return `${JSON.stringify(v, null, 2).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}\n`;
}

/**
 * Columns a string takes on a terminal: East Asian wide and fullwidth characters (CJK, Hangul, most
 * emoji) take two, combining marks and zero-width characters none, everything else one.
 */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (/[\p{Mn}\p{Me}\p{Cf}]/u.test(ch)) continue;
    const wide =
      (c >= 0x1100 && c <= 0x115f) ||
      (c >= 0x2e80 && c <= 0xa4cf && c !== 0x303f) ||
      (c >= 0xac00 && c <= 0xd7a3) ||
      (c >= 0xf900 && c <= 0xfaff) ||
      (c >= 0xfe30 && c <= 0xfe4f) ||
      (c >= 0xff00 && c <= 0xff60) ||
      (c >= 0xffe0 && c <= 0xffe6) ||
      (c >= 0x1f300 && c <= 0x1f64f) ||
      (c >= 0x1f900 && c <= 0x1f9ff) ||
      (c >= 0x20000 && c <= 0x3fffd);
    w += wide ? 2 : 1;
  }
  return w;
}

/** Why a file named on the command line could not be read, in words with the system code: `no such file (ENOENT)`. */
export function fileErrorText(e: unknown): string {
  return fileErrorWords(e, CLI_WORDS);
}
/** At a terminal, the way out of a permission error. */
const CLI_WORDS = { EACCES: 'permission denied (run as a user who may read it, or with sudo)' };

/** Align columns: every row padded to the widest cell of each column as a terminal shows it (last column unpadded). */
export function columns(rows: readonly (readonly string[])[], indent = '  '): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, k) => (widths[k] = Math.max(widths[k] ?? 0, displayWidth(c))));
  return rows.map((r) => indent + r.map((c, k) => (k === r.length - 1 ? c : c + ' '.repeat(widths[k]! - displayWidth(c)))).join('  ').trimEnd());
}

/** A single line: no newlines, at most `max` characters. */
export function oneLine(s: string, max = 100): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 3)}...` : t;
}

export { unsent } from '../core/buffer-unsent.js';
