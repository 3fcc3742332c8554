/**
 * Forwarder benchmark: a buffer pre-filled with N rows (N = 1 000 000 by default, fewer when the
 * pre-fill budget runs out: the N used is reported) drains to a local mosquitto through the
 * upstream MQTT forwarder (QoS 1, unlimited backlog rate) while live rows are appended at
 * 1 000/s. The backlog counts as drained when the broker acknowledged (PUBACK) every row; a separate
 * subscriber process measures each live row's latency
 * from `append()` to its arrival upstream. Targets (issue 4): drain >= 10 000 msg/s, live p99 < 100 ms.
 *
 * `node dist/test/bench/forward.js` prints the JSON; `benchForward()` is used by test/bench/index.ts.
 * Environment: GRIDEDGE_BENCH_FORWARD_N (rows, default 1000000), GRIDEDGE_BENCH_FORWARD_FILL_S
 * (pre-fill budget in seconds, default 60), GRIDEDGE_BENCH_FORWARD_BATCH (rows per send, default 100).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { openBuffer } from '../../agent/buffer/index.js';
import { Counters } from '../../agent/core/counters.js';
import { mqttForwarder, type MqttForwarderConfig } from '../../agent/forwarders/mqtt/index.js';
import { ForwarderRunner } from '../../agent/forwarders/runner.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { processedPayload as payload } from './payload.js';
import { withDefaults } from '../helpers/plugin-config.js';
import { round } from './figures.js';

const LIVE_RATE = 1000;


/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
const wallNow = (): number => performance.timeOrigin + performance.now();

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found');
    dir = up;
  }
  return dir;
}

/**
 * The live-row subscriber, in its own process so that its timestamps do not wait for the
 * forwarder's event loop. It subscribes to the live topic only, records each live row's latency
 * (arrival minus the append time stamped in the row), and prints them as one JSON line when its
 * stdin closes.
 */
const SUBSCRIBER = `
import { connect } from 'mqtt';
const url = process.argv[1];
const now = () => performance.timeOrigin + performance.now();
const c = connect(url, { clientId: 'bench-live-sub', clean: true, reconnectPeriod: 0 });
const lat = [];
c.on('message', (topic, payload) => lat.push(now() - JSON.parse(payload.toString()).t));
c.on('connect', () => c.subscribe('legacy/live', { qos: 0 }, () => process.stdout.write('READY\\n')));
c.on('error', (e) => { console.error('subscriber: ' + e.message); process.exit(1); });
process.stdin.resume();
process.stdin.on('end', () => process.stdout.write(JSON.stringify(lat) + '\\n', () => process.exit(0)));
`;

function percentile(sorted: readonly number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}


