/**
 * Buffer benchmark: insert rate with synchronous=FULL group commit, append latency and event-loop
 * delay at 5 000 msg/s, the group-commit rate with 20 appends in flight, database bytes per message,
 * read rate and prune rate; then, on real pipeline
 * output (sim-pmu processed by power): bytes per measurement with 40 PMUs and the upstream down,
 * the codec's encode/decode cost per row beside JSON.parse of the same rows, and a history read of
 * one hour of a 50 Hz PMU (180 000 rows) into 600 points.
 * `node dist/test/bench/buffer.js` prints the JSON; `benchBuffer()` is used by test/bench/index.ts.
 */
import { gzipSync } from 'node:zlib';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setImmediate as tick } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { openBuffer } from '../../agent/buffer/index.js';
import { decode } from '../../agent/buffer/codec.js';
import type { MessageBuffer } from '../../agent/core/buffer-types.js';
import { Counters } from '../../agent/core/counters.js';
import { Shape, ShapeBook } from '../../agent/buffer/codec.js';
import { pipelinePayloads, processedPayload as payload } from './payload.js';
import { round } from './figures.js';

const TOTAL = 200_000;


function open(dir: string, commitIntervalMs = 5): MessageBuffer {
  return openBuffer({
    dir,
    maxBytes: 0,
    maxAgeHours: 0,
    commitIntervalMs,
    log: pino({ level: 'warn' }, process.stderr),
    counters: new Counters(),
  });
}


/** Single-row appends (as the broker makes them), produced as fast as the loop allows. */
async function insertRate(buffer: MessageBuffer, payloads: string[]): Promise<{ rate: number; commits: number }> {
  let commits = 0;
  const off = buffer.onCommit(() => commits++);
  const pending: Promise<number[]>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < payloads.length; i++) {
    pending.push(buffer.append([{ topic: 'bal/processed/pmu1', payload: payloads[i]! }]));
    if (i % 500 === 499) await tick(); // a producer that yields like socket reads do
  }
  await Promise.all(pending);
  const rate = payloads.length / ((performance.now() - t0) / 1000);
  off();
  return { rate, commits };
}

/**
 * Single-row appends with at most `window` waiting for their commit, each next one issued when one
 * is durable (as a client with that many publishes in flight gets its PUBACKs): the group-commit
 * rate a small window can reach on this disk, with nothing else sharing the CPU.
 */
async function windowedRate(buffer: MessageBuffer, payloads: string[], window: number): Promise<{ rate: number; rowsPerCommit: number }> {
  let commits = 0;
  const off = buffer.onCommit(() => commits++);
  let next = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    let done = 0;
    const issue = (): void => {
      if (next >= payloads.length) return;
      buffer.append([{ topic: 'bal/processed/pmu1', payload: payloads[next++]! }]).then(() => {
        if (++done === payloads.length) resolve();
        else issue();
      }, reject);
    };
    for (let k = 0; k < window; k++) issue();
  });
  const rate = payloads.length / ((performance.now() - t0) / 1000);
  off();
  return { rate, rowsPerCommit: payloads.length / Math.max(1, commits) };
}

/** 5 000 msg/s for `seconds`: append latency (issue to durable) and event-loop delay. */
async function steadyLoad(buffer: MessageBuffer, seconds: number): Promise<{ p50: number; p99: number; loopP99: number; loopMax: number }> {
  const lat: number[] = [];
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const body = payload(0);
  const pending: Promise<void>[] = [];
  await new Promise<void>((resolve) => {
    let sent = 0;
    const iv = setInterval(() => {
      for (let k = 0; k < 10; k++) {
        const t = performance.now();
        pending.push(buffer.append([{ topic: 'bal/processed/pmu1', payload: body }]).then(() => void lat.push(performance.now() - t)));
      }
      sent += 10;
      if (sent >= seconds * 5000) {
        clearInterval(iv);
        resolve();
      }
    }, 2); // 10 messages every 2 ms = 5 000 msg/s
  });
  await Promise.all(pending);
  h.disable();
  lat.sort((a, b) => a - b);
  const at = (q: number): number => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))]!;
  return { p50: at(0.5), p99: at(0.99), loopP99: h.percentile(99) / 1e6, loopMax: h.max / 1e6 };
}

