/**
 * Buffer benchmark: insert rate with synchronous=FULL group commit, append latency and event-loop
 * delay at 5 000 msg/s, database bytes per message, read rate and prune rate.
 * `node dist/test/bench/buffer.js` prints the JSON; `benchBuffer()` is used by test/bench/index.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setImmediate as tick } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { openBuffer } from '../../agent/buffer/index.js';
import type { MessageBuffer } from '../../agent/core/buffer-types.js';
import { Counters } from '../../agent/core/counters.js';
import { processedPayload as payload } from './payload.js';

const TOTAL = 200_000;


function open(dir: string): MessageBuffer {
  return openBuffer({
    dir,
    maxBytes: 0,
    maxAgeHours: 0,
    commitIntervalMs: 5,
    log: pino({ level: 'warn' }, process.stderr),
    counters: new Counters(),
  });
}

const round = (x: number, d = 0): number => Math.round(x * 10 ** d) / 10 ** d;

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

    return {
      messages: TOTAL,
      payload_bytes_avg: round(avgPayload),
      insert_msgs_per_s: round(ins.rate),
      insert_rows_per_commit: round(TOTAL / Math.max(1, ins.commits)),
      steady_5k_append_latency_p50_ms: round(steady.p50, 2),
      steady_5k_append_latency_p99_ms: round(steady.p99, 2),
      steady_5k_event_loop_delay_p99_ms: round(steady.loopP99, 2),
      steady_5k_event_loop_delay_max_ms: round(steady.loopMax, 2),
      db_bytes_per_message: round(fileBytes / rows, 1),
      read_msgs_per_s: round(readRate),
      prune_msgs_per_s: round(pruneRate),
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
