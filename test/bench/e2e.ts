/**
 * End-to-end benchmark: an external mqtt.js client publishes QoS 1 measurements to `bal/raw`, an
 * external subscriber receives `bal/processed`, through the real agent process (buffer included:
 * every QoS 1 publish is acknowledged only after its commit). The same publish→subscribe loop runs
 * through Debian's mosquitto as a reference broker.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { getJson, repoRoot, spawnAgent, startAgent, tempDir } from '../helpers/agent-process.js';
import { claimPort } from '../helpers/ports.js';
import { rawPayload as payload } from './payload.js';
import { cpuSeconds, rssMb, threadCpuSeconds } from './proc.js';
import { round } from './figures.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


export interface LoopResult {
  messages: number;
  seconds: number;
  perSecond: number;
}

/**
 * mqtt.js leaves Nagle's algorithm on; with many small QoS 1 packets in flight that stalls on the
 * peer's delayed ACKs, so the bench clients switch it off, as a field client should.
 */
function noDelay(c: mqtt.MqttClient): mqtt.MqttClient {
  const s = c.stream as unknown as { setNoDelay?: (on: boolean) => void };
  s.setNoDelay?.(true);
  return c;
}

/** Publish `n` QoS 1 messages to `topic`, at most `window` unacknowledged; resolves when all are acknowledged. */
function publishWindowed(pub: mqtt.MqttClient, topic: string, n: number, window: number): Promise<void> {
  let inflight = 0;
  let sent = 0;
  return new Promise<void>((resolve) => {
    const pump = (): void => {
      while (inflight < window && sent < n) {
        inflight++;
        pub.publish(topic, payload(sent++, 0), { qos: 1 }, () => {
          inflight--;
          if (sent < n) pump();
          else if (inflight === 0) resolve();
        });
      }
    };
    pump();
  });
}

/** Publish `n` QoS 1 messages as fast as the window allows; resolve when the subscriber has them all. */
export function throughput(url: string, pubTopic: string, subFilter: string, n: number, window = 2000): Promise<LoopResult> {
  return throughputOn(url, [pubTopic], subFilter, n, window);
}

/**
 * `clients` publishers, each on its own device topic `<pubPrefix><k>` with `window` QoS 1 publishes
 * in flight, and one subscriber on `subFilter`: a substation's many devices, each with a client's
 * default window. Resolves when the subscriber has all `clients × perClient` messages.
 */
export function throughputMany(url: string, pubPrefix: string, subFilter: string, clients: number, perClient: number, window = 20): Promise<LoopResult> {
  return throughputOn(url, Array.from({ length: clients }, (_, c) => `${pubPrefix}${c}`), subFilter, perClient, window);
}

/** One publisher client per topic, `perClient` messages each with `window` in flight; one subscriber counts what arrives. */
async function throughputOn(url: string, topics: readonly string[], subFilter: string, perClient: number, window: number): Promise<LoopResult> {
  const sub = noDelay(await mqtt.connectAsync(url, { clientId: `bench-sub-${process.pid}` }));
  const pubs = await Promise.all(topics.map(async (_, c) => noDelay(await mqtt.connectAsync(url, { clientId: `bench-pub-${process.pid}-${c}` }))));
  await sub.subscribeAsync(subFilter, { qos: 0 });
  const n = topics.length * perClient;
  let received = 0;
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((r) => (resolveDone = r));
  sub.on('message', () => {
    if (++received >= n) resolveDone();
  });
  const t0 = performance.now();
  await Promise.all(pubs.map((pub, c) => publishWindowed(pub, topics[c]!, perClient, window)));
  await Promise.race([done, sleep(60_000)]);
  const seconds = (performance.now() - t0) / 1000;
  sub.end(true);
  for (const p of pubs) p.end(true);
  return { messages: received, seconds, perSecond: received / seconds };
}

