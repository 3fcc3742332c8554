/**
 * The buffer's history (historyHours) on real SQLite files with an injected clock: delivered rows
 * stay for plots, go when older than the window, yield to undelivered rows under maxBytes (counted),
 * and history() downsamples to the same min/max/mean/count as a brute-force pass over the decoded
 * rows (read() + JSON.parse, not the field reader). A version 1 file (TEXT payloads) opens and its
 * rows are still read for forwarding.
 */
import path from 'node:path';
import t from 'tap';
import Database from 'better-sqlite3';
import { HistoryQueryError, MIN_MAX_BYTES } from '../../agent/buffer/index.js';
import type { StoredMessage } from '../../agent/core/plugin.js';
import { computePower } from '../../algorithms/power/index.js';
import { PmuSignal } from '../../drivers/sim-pmu/signal.js';
import { HandClock, open, pruneSettled, tempDir, until } from './harness.js';

const HOUR = 3_600_000;

function pmu(seed: number): PmuSignal {
  return new PmuSignal(
    { nominalVoltage: 230, current: 10, powerFactor: 0.95, unbalancePct: 1, currentUnbalancePct: 2, noisePct: 0.5, frequency: 50, frequencyDrift: 0.05, seed },
    0,
  );
}

/** `n` processed measurements of pmu1, as the pipeline stores them. */
function processed(sig: PmuSignal, from: number, n: number, device = 'pmu1'): { topic: string; payload: string }[] {
  return Array.from({ length: n }, (_, i) => ({
    topic: `bal/processed/${device}`,
    payload: JSON.stringify(computePower(sig.sample(device, (from + i) * 20_000 + 1764000000000000))),
  }));
}

/** Every row, decoded, through read() (the forwarders' path). */
function all(buffer: { read(after: number, limit: number): StoredMessage[] }): StoredMessage[] {
  const out: StoredMessage[] = [];
  for (let after = 0; ; ) {
    const b = buffer.read(after, 1000);
    if (b.length === 0) return out;
    out.push(...b);
    after = b[b.length - 1]!.seq;
  }
}

/** min/max/mean/n per bucket, computed the plain way: JSON.parse of each decoded row. */
function bruteForce(rows: StoredMessage[], topic: string, pick: (m: any) => unknown, from: number, to: number, points: number) {
  const bucketMs = Math.max(1, Math.ceil((to - from + 1) / points));
  const by = new Map<number, number[]>();
  for (const r of rows) {
    if (r.topic !== topic || r.storedAt < from || r.storedAt > to) continue;
    const v = pick(JSON.parse(r.payload));
    if (typeof v !== 'number') continue;
    const b = from + Math.floor((r.storedAt - from) / bucketMs) * bucketMs;
    if (!by.has(b)) by.set(b, []);
    by.get(b)!.push(v);
  }
  const keys = [...by.keys()].sort((a, b) => a - b);
  return {
    bucketMs,
    t: keys,
    min: keys.map((k) => Math.min(...by.get(k)!)),
    max: keys.map((k) => Math.max(...by.get(k)!)),
    mean: keys.map((k) => by.get(k)!.reduce((s, v) => s + v, 0) / by.get(k)!.length),
    n: keys.map((k) => by.get(k)!.length),
  };
}

