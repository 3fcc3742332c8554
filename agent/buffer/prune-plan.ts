/**
 * Which rows to delete next. Rows are only ever deleted from the head (oldest seq first), so one
 * prune step is "delete every row with seq <= upTo". A head row goes when every cursor has passed it
 * and it is older than the history window (if there is one), when the kept bytes are above the size
 * limit, or when it is older than the age limit. Delivered rows are always a prefix of the table
 * (every cursor passed them), so under size pressure the rows kept only for history go first,
 * before any undelivered row.
 */

export interface HeadRow {
  seq: number;
  /** Stamp on today's timeline (stored_at corrected for clock steps), ms. */
  at: number;
  /** Topic + payload bytes (UTF-8). */
  bytes: number;
}

export interface PruneLimits {
  /** Rows with seq <= this were delivered (or dropped) for every cursor. */
  deliveredUpTo: number;
  /** Bytes now kept, and the limit (0 = none). */
  bytes: number;
  maxBytes: number;
  /** Rows stamped before this are too old (null = no age limit). */
  ageCutoff: number | null;
  /** Delivered rows stamped at or after this stay for history (null = no history window). */
  historyCutoff?: number | null;
  /** Stop once this many bytes are planned (at least one row goes): keeps one transaction small. */
  maxPlanBytes?: number;
}

export interface PrunePlan {
  /** Delete rows with seq <= upTo (0 rows when upTo < the first row's seq). */
  upTo: number;
  rows: number;
  bytes: number;
  /** Of those, delivered rows still inside the history window (deleted for size or age first). */
  historyDropped: number;
}

/** Walks the head rows (ascending seq, contiguous) and stops at the first row that must stay. */
export function planPrune(head: readonly HeadRow[], limits: PruneLimits): PrunePlan {
  let upTo = -1;
  let rows = 0;
  let bytes = 0;
  let historyDropped = 0;
  const cutoff = limits.historyCutoff ?? null;
  for (const r of head) {
    if (limits.maxPlanBytes !== undefined && rows > 0 && bytes >= limits.maxPlanBytes) break;
    const delivered = r.seq <= limits.deliveredUpTo;
    const inHistory = cutoff !== null && r.at >= cutoff;
    const tooBig = limits.maxBytes > 0 && limits.bytes - bytes > limits.maxBytes;
    const tooOld = limits.ageCutoff !== null && r.at < limits.ageCutoff;
    if (!(delivered && !inHistory) && !tooBig && !tooOld) break;
    if (delivered && inHistory) historyDropped++;
    upTo = r.seq;
    rows++;
    bytes += r.bytes;
  }
  return { upTo, rows, bytes, historyDropped };
}

/**
 * Rows in (firstSeq - 1, upTo] that a cursor at `cursor` had not delivered: with contiguous seqs,
 * that is everything between the cursor (or the head) and upTo.
 */
export function undelivered(cursor: number, firstSeq: number, upTo: number): number {
  return Math.max(0, upTo - Math.max(cursor, firstSeq - 1));
}
