/** The store-and-forward buffer: `openBuffer` opens (or creates) `<dir>/buffer.db`. See README.md. */
import fs from 'node:fs';
import type { MessageBuffer } from '../core/buffer-types.js';
import type { HistorySource } from './history.js';
import { resolveOptions, type BufferOptions } from './options.js';
import { spaceBudget } from './space.js';
import { SqliteBuffer } from './sqlite-buffer.js';

export type { BufferOptions, BufferClock } from './options.js';
export {
  HISTORY_MAX_MS,
  HISTORY_STATISTICS,
  HISTORY_POINTS_DEFAULT,
  HISTORY_POINTS_MAX,
  HistoryQueryError,
  type HistoryQuery,
  type HistorySeries,
  type HistorySource,
} from './history.js';
export { BufferWriteError } from './sqlite-buffer.js';
export { MIN_MAX_BYTES, spaceBudget, type SpaceBudget } from './space.js';
export { readBufferFile, type FileRow } from './inspect.js';

/** Size of the filesystem holding `dir` (or its nearest existing parent); 0 when unknown. */
function filesystemBytes(dir: string): number {
  let d = dir;
  for (let i = 0; i < 64; i++) {
    try {
      const s = fs.statfsSync(d);
      return s.blocks * s.bsize;
    } catch {
      const up = d.replace(/\/[^/]*\/?$/, '');
      if (up === d || up === '') return 0;
      d = up;
    }
  }
  return 0;
}

/**
 * Opens the buffer. Throws (with the path and the reason) on bad options and when the directory or
 * the file cannot be used for a reason other than space (permissions, a directory in the way); a
 * corrupt file is moved aside and replaced. A full disk or an I/O error does not throw: the buffer
 * starts degraded (`stats().writeError`, appends refused) and tries again every `pruneIntervalMs`.
 */
export function openBuffer(opts: BufferOptions): MessageBuffer & HistorySource {
  const o = resolveOptions(opts);
  const buffer = new SqliteBuffer(o, spaceBudget(o.maxBytes, filesystemBytes(o.dir)));
  buffer.start();
  return buffer;
}
