/**
 * How `maxBytes` is split between the buffer's files, so that it bounds the space they really take:
 * `buffer.db` + `buffer.db-wal` + `buffer.db-shm` + the space reserve (`buffer.reserve`) + the seq
 * floor (`buffer.seq`). See README.md "Disk space".
 */

export const PAGE_BYTES = 4096;
const KiB = 1024;
const MiB = 1024 * KiB;

/** The shared-memory index of a WAL of at most 4 MiB (4096 frames of 8 bytes + header), rounded up. */
export const SHM_BYTES = 32 * KiB;
/** Two 4 KiB slots (seq-floor.ts). */
export const SEQ_FILE_BYTES = 8 * KiB;
/** Pages of an empty database (header page, tables, the cursors index); never pruned. */
export const BASE_PAGES = 8;
/** The pages a database uses (`usedPages` of payloadLimit): what the writer reports after each commit, and the main thread asks before any. */
export const USED_PAGES_SQL = `SELECT page_count - freelist_count FROM pragma_page_count, pragma_freelist_count`;
/** The smallest database part, file-system allowance included (see fsBlocks): a few pages of rows. */
const MIN_DATA_BYTES = 64 * KiB;
/** Extents one ext4 index block holds; the inode itself holds 4. */
const EXTENTS_PER_BLOCK = 340;

/**
 * Blocks the file system may take for its own bookkeeping of a file of `blocks` data blocks, on
 * top of them (`du` counts them, `ls -l` does not): on ext4, a file in more than 4 pieces (extents)
 * needs an index block per 340 extents, and an index of more than 4 blocks one more level. A file
 * written piece by piece over months, as the database and the WAL are, can have as many extents as
 * blocks: measured, a 23-page database in 5 extents took 24 blocks.
 */
export function fsBlocks(blocks: number): number {
  let extra = 0;
  for (let n = blocks; n > 4; ) {
    n = Math.ceil(n / EXTENTS_PER_BLOCK);
    extra += n;
  }
  return extra;
}

export interface SpaceBudget {
  /** The configured bound (0: no bound on the data; the WAL, shm and reserve are bounded anyway). */
  maxBytes: number;
  /** The WAL stays below about this size. */
  walBytes: number;
  /** SQLite checkpoints the WAL once it reaches this size (`wal_autocheckpoint`) and then reuses it from its start. */
  checkpointAtBytes: number;
  /** Payload bytes one transaction takes at most (whole appends: one larger append still goes alone). */
  txnBytes: number;
  /** Payload bytes one prune transaction deletes at most. */
  pruneBytes: number;
  /** Size of the space reserve file. */
  reserveBytes: number;
  /** Free space (beyond the reserve) needed before the reserve is re-created after the disk filled. */
  freeMarginBytes: number;
  /** The WAL, shared memory, reserve and seq file parts together. */
  overheadBytes: number;
  /**
   * What is left for buffer.db itself, in whole pages, less the file system's blocks for the
   * database and the WAL (`fsBlocks`) (Infinity when maxBytes is 0).
   */
  dataBytes: number;
}

const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));
const toPages = (v: number): number => Math.floor(v / PAGE_BYTES) * PAGE_BYTES;

/**
 * Overhead (everything but buffer.db) for a bound, and the data part that is left. With no bound
 * (maxBytes 0), the WAL and the reserve are sized from the filesystem (`fsBytes`, 1/8 of it).
 */
function split(maxBytes: number, fsBytes = 0): Omit<SpaceBudget, 'maxBytes'> {
  const scale = maxBytes > 0 ? maxBytes : fsBytes > 0 ? fsBytes : 32 * MiB;
  const walBytes = toPages(clamp(Math.floor(scale / 8), 64 * KiB, 4 * MiB));
  const reserveBytes = walBytes / 2 + 64 * KiB;
  const overhead = walBytes + SHM_BYTES + reserveBytes + SEQ_FILE_BYTES;
  // The database part: whole pages (the file grows by pages), less the blocks the file system may
  // need to keep track of the database and the WAL (both grow piece by piece; the shared memory, the
  // reserve and the seq file are written whole, at once).
  let dataBytes = Number.POSITIVE_INFINITY;
  if (maxBytes > 0) {
    const part = toPages(Math.max(0, maxBytes - overhead));
    dataBytes = part - (fsBlocks(part / PAGE_BYTES) + fsBlocks(walBytes / PAGE_BYTES)) * PAGE_BYTES;
  }
  return {
    walBytes,
    checkpointAtBytes: walBytes / 4,
    txnBytes: walBytes / 4,
    pruneBytes: walBytes / 4,
    reserveBytes,
    freeMarginBytes: walBytes + SHM_BYTES,
    overheadBytes: overhead,
    dataBytes,
  };
}

/** The smallest `maxBytes` (other than 0) that leaves room for some rows. */
export const MIN_MAX_BYTES = split(1).overheadBytes + MIN_DATA_BYTES; // the overhead at its floor

/** `fsBytes`: size of the filesystem holding the buffer (0 when unknown), used when maxBytes is 0. */
export function spaceBudget(maxBytes: number, fsBytes = 0): SpaceBudget {
  return { maxBytes, ...split(maxBytes, fsBytes) };
}

/**
 * The payload-byte limit that keeps buffer.db's used pages within the data part, given what the rows
 * take now: `usedPages` (page_count - freelist_count) for `payloadBytes` of topic + payload. Rows cost
 * more than their payload (row header, cell pointers, page slack); the measured ratio says how much.
 * 10 % is kept free for the pages one transaction adds before the next prune.
 */
export function payloadLimit(budget: SpaceBudget, usedPages: number, payloadBytes: number): number {
  if (!Number.isFinite(budget.dataBytes)) return 0; // 0 = unlimited
  const rowPageBytes = Math.max(0, usedPages - BASE_PAGES) * PAGE_BYTES;
  const ratio = payloadBytes >= 16 * KiB ? Math.max(1, rowPageBytes / payloadBytes) : 1.5;
  const room = Math.max(PAGE_BYTES, budget.dataBytes - BASE_PAGES * PAGE_BYTES);
  return Math.max(1, Math.floor((room * 0.9) / ratio));
}