/** Publish at a fixed rate for `seconds`; latency publish → processed received, in ms. */
export async function latency(
  url: string,
  pubTopic: string,
  subFilter: string,
  rate: number,
  seconds: number,
): Promise<{ p50: number; p99: number; max: number; samples: number; received: number }> {
  const sub = noDelay(await mqtt.connectAsync(url, { clientId: `bench-lsub-${process.pid}` }));
  const pub = noDelay(await mqtt.connectAsync(url, { clientId: `bench-lpub-${process.pid}` }));
  await sub.subscribeAsync(subFilter, { qos: 0 });
  const lat: number[] = [];
  sub.on('message', (_t, p) => {
    const now = performance.timeOrigin + performance.now();
    const m = JSON.parse(p.toString()) as { sent: number };
    lat.push(now - m.sent);
  });
  const tickMs = 10;
  const perTick = Math.round((rate * tickMs) / 1000);
  const ticks = Math.round((seconds * 1000) / tickMs);
  const start = performance.now();
  let k = 0;
  for (let tick = 0; tick < ticks; tick++) {
    const due = start + tick * tickMs;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    for (let j = 0; j < perTick; j++) pub.publish(pubTopic, payload(k++, performance.timeOrigin + performance.now()), { qos: 1 });
  }
  await sleep(500);
  sub.end(true);
  pub.end(true);
  // Skip the first second (connection warm-up, JIT).
  const steady = lat.slice(rate).sort((a, b) => a - b);
  const q = (f: number) => steady[Math.min(steady.length - 1, Math.floor(f * steady.length))] ?? NaN;
  return { p50: q(0.5), p99: q(0.99), max: steady[steady.length - 1] ?? NaN, samples: steady.length, received: lat.length };
}

/** µs of CPU per measurement between two thread readings: main thread, other threads (buffer writer, V8 GC helpers, libuv). */
function cpuSplit(a: { main: number; others: number }, b: { main: number; others: number }, n: number): { main_thread: number; other_threads: number } {
  return { main_thread: round(((b.main - a.main) / n) * 1e6, 2), other_threads: round(((b.others - a.others) / n) * 1e6, 2) };
}

async function withMosquitto<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const dir = tempDir('gridedge-bench-mosq-');
  const port = await claimPort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\nmax_inflight_messages 0\n`);
  const child = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  try {
    for (let k = 0; k < 100; k++) {
      try {
        const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 500 });
        c.end(true);
        break;
      } catch {
        await sleep(50);
      }
    }
    return await fn(`mqtt://127.0.0.1:${port}`);
  } finally {
    child.kill('SIGKILL');
  }
}

/** The glibc malloc settings the systemd unit gives the agent (its `Environment=MALLOC_*` lines). */
function unitMallocEnvironment(): Record<string, string> {
  const unit = readFileSync(join(repoRoot(), 'systemd', 'gridedge.service'), 'utf8');
  const env: Record<string, string> = {};
  for (const m of unit.matchAll(/^Environment=(MALLOC_[A-Z_]+)=(\S+)$/gm)) env[m[1]!] = m[2]!;
  if (Object.keys(env).length === 0) throw new Error('systemd/gridedge.service sets no MALLOC_* variable');
  return env;
}

/**
 * Memory as the goals define it, each on a fresh agent: idle (`gridedge run` with no config, the
 * embedded default, GRIDEDGE_BENCH_IDLE_S seconds after READY, default 30) and at a sustained
 * 5 000 measurements/s (15 s, RSS sampled every 250 ms), with glibc's malloc settings from the
 * systemd unit (MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_). The latency figures come from the sustained run.
 */
