/**
 * C37.118 benchmarks.
 * - decode: data frames per second through the codec (header, CHK and all fields) for a 6-phasor float
 *   PMU and a 2-PMU integer stream; and through the protocol session (stream splitter, decoding and
 *   the measurement objects). Goal: ≥ 500 000 frames/s for the codec.
 * - e2e: 20 PMUs (20 streams, each a test PMU server at 50 frames/s) read by one c37118 driver in the
 *   real agent process with time alignment, to `bal/processed`: messages per second received, the
 *   agent's CPU per frame (from /proc), end-to-end latency (time stamp → processed message received)
 *   and the alignment wait from the driver's health.
 * GRIDEDGE_BENCH_SECONDS sets the e2e run length (default 10).
 */
import mqtt from 'mqtt';
import { DataDecoder, decodeHeader, encodeConfig, encodeData, type ConfigFrame, type PmuConfig } from '../../drivers/c37118/codec/index.js';
import { C37Session } from '../../drivers/c37118/session.js';
import { startAgent } from '../helpers/agent-process.js';
import { PmuServer, threePhase } from '../c37118/pmu-server.js';
import { cpuSeconds } from './proc.js';

function block(idcode: number, format: number, nph: number): PmuConfig {
  return {
    station: `B${idcode}`,
    idcode,
    format: { polar: (format & 1) !== 0, phasorFloat: (format & 2) !== 0, analogFloat: (format & 4) !== 0, freqFloat: (format & 8) !== 0 },
    phasors: Array.from({ length: nph }, (_, k) => ({ name: ['VA', 'VB', 'VC', 'IA', 'IB', 'IC'][k % 6]!, kind: k % 6 < 3 ? ('voltage' as const) : ('current' as const), scale: k % 6 < 3 ? 0.01 : 0.005 })),
    analogs: [],
    digitals: [],
    fnom: 50,
    cfgcnt: 1,
  };
}

function cfgOf(pmus: PmuConfig[]): ConfigFrame {
  return { kind: 'cfg2', version: 2, size: 0, idcode: 1, soc: 1_764_000_000, fracsec: 0, timeQuality: 0, timeBase: 1_000_000, timeBaseFlags: 0, pmus, dataRate: 50 };
}

function frameOf(cfg: ConfigFrame): Uint8Array {
  return encodeData(
    cfg,
    { soc: 1_764_000_000, fracsec: 20_000 },
    cfg.pmus.map((p) => ({ stat: 0, mag: p.phasors.map((c) => (c.kind === 'voltage' ? 230 : 100)), ang: p.phasors.map((_, k) => k * 60 - 150), freq: 50.01, rocof: 0.02, analogs: [], digitals: [] })),
  );
}

function decodeRate(cfg: ConfigFrame, ms = 1000): { framesPerSecond: number; frameBytes: number } {
  const f = frameOf(cfg);
  const dec = new DataDecoder(cfg);
  let n = 0;
  let sink = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let k = 0; k < 10_000; k++) {
      const h = decodeHeader(f);
      if (!h.ok) throw new Error(h.detail);
      const r = dec.decode(f, h.frame);
      if (r.ok) sink += r.frame.pmus.length;
    }
    n += 10_000;
    t = performance.now();
  }
  if (sink !== n * cfg.pmus.length) throw new Error('decode failed');
  return { framesPerSecond: Math.round(n / ((t - t0) / 1000)), frameBytes: f.length };
}

function sessionRate(cfg: ConfigFrame, ms = 1000): { framesPerSecond: number } {
  let got = 0;
  const s = new C37Session(
    { id: 'b', idcode: 1, config: 'cfg2', phasors: {}, maxTimeErrorUs: 1000, configTimeoutMs: 1000, maxConfigTries: 3, dataTimeoutMs: 1e9, sendDataOn: false },
    { send: () => undefined, data: (m) => void (got += m.length), reject: (r, d) => { throw new Error(`${r}: ${d}`); }, config: () => undefined },
  );
  s.push(encodeConfig(cfg));
  const f = frameOf(cfg);
  // 100 frames per chunk, as a busy TCP connection delivers them.
  const chunk = Buffer.concat(Array.from({ length: 100 }, () => f));
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let k = 0; k < 50; k++) s.push(chunk);
    n += 5000;
    t = performance.now();
  }
  if (got !== n * cfg.pmus.length) throw new Error(`session decoded ${got} blocks of ${n * cfg.pmus.length}`);
  return { framesPerSecond: Math.round(n / ((t - t0) / 1000)) };
}