t.test('delivered rows stay for history, read back downsampled like a brute-force pass; pruned once older than the window', async (t) => {
  const clock = new HandClock();
  const o = open(tempDir('history'), { clock, historyHours: 2 });
  t.teardown(() => o.buffer.close());
  o.buffer.registerCursor('central');
  const sig = pmu(3);
  const start = clock.wall();
  // 40 appends of 50 rows, 3 s apart: 2 000 rows over two minutes.
  for (let k = 0; k < 40; k++) {
    await o.buffer.append(processed(sig, k * 50, 50));
    clock.advance(3_000);
  }
  await o.buffer.append([{ topic: 'bal/processed/pmu1/stats/1m', payload: JSON.stringify({ device: 'pmu1', window: '1m', start: 1, end: 2, count: 3000, fields: { 'p.total': { mean: 7000.5, min: 6000, max: 8000.25, stdev: 1.5, count: 3000, first: 7001, last: 7002 } } }) }]);
  o.buffer.ack('central', o.buffer.lastSeq());
  await pruneSettled(o.counters, 'every row delivered');
  t.equal(o.buffer.stats().rows, 2001, 'every delivered row is still there');
  t.equal(o.buffer.stats().cursors[0]!.lag, 0, 'and none is waiting for the forwarder');

  const rows = all(o.buffer);
  const to = start + 130_000;
  for (const [field, pick] of [
    ['p.total', (m: any) => m.p.total],
    ['v.b.mag', (m: any) => m.v.b.mag],
    ['seq.v.neg.ang', (m: any) => m.seq.v.neg.ang],
    ['freq', (m: any) => m.freq],
  ] as const) {
    for (const points of [7, 600]) {
      const got = await o.buffer.history({ device: 'pmu1', field, fromMs: start, toMs: to, points });
      const want = bruteForce(rows, 'bal/processed/pmu1', pick, start, to, points);
      t.same({ bucketMs: got.bucketMs, t: got.t, min: got.min, max: got.max, n: got.n }, { bucketMs: want.bucketMs, t: want.t, min: want.min, max: want.max, n: want.n }, `${field}, ${points} points: buckets, min, max, count`);
      t.ok(got.mean.every((m, i) => Math.abs(m - want.mean[i]!) <= 1e-9 * Math.abs(want.mean[i]!)), `${field}, ${points} points: mean`);
    }
  }
  const part = await o.buffer.history({ device: 'pmu1', field: 'p.total', fromMs: start + 30_000, toMs: start + 59_999, points: 3 });
  // Appends at +30 s, +33 s, ... +57 s: 4, 3 and 3 of them (50 rows each) in the three 10 s buckets.
  t.same([part.t, part.n], [[start + 30_000, start + 40_000, start + 50_000], [200, 150, 150]], 'a sub-range in three 10 s buckets');
  const stats = await o.buffer.history({ device: 'pmu1', field: 'stats/1m/p.total.max', fromMs: start, toMs: to, points: 1 });
  t.same([stats.max, stats.n], [[8000.25], [1]], 'a statistic of a stats window');
  const none = await o.buffer.history({ device: 'pmu1', field: 'no.such.field', fromMs: start, toMs: to, points: 10 });
  t.same(none.t, [], 'an unknown field has no points');
  t.ok(o.buffer.hasHistory('pmu1'));
  t.notOk(o.buffer.hasHistory('pmu2'));
  await t.rejects(o.buffer.history({ device: 'pmu1', field: 'p..total', fromMs: start, toMs: to, points: 10 }), new HistoryQueryError('field', ''));
  await t.rejects(o.buffer.history({ device: 'pmu1', field: 'p.total', fromMs: to, toMs: start, points: 10 }), new HistoryQueryError('from', ''));
  await t.rejects(o.buffer.history({ device: 'pmu1', field: 'p.total', fromMs: start, toMs: to, points: 5001 }), new HistoryQueryError('points', ''));

  clock.advance(2 * HOUR - 60_000); // the first rows are now older than 2 h, the last ones not
  await until(() => o.buffer.stats().rows < 2001, 'rows past the history window to go');
  await pruneSettled(o.counters, 'the window moved');
  const left = all(o.buffer);
  t.ok(left.length > 0 && left.length < 2001, `${left.length} rows younger than 2 h stay`);
  t.ok(left.every((r) => r.storedAt >= clock.wall() - 2 * HOUR), 'only rows inside the window stay');
  clock.advance(HOUR);
  await until(() => o.buffer.stats().rows === 0, 'every row to go once older than the window');
  t.equal(o.counters.total('history_dropped_rows'), 0, 'rows that aged out are not counted as dropped');
  t.equal(o.counters.total('buffer_dropped'), 0);
});