/**
 * 40 simulated PMUs with the upstream down: a forwarder's cursor that never moves, `n` processed
 * rows (real pipeline output) appended in commits of 2 000 (one second at 2 000/s); database bytes
 * per row after the final checkpoint.
 */
async function bytesPerMeasurement(n: number): Promise<{ textBytes: number; dbBytes: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gridedge-bench-bytes-'));
  try {
    const buffer = open(dir);
    buffer.registerCursor('central'); // upstream down: it never acknowledges anything
    let text = 0;
    for (let i = 0; i < n; i += 2000) {
      const rows = pipelinePayloads(Math.min(2000, n - i), 40);
      for (const r of rows) text += Buffer.byteLength(r.payload);
      await buffer.append(rows);
    }
    await buffer.close();
    return { textBytes: text / n, dbBytes: fs.statSync(path.join(dir, 'buffer.db')).size / n };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Codec cost per row, in this thread, beside JSON.parse of the same texts (same machine, same moment; best of 7 passes each). */
function codecCost(rows: { topic: string; payload: string }[]): { encodeUs: number; decodeUs: number; parseUs: number; blobBytes: number } {
  const book = new ShapeBook();
  const shapes = new Map<string, Shape>();
  let id = 0;
  const blobs: [Shape, Uint8Array][] = [];
  for (const r of rows) {
    const e = book.encode(r.topic, r.payload)!;
    let shape = e.shape;
    if (e.shape === null) {
      shape = new Shape(++id, e.created.topic, e.created.template, e.created.ref);
      book.add(shape);
      shapes.set(r.topic, shape);
    }
    blobs.push([shape!, e.blob]);
  }
  const best = (f: () => void): number => {
    let min = Infinity;
    for (let k = 0; k < 7; k++) {
      const t0 = performance.now();
      f();
      min = Math.min(min, ((performance.now() - t0) * 1000) / rows.length);
    }
    return min;
  };
  let sink = 0;
  const encodeUs = best(() => {
    for (const r of rows) sink += book.encode(r.topic, r.payload)!.blob.length;
  });
  const decodeUs = best(() => {
    for (const [shape, blob] of blobs) sink += decode(shape, blob).length;
  });
  const parseUs = best(() => {
    for (const r of rows) sink += (JSON.parse(r.payload) as { ts: number }).ts;
  });
  if (sink === 0) throw new Error('nothing measured');
  return { encodeUs, decodeUs, parseUs, blobBytes: blobs.reduce((s, [, b]) => s + b.length, 0) / blobs.length };
}

/** One hour of a 50 Hz PMU (180 000 rows, stored 50 per second on an injected clock), read into 600 points. */
async function historyRead(): Promise<{ rows: number; ms: number; buckets: number; jsonBytes: number; gzipBytes: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gridedge-bench-history-'));
  let wall = Date.UTC(2026, 0, 1);
  const start = wall;
  const buffer = openBuffer({
    dir,
    maxBytes: 0,
    maxAgeHours: 0,
    historyHours: 24,
    commitIntervalMs: 5,
    log: pino({ level: 'warn' }, process.stderr),
    counters: new Counters(),
    clock: { wall: () => wall, monotonic: () => wall },
  });
  try {
    // One commit per second of the hour (a commit stamps all its rows with one stored_at).
    for (let s = 0; s < 3600; s += 60) {
      const rows = pipelinePayloads(50 * 60, 1);
      for (let k = 0; k < 60; k++) {
        await buffer.append(rows.slice(k * 50, (k + 1) * 50));
        wall += 1000;
      }
    }
    const times: number[] = [];
    let res = await buffer.history({ device: 'pmu1', field: 'p.total', fromMs: start, toMs: start + 3_600_000 - 1, points: 600 });
    for (let k = 0; k < 7; k++) {
      const t0 = performance.now();
      res = await buffer.history({ device: 'pmu1', field: 'p.total', fromMs: start, toMs: start + 3_600_000 - 1, points: 600 });
      times.push(performance.now() - t0);
    }
    const json = JSON.stringify(res);
    // What the route sends a browser (it gzips JSON answers for clients that accept it, level 6).
    const gzipBytes = gzipSync(json, { level: 6 }).length;
    return { rows: res.n.reduce((s, n) => s + n, 0), ms: Math.min(...times), buckets: res.t.length, jsonBytes: json.length, gzipBytes };
  } finally {
    await buffer.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchBuffer(): Promise<Record<string, number>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gridedge-bench-buffer-'));
  try {
    const payloads = Array.from({ length: TOTAL }, (_, i) => payload(i));
    const avgPayload = payloads.reduce((s, p) => s + p.length, 0) / TOTAL;

    let buffer = open(dir);
    buffer.registerCursor('bench', true);
    const ins = await insertRate(buffer, payloads);
    const steady = await steadyLoad(buffer, 3);
    await buffer.close(); // final checkpoint: the WAL is folded into the file
    const rows = TOTAL + 3 * 5000;
    // The agent's default commitIntervalMs (0: commit at once when the writer is idle), in its own file.
    const wdir = fs.mkdtempSync(path.join(os.tmpdir(), 'gridedge-bench-window-'));
    const wbuf = open(wdir, 0);
    const windowed = await windowedRate(wbuf, payloads.slice(0, 20_000), 20).finally(() => wbuf.close());
    fs.rmSync(wdir, { recursive: true, force: true });
    const fileBytes = fs.statSync(path.join(dir, 'buffer.db')).size;

    buffer = open(dir);
    let after = 0;
    let read = 0;
    const r0 = performance.now();
    for (;;) {
      const batch = buffer.read(after, 1000);
      if (batch.length === 0) break;
      read += batch.length;
      after = batch[batch.length - 1]!.seq;
    }
    const readRate = read / ((performance.now() - r0) / 1000);

    buffer.registerCursor('bench', true);
    buffer.ack('bench', buffer.lastSeq());
    const p0 = performance.now();
    while (buffer.stats().rows > 0) await new Promise((r) => setTimeout(r, 5));
    const pruneRate = rows / ((performance.now() - p0) / 1000);
    await buffer.close();

    const bytes = await bytesPerMeasurement(100_000);
    const codec = codecCost(pipelinePayloads(20_000, 40));
    const hist = await historyRead();
    return {
      pipeline_text_bytes_per_measurement: round(bytes.textBytes, 0),
      db_bytes_per_measurement_40_pmus_upstream_down: round(bytes.dbBytes, 1),
      codec_blob_bytes_per_row: round(codec.blobBytes, 1),
      codec_encode_us_per_row: round(codec.encodeUs, 2),
      codec_encode_per_json_parse: round(codec.encodeUs / codec.parseUs, 2),
      codec_decode_us_per_row: round(codec.decodeUs, 2),
      json_parse_us_per_row_same_rows: round(codec.parseUs, 2),
      history_rows_read: hist.rows,
      history_buckets: hist.buckets,
      history_read_ms: round(hist.ms, 1),
      history_response_json_bytes: hist.jsonBytes,
      history_response_gzip_bytes: hist.gzipBytes,
      messages: TOTAL,
      payload_bytes_avg: round(avgPayload, 0),
      insert_msgs_per_s: round(ins.rate, 0),
      insert_rows_per_commit: round(TOTAL / Math.max(1, ins.commits), 0),
      window20_rows_per_s: round(windowed.rate, 0),
      window20_rows_per_commit: round(windowed.rowsPerCommit, 1),
      steady_5k_append_latency_p50_ms: round(steady.p50, 2),
      steady_5k_append_latency_p99_ms: round(steady.p99, 2),
      steady_5k_event_loop_delay_p99_ms: round(steady.loopP99, 2),
      steady_5k_event_loop_delay_max_ms: round(steady.loopMax, 2),
      db_bytes_per_message: round(fileBytes / rows, 1),
      read_msgs_per_s: round(readRate, 0),
      prune_msgs_per_s: round(pruneRate, 0),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  benchBuffer().then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