async function e2e(seconds: number): Promise<Record<string, unknown>> {
  const pmus = 20;
  const servers = await Promise.all(Array.from({ length: pmus }, (_, k) => new PmuServer({ idcode: 100 + k, dataRate: 50, blocks: [threePhase(100 + k, 15)] }).start()));
  const [first, ...rest] = servers;
  const agent = await startAgent({
    config: {
      stats: { enabled: false },
      drivers: [
        {
          type: 'c37118',
          id: 'pmu0',
          host: '127.0.0.1',
          port: first!.port,
          idcode: 100,
          config: 'cfg2',
          alignMs: 100,
          streams: rest.map((s, k) => ({ host: '127.0.0.1', port: s.port, idcode: 101 + k, name: `pmu${k + 1}` })),
        },
      ],
    },
  });
  try {
    const sub = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'bench-c37118' });
    const lat: number[] = [];
    let received = 0;
    await sub.subscribeAsync('bal/processed/#', { qos: 0 });
    sub.on('message', (_t, p) => {
      received++;
      const m = JSON.parse(p.toString()) as { ts?: number };
      if (typeof m.ts === 'number') lat.push(Date.now() - m.ts / 1000);
    });
    // Warm up until every PMU is flowing, then measure.
    const warm = Date.now();
    while (received < pmus * 20 && Date.now() - warm < 15_000) await new Promise((r) => setTimeout(r, 100));
    received = 0;
    lat.length = 0;
    const pid = agent.child.pid!;
    const cpu0 = cpuSeconds(pid);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const cpu = cpuSeconds(pid) - cpu0;
    const wall = (performance.now() - t0) / 1000;
    const n = received;
    const l = lat.slice().sort((a, b) => a - b);
    const status = (await (await fetch(`${agent.httpUrl}/api/v1/status`)).json()) as { drivers?: { id: string; health?: { info?: Record<string, unknown> } }[] };
    const info = JSON.stringify(status).match(/"alignWaitMeanMs":([\d.]+)/)?.[1];
    const maxWait = JSON.stringify(status).match(/"alignWaitMaxMs":([\d.]+)/)?.[1];
    await sub.endAsync();
    return {
      pmus,
      rate: 50,
      seconds: Math.round(wall * 10) / 10,
      processedPerSecond: Math.round(n / wall),
      expectedPerSecond: pmus * 50,
      agentCpuPercent: Math.round((cpu / wall) * 1000) / 10,
      agentCpuMicrosPerFrame: n ? Math.round((cpu * 1e6) / n) : null,
      latencyMs: l.length ? { p50: Math.round(l[l.length >> 1]!), p99: Math.round(l[Math.floor(l.length * 0.99)]!), max: Math.round(l[l.length - 1]!) } : null,
      alignWaitMeanMs: info !== undefined ? Number(info) : null,
      alignWaitMaxMs: maxWait !== undefined ? Number(maxWait) : null,
    };
  } finally {
    await agent.stop();
    await Promise.all(servers.map((s) => s.close()));
  }
}

export async function benchC37118(): Promise<Record<string, unknown>> {
  const sixFloat = cfgOf([block(1, 15, 6)]);
  const twoInt = cfgOf([block(1, 0, 6), block(2, 0, 6)]);
  const out: Record<string, unknown> = {
    decode6PhasorFloat: decodeRate(sixFloat),
    decode2PmuInteger: decodeRate(twoInt),
    session6PhasorFloat: sessionRate(sixFloat),
    session2PmuInteger: sessionRate(twoInt),
    goalFramesPerSecond: 500_000,
  };
  if (process.env.GRIDEDGE_BENCH_C37118_E2E !== '0') out.e2e = await e2e(Number(process.env.GRIDEDGE_BENCH_SECONDS ?? 10));
  return out;
}