async function memoryFigures(): Promise<Record<string, unknown>> {
  const env = unitMallocEnvironment();
  const dir = tempDir('gridedge-bench-idle-');
  const idle = await spawnAgent(['run'], { dir, configFile: '', env: { ...env, GRIDEDGE_MQTT_PORT: '0', GRIDEDGE_HTTP_PORT: '0', GRIDEDGE_STORAGE_DIR: join(dir, 'data') } });
  let idleRss: number;
  let idleMemory: unknown;
  try {
    await sleep(Number(process.env.GRIDEDGE_BENCH_IDLE_S ?? 30) * 1000);
    idleRss = rssMb(idle.child.pid!);
    idleMemory = (await getJson<{ memory?: unknown }>(`${idle.httpUrl}/api/v1/status`)).memory ?? null;
  } finally {
    await idle.stop('SIGTERM');
  }
  const agent = await startAgent({ config: { stats: { enabled: true } }, env });
  try {
    const pid = agent.child.pid!;
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 250);
    const lat = await latency(agent.mqttUrl, 'bal/raw/bench2', 'bal/processed/bench2', 5000, 15);
    clearInterval(sampler);
    return {
      rss_mb_idle: round(idleRss, 2),
      memory_mib_idle: idleMemory,
      rss_mb_at_5000_per_s: { peak: round(peak, 2), end: round(rssMb(pid), 2) },
      memory_mib_at_5000_per_s: (await getJson<{ memory?: unknown }>(`${agent.httpUrl}/api/v1/status`)).memory ?? null,
      latency_at_5000_per_s_ms: { p50: round(lat.p50, 2), p99: round(lat.p99, 2), max: round(lat.max, 2), samples: lat.samples },
    };
  } finally {
    await agent.stop('SIGTERM');
  }
}

/** Publishers in the many-devices figure. */
const MANY_CLIENTS = 10;