export async function benchForward(): Promise<Record<string, number>> {
  const wantN = Number(process.env.GRIDEDGE_BENCH_FORWARD_N ?? 1_000_000);
  const fillBudgetMs = Number(process.env.GRIDEDGE_BENCH_FORWARD_FILL_S ?? 60) * 1000;
  const batchSize = Number(process.env.GRIDEDGE_BENCH_FORWARD_BATCH ?? 100);
  const dir = mkdtempSync(join(tmpdir(), 'gridedge-bench-fwd-'));
  const log = pino({ level: 'warn' }, process.stderr);
  const counters = new Counters();
  const mosq = await startMosquitto();
  const buffer = openBuffer({ dir, maxBytes: 0, maxAgeHours: 0, commitIntervalMs: 5, log, counters });
  let sub: ReturnType<typeof spawn> | undefined;
  let runner: ForwarderRunner | undefined;
  let liveTimer: NodeJS.Timeout | undefined;
  try {
    // The forwarder's cursor must exist before the pre-fill, so the rows are its backlog.
    buffer.registerCursor('bench');
    const fillStart = performance.now();
    let n = 0;
    while (n < wantN && performance.now() - fillStart < fillBudgetMs) {
      const rows = [];
      const k = Math.min(10_000, wantN - n);
      for (let j = 0; j < k; j++) rows.push({ topic: 'bal/processed/pmu1', payload: payload(n + j) });
      await buffer.append(rows);
      n += k;
    }
    const fillS = (performance.now() - fillStart) / 1000;
    const bytes = buffer.stats().bytes;

    sub = spawn(process.execPath, ['--input-type=module', '-e', SUBSCRIBER, mosq.url], {
      cwd: repoRoot(),
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    const exited = new Promise<number | null>((resolve) => sub!.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      sub!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('READY')) resolve();
      });
      void exited.then((code) => reject(new Error(`subscriber exited (${code}) before it was ready`)));
    });
    const lastBacklog = buffer.lastSeq();

    const cfg = mqttForwarderConfig(mosq.url, batchSize);
    runner = new ForwarderRunner({ id: 'bench', type: 'mqtt', forwarder: mqttForwarder.create(cfg), buffer, config: { ...cfg } });
    const abort = new AbortController();
    const drainStart = performance.now();
    runner.start({ id: 'bench', log, counters, signal: abort.signal, gateway: 'gw-bench', storageDir: dir });

    // Live traffic: LIVE_RATE rows/s in ticks of 10 ms, each stamped with its append time.
    let live = 0;
    const liveStart = performance.now();
    liveTimer = setInterval(() => {
      const due = Math.floor(((performance.now() - liveStart) / 1000) * LIVE_RATE) - live;
      for (let j = 0; j < due; j++) {
        live++;
        void buffer.append([{ topic: 'bal/processed/live', payload: payload(live, { t: wallNow() }) }]).catch(() => {});
      }
    }, 10);

    // Drained = the upstream broker acknowledged (PUBACK) every backlog row: the cursor passed the last one.
    const deadline = drainStart + 900_000;
    while (runner.cursor < lastBacklog) {
      if (performance.now() > deadline) throw new Error('the backlog did not drain within 15 min');
      await new Promise((r) => setTimeout(r, 10));
    }
    const drainS = (performance.now() - drainStart) / 1000;
    clearInterval(liveTimer);
    await new Promise((r) => setTimeout(r, 200)); // the last live rows arrive
    sub.stdin!.end();
    await exited;
    const line = out.split('\n').find((l) => l.startsWith('['));
    if (!line) throw new Error('the subscriber printed no latencies');
    const r = { lat: JSON.parse(line) as number[] };
    const lat = [...r.lat].sort((a, b) => a - b);
    const rate = n / drainS;
    return {
      backlogRows: n,
      prefillS: round(fillS, 1),
      prefillRowsPerS: Math.round(n / fillS),
      dbBytesPerRow: Math.round(bytes / n),
      batchSize,
      drainS: round(drainS, 1),
      drainRowsPerS: Math.round(rate),
      timeToDrain1MS: round(1_000_000 / rate, 1),
      liveRowsPerS: LIVE_RATE,
      liveSamples: lat.length,
      liveP50Ms: round(percentile(lat, 50), 1),
      liveP99Ms: round(percentile(lat, 99), 1),
      liveMaxMs: round(lat[lat.length - 1] ?? NaN, 1),
      forwardErrors: counters.total('forward_errors'),
    };
  } finally {
    clearInterval(liveTimer);
    sub?.kill('SIGKILL');
    await runner?.stop();
    await buffer.close();
    await mosq.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function mqttForwarderConfig(url: string, batchSize: number): MqttForwarderConfig {
  return withDefaults<MqttForwarderConfig>(mqttForwarder, {
    id: 'bench',
    type: 'mqtt',
    url,
    topics: [],
    map: [
      { from: 'bal/processed/live', to: 'legacy/live' },
      { from: 'bal/processed/#', to: 'legacy/#' },
    ],
    batchSize,
    backlogMaxRate: 0,
    reconnectMinMs: 200,
    reconnectMaxMs: 2000,
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  benchForward().then(
    (r) => {
      console.log(JSON.stringify(r, null, 2));
      process.exit(0);
    },
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
