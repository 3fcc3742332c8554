/**
 * The seq floor: `<dir>/buffer.seq`, kept outside the database so that a database that is deleted,
 * replaced or corrupt never makes a seq be issued twice.
 *
 * The writer reserves seqs in blocks: before a transaction would issue a seq above the reserved mark,
 * it writes a new mark (last seq + rows + SEQ_BLOCK) and fdatasyncs it, and only then commits. So the
 * durable mark is always >= every seq ever committed. A fresh database (the old one was missing or
 * moved aside) starts its numbering above the mark.
 *
 * The file holds two 64-byte records, at offsets 0 and 4096 (two pages, written alternately and in
 * place, so a full disk never stops a write and a torn write leaves the other record readable). Each
 * record is `gridedge-seq <mark> <hash>`; a record whose hash does not match is ignored.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';

export const SEQ_FILE = 'buffer.seq';
/** Seqs reserved ahead by one write of the mark (one fdatasync per this many rows). */
export const SEQ_BLOCK = 10_000;

const RECORD = 64;
const SLOTS = [0, 4096];

function hash(mark: number): string {
  return createHash('sha256').update(`gridedge-seq ${mark}`).digest('hex').slice(0, 12);
}

function record(mark: number): Buffer {
  return Buffer.from(`gridedge-seq ${mark} ${hash(mark)}`.padEnd(RECORD - 1, ' ') + '\n', 'latin1');
}

function parse(b: Buffer): number | null {
  const m = /^gridedge-seq (\d{1,16}) ([0-9a-f]{12}) *\n$/.exec(b.toString('latin1'));
  if (!m) return null;
  const mark = Number(m[1]);
  return Number.isSafeInteger(mark) && hash(mark) === m[2] ? mark : null;
}

/** The highest valid mark in the file; null when the file is missing or holds no valid record. */
export function readSeqFloor(file: string): number | null {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    let best: number | null = null;
    for (const at of SLOTS) {
      const b = Buffer.alloc(RECORD);
      if (fs.readSync(fd, b, 0, RECORD, at) !== RECORD) continue;
      const mark = parse(b);
      if (mark !== null) best = Math.max(best ?? 0, mark);
    }
    return best;
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes marks (used by the writer thread only). */
export class SeqFloorWriter {
  private fd: number | null = null;
  private slot = 0;

  constructor(
    private readonly file: string,
    /** The mark known to be durable (null: none yet). */
    public mark: number | null,
  ) {}

  /** Makes `mark` durable (fdatasync) before returning; throws the fs error (ENOSPC ...) otherwise. */
  write(mark: number): void {
    if (this.fd === null) {
      const exists = fs.existsSync(this.file);
      this.fd = fs.openSync(this.file, exists ? 'r+' : 'w+');
      if (!exists) {
        // Both pages allocated once, so later writes are in place and need no free space.
        const empty = Buffer.alloc(SLOTS[1]! + RECORD, 0x20);
        fs.writeSync(this.fd, empty, 0, empty.length, 0);
      }
    }
    const b = record(mark);
    fs.writeSync(this.fd, b, 0, b.length, SLOTS[this.slot]!);
    fs.fdatasyncSync(this.fd);
    this.slot = 1 - this.slot;
    this.mark = mark;
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}
