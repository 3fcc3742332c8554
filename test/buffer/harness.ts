/** Shared set-up for the buffer tests: temp dirs, a log that keeps its lines, a hand-driven clock. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import Database from 'better-sqlite3';
import { Counters } from '../../agent/core/counters.js';
import { openBuffer, type BufferClock, type BufferOptions, type HistorySource } from '../../agent/buffer/index.js';
import type { MessageBuffer } from '../../agent/core/buffer-types.js';

const made: string[] = [];
process.on('exit', () => {
  for (const d of made) {
    try {
      fs.rmSync(d, { recursive: true, force: true });
    } catch {
      // still mounted or busy: leave it to the test that owns it
    }
  }
});

/** A fresh directory, removed when the test process exits. */
export function tempDir(name: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `gridedge-buffer-${name}-`));
  made.push(d);
  return d;
}

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

/** A pino logger whose JSON lines are kept in `lines`. */
export function keptLog(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { log, lines };
}

/** A clock moved by hand: `advance` is time passing, `step` is someone setting the wall clock. */
export class HandClock implements BufferClock {
  constructor(
    public wallMs = Date.UTC(2025, 0, 1),
    public monoMs = 1_000,
  ) {}
  wall(): number {
    return this.wallMs;
  }
  monotonic(): number {
    return this.monoMs;
  }
  advance(ms: number): void {
    this.wallMs += ms;
    this.monoMs += ms;
  }
  step(ms: number): void {
    this.wallMs += ms;
  }
}

export interface Opened {
  buffer: MessageBuffer & HistorySource;
  counters: Counters;
  lines: LogLine[];
  dir: string;
}

export function open(dir: string, extra: Partial<BufferOptions> = {}): Opened {
  const { log, lines } = keptLog();
  const counters = new Counters();
  const buffer = openBuffer({
    dir,
    maxBytes: 0,
    maxAgeHours: 0,
    commitIntervalMs: 5,
    pruneIntervalMs: 10,
    log,
    counters,
    ...extra,
  });
  return { buffer, counters, lines, dir };
}

/** Polls `cond` until true; the timeout is only a safety net against a hang. */
export async function until(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function rows(n: number, topic = 'bal/processed/pmu1', size = 40): { topic: string; payload: string }[] {
  const out: { topic: string; payload: string }[] = [];
  // The size is in a string value: the buffer's codec keeps string values as they are, so a row
  // takes about `size` bytes stored too (padding outside strings would be folded into the shape).
  for (let i = 0; i < n; i++) {
    const bare = JSON.stringify({ i, pad: '' }).length;
    out.push({ topic, payload: JSON.stringify({ i, pad: 'x'.repeat(Math.max(0, size - bare)) }) });
  }
  return out;
}

/**
 * Waits until pruning has settled: two full prune rounds ran in a row without deleting a row.
 * Counters come from the buffer (`buffer_prune_rounds`, `buffer_pruned`).
 */
export async function pruneSettled(counters: Counters, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const pruned = counters.total('buffer_pruned');
    const rounds = counters.total('buffer_prune_rounds');
    await until(() => counters.total('buffer_prune_rounds') >= rounds + 2, `two prune rounds (${what})`, Math.max(1, end - Date.now()));
    if (counters.total('buffer_pruned') === pruned) return;
    if (Date.now() > end) throw new Error(`timed out waiting for pruning to settle: ${what}`);
  }
}

/** Every row of the buffer in `dir`, decoded, read through a buffer opened for it (and closed again). */
export async function readAll(dir: string): Promise<{ seq: number; topic: string; payload: string }[]> {
  const { buffer } = open(dir, { pruneIntervalMs: 60_000 });
  try {
    const out: { seq: number; topic: string; payload: string }[] = [];
    for (let after = 0; ; ) {
      const batch = buffer.read(after, 1000);
      if (batch.length === 0) return out;
      for (const r of batch) out.push({ seq: r.seq, topic: r.topic, payload: r.payload });
      after = batch[batch.length - 1]!.seq;
    }
  } finally {
    await buffer.close();
  }
}

/**
 * Another connection makes every prune fail (a trigger that aborts a DELETE on messages, standing in
 * for a write error) and holds the write lock, so that the next prune stays in flight, its cursor
 * moves booked in memory, until `release()`.
 */
export function failPrunes(dir: string): { release(): void; heal(): void; close(): void } {
  const other = new Database(path.join(dir, 'buffer.db'));
  other.exec(`CREATE TRIGGER fail_prune BEFORE DELETE ON messages BEGIN SELECT RAISE(ABORT, 'injected prune failure'); END`);
  other.exec('BEGIN IMMEDIATE');
  return {
    release: () => other.exec('COMMIT'),
    heal: () => other.exec('DROP TRIGGER fail_prune'),
    close: () => other.close(),
  };
}