t.test('under maxBytes, rows kept only for history go first, before any undelivered row (counted)', async (t) => {
  const clock = new HandClock();
  const maxBytes = MIN_MAX_BYTES + 256 * 1024;
  const o = open(tempDir('history-space'), { clock, historyHours: 24, maxBytes });
  t.teardown(() => o.buffer.close());
  o.buffer.registerCursor('central');
  const sig = pmu(5);
  for (let k = 0; k < 3; k++) await o.buffer.append(processed(sig, k * 100, 100)); // about 100 kB
  o.buffer.ack('central', o.buffer.lastSeq());
  const delivered = o.buffer.lastSeq();
  await pruneSettled(o.counters, 'delivered rows kept for history');
  t.equal(o.buffer.stats().rows, delivered, 'all delivered rows stay while there is room');
  // Undelivered rows (the upstream is down) until the space runs out for the history.
  let k = 3;
  while (o.counters.total('history_dropped_rows') === 0 && k < 200) {
    await o.buffer.append(processed(sig, k * 100, 100));
    k++;
  }
  await pruneSettled(o.counters, 'space pressure');
  const s = o.buffer.stats();
  t.ok(o.counters.total('history_dropped_rows') > 0, `history rows dropped for space: ${o.counters.total('history_dropped_rows')}`);
  t.equal(o.counters.total('buffer_dropped'), 0, 'no undelivered row was dropped');
  t.equal(s.cursors[0]!.lag, s.lastSeq - delivered, 'every undelivered row is still there');
  t.ok(s.firstSeq > 1, `the oldest history rows went (first seq ${s.firstSeq})`);
});

t.test('a version 1 file (TEXT payloads) opens, its rows are read for forwarding, new rows are encoded beside them', async (t) => {
  const dir = tempDir('history-v1');
  const old = new Database(path.join(dir, 'buffer.db'));
  old.pragma('journal_mode = WAL');
  old.exec(`
    CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, stored_at INTEGER NOT NULL, topic TEXT NOT NULL, payload TEXT NOT NULL);
    CREATE TABLE cursors (forwarder TEXT PRIMARY KEY, seq INTEGER NOT NULL, dropped INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE clock_steps (seq INTEGER PRIMARY KEY, delta_ms INTEGER NOT NULL);
    PRAGMA user_version = 1;`);
  const sig = pmu(9);
  const legacy = processed(sig, 0, 20);
  const ins = old.prepare(`INSERT INTO messages (stored_at, topic, payload) VALUES (?, ?, ?)`);
  for (const r of legacy) ins.run(Date.UTC(2025, 0, 1), r.topic, r.payload);
  old.prepare(`INSERT INTO cursors (forwarder, seq, dropped) VALUES ('central', 5, 0)`).run();
  old.close();

  const clock = new HandClock();
  const o = open(dir, { clock, historyHours: 24 });
  t.teardown(() => o.buffer.close());
  t.equal(o.buffer.registerCursor('central'), 5, 'the cursor is kept');
  const fresh = processed(sig, 20, 5);
  t.same(await o.buffer.append(fresh), [21, 22, 23, 24, 25], 'seqs continue');
  const rows = all(o.buffer);
  t.same(rows.map((r) => r.payload), [...legacy, ...fresh].map((r) => r.payload), 'old TEXT rows and new encoded rows read back as their texts');
  t.ok(rows.every((r) => r.topic === 'bal/processed/pmu1'));
  t.same(o.buffer.read(5, 100).map((r) => r.seq), Array.from({ length: 20 }, (_, i) => i + 6), 'the forwarder goes on from its cursor');
  await o.buffer.close();
  const db = new Database(path.join(dir, 'buffer.db'), { readonly: true });
  t.equal(db.pragma('user_version', { simple: true }), 2, 'the file is at schema 2');
  t.equal(db.prepare(`SELECT COUNT(*) FROM messages WHERE shape IS NULL`).pluck().get(), 20, 'old rows stay as they were');
  t.equal(db.prepare(`SELECT COUNT(*) FROM messages WHERE typeof(payload) = 'blob'`).pluck().get(), 5, 'new rows are encoded');
  db.close();
});
