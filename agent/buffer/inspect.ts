/**
 * Reading a buffer file from outside a running buffer (tests, diagnostics): every row with its topic
 * and its payload text, encoded rows decoded (codec.ts). Opens the file read-only and closes it again.
 */
import Database from 'better-sqlite3';
import { decode, Shape } from './codec.js';

export interface FileRow {
  seq: number;
  storedAt: number;
  topic: string;
  payload: string;
}

/** Every row of `file` (a buffer.db, schema 1 or 2) in seq order, as the forwarders would read it. */
export function readBufferFile(file: string): FileRow[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const cols = db.prepare(`SELECT name FROM pragma_table_info('messages')`).pluck().all() as string[];
    const hasShapes = cols.includes('shape');
    const shapes = new Map<number, Shape>();
    if (hasShapes) {
      for (const r of db.prepare(`SELECT id, topic, template, ref FROM shapes`).all() as { id: number; topic: string; template: string; ref: Buffer }[]) {
        shapes.set(r.id, new Shape(r.id, r.topic, r.template, r.ref));
      }
    }
    const rows = db
      .prepare(`SELECT seq, stored_at, topic, payload, ${hasShapes ? 'shape' : 'NULL'} FROM messages ORDER BY seq`)
      .raw()
      .all() as [number, number, string, string | Buffer, number | null][];
    return rows.map(([seq, storedAt, topic, payload, id]) => {
      if (id === null) return { seq, storedAt, topic, payload: String(payload) };
      const shape = shapes.get(id);
      if (!shape) throw new Error(`buffer: ${file}: row ${seq} names shape ${id}, which is missing`);
      return { seq, storedAt, topic: shape.topic, payload: decode(shape, payload as Buffer) };
    });
  } finally {
    db.close();
  }
}
