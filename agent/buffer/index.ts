/** The store-and-forward buffer: `openBuffer` opens (or creates) `<dir>/buffer.db`. See README.md. */
import type { MessageBuffer } from '../core/buffer-types.js';
import { openDatabase } from './open-db.js';
import { resolveOptions, type BufferOptions } from './options.js';
import { SqliteBuffer } from './sqlite-buffer.js';

export type { BufferOptions, BufferClock } from './options.js';
export { BufferWriteError } from './sqlite-buffer.js';

/**
 * Opens the buffer. Throws (with the path and the reason) only when the directory or a fresh file
 * cannot be created; a corrupt file is moved aside and replaced.
 */
export function openBuffer(opts: BufferOptions): MessageBuffer {
  const o = resolveOptions(opts);
  const { db, file } = openDatabase(o.dir, o.log, o.counters, () => o.clock.wall());
  try {
    return new SqliteBuffer(db, file, o);
  } catch (err) {
    db.close();
    throw err;
  }
}