export async function benchE2E(): Promise<Record<string, unknown>> {
  const memory = await memoryFigures();
  const n = Number(process.env.GRIDEDGE_BENCH_N ?? 100_000);
  const agent = await startAgent({ config: { stats: { enabled: true } } });
  try {
    const pid = agent.child.pid!;
    // Warm-up.
    await throughput(agent.mqttUrl, 'bal/raw/bench1', 'bal/processed/bench1', 5000);
    const cpu0 = cpuSeconds(pid);
    const th0 = threadCpuSeconds(pid);
    const tp = await throughput(agent.mqttUrl, 'bal/raw/bench1', 'bal/processed/bench1', n);
    const cpuPerMeasurementUs = ((cpuSeconds(pid) - cpu0) / n) * 1e6;
    const cpuByThread = cpuSplit(th0, threadCpuSeconds(pid), n);
    const rssAfterThroughput = rssMb(pid);
    const memoryAfterThroughput = (await getJson<{ memory?: Record<string, number> }>(`${agent.httpUrl}/api/v1/status`)).memory ?? null;
    // A client with 20 publishes in flight (paho's and mosquitto's default window).
    const smallN = Math.min(n, 20_000);
    const th1 = threadCpuSeconds(pid);
    const small = await throughput(agent.mqttUrl, 'bal/raw/bench3', 'bal/processed/bench3', smallN, 20);
    const smallCpuByThread = cpuSplit(th1, threadCpuSeconds(pid), smallN);
    // Ten devices, each a client with 20 in flight: a substation's many devices share each commit.
    const many = await throughputMany(agent.mqttUrl, 'bal/raw/bench5-', 'bal/processed/+', MANY_CLIENTS, smallN / MANY_CLIENTS, 20);
    let reference: LoopResult | null = null;
    let smallReference: LoopResult | null = null;
    let manyReference: LoopResult | null = null;
    try {
      reference = await withMosquitto((url) => throughput(url, 'bal/raw/bench1', 'bal/raw/bench1', n));
      smallReference = await withMosquitto((url) => throughput(url, 'bal/raw/bench3', 'bal/raw/bench3', Math.min(n, 20_000), 20));
      manyReference = await withMosquitto((url) => throughputMany(url, 'bal/raw/bench5-', 'bal/raw/+', MANY_CLIENTS, smallN / MANY_CLIENTS, 20));
    } catch (err) {
      process.stderr.write(`mosquitto reference skipped: ${(err as Error).message}\n`);
    }
    // Ingest worker threads (pipeline.workers), each count on a fresh agent (0 too, for a like
    // comparison): the throughput run, then a fixed 6 000/s for 10 s. On this 2-core machine the
    // clients, the writer and the workers share the cores, so flat out the main thread's time gets
    // noisy; at a fixed rate below saturation it shows what a worker takes off the main thread,
    // which is what bounds the rate on a box with cores to spare (main_thread_bound_per_s: the rate
    // at which the main thread would be busy all the time).
    type WorkersFigures = {
      per_s: number;
      cpu_us_per_measurement: number;
      main_thread_us: number;
      main_thread_bound_per_s: number;
      at_6000_per_s: { main_thread_us: number; other_threads_us: number; p99_ms: number };
    };
    const withWorkers: Record<string, WorkersFigures> = {};
    const counts = [0, ...(process.env.GRIDEDGE_BENCH_WORKERS ?? '1,2').split(',').filter(Boolean).map(Number)];
    for (const workers of [...new Set(counts)]) {
      const w = await startAgent({ config: { stats: { enabled: true }, pipeline: { workers } } });
      try {
        const wpid = w.child.pid!;
        await throughput(w.mqttUrl, 'bal/raw/bench1', 'bal/processed/bench1', 5000);
        const c0 = cpuSeconds(wpid);
        const t0 = threadCpuSeconds(wpid);
        const r = await throughput(w.mqttUrl, 'bal/raw/bench1', 'bal/processed/bench1', n);
        const cpuUs = ((cpuSeconds(wpid) - c0) / n) * 1e6;
        const split = cpuSplit(t0, threadCpuSeconds(wpid), n);
        const t1 = threadCpuSeconds(wpid);
        const lat = await latency(w.mqttUrl, 'bal/raw/bench4', 'bal/processed/bench4', 6000, 10);
        const fixed = cpuSplit(t1, threadCpuSeconds(wpid), lat.received);
        withWorkers[`workers_${workers}`] = {
          per_s: Math.round(r.perSecond),
          cpu_us_per_measurement: round(cpuUs, 2),
          main_thread_us: split.main_thread,
          main_thread_bound_per_s: Math.round(1e6 / split.main_thread),
          at_6000_per_s: { main_thread_us: fixed.main_thread, other_threads_us: fixed.other_threads, p99_ms: round(lat.p99, 2) },
        };
      } finally {
        await w.stop('SIGTERM');
      }
    }
    return {
      e2e_measurements_per_s: Math.round(tp.perSecond),
      e2e_with_ingest_workers: withWorkers,
      cpu_us_per_measurement: round(cpuPerMeasurementUs, 2),
      cpu_us_per_measurement_by_thread: cpuByThread,
      window20_cpu_us_per_measurement_by_thread: smallCpuByThread,
      window20_per_s: Math.round(small.perSecond),
      window20_mosquitto_per_s: smallReference ? Math.round(smallReference.perSecond) : null,
      window20_ratio_to_mosquitto: smallReference ? round(small.perSecond / smallReference.perSecond, 2) : null,
      clients10_window20_per_s: Math.round(many.perSecond),
      clients10_window20_mosquitto_per_s: manyReference ? Math.round(manyReference.perSecond) : null,
      clients10_window20_ratio_to_mosquitto: manyReference ? round(many.perSecond / manyReference.perSecond, 2) : null,
      e2e_messages: tp.messages,
      ...memory,
      rss_mb_after_throughput: round(rssAfterThroughput, 2),
      memory_mib_after_throughput: memoryAfterThroughput,
      mosquitto_reference_per_s: reference ? Math.round(reference.perSecond) : null,
      ratio_to_mosquitto: reference ? round(tp.perSecond / reference.perSecond, 2) : null,
    };
  } finally {
    await agent.stop('SIGTERM');
  }
}

