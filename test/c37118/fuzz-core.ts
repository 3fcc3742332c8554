/**
 * The fuzzer shared by the fast fuzz test (fuzz.test.ts) and the full 10^6-frame run (test/c37118-slow/):
 * random and mutated frames (bit flips, truncation, extension, wrong FRAMESIZE, extreme field values,
 * CHK recomputed or not, random bytes behind a valid SYNC, data decoded against a configuration that
 * contradicts it) fed to the decoder, and as a byte stream cut at random points to the driver's
 * protocol session. Seeded: a failure is reproduced from its seed.
 */
import type { Test } from 'tap';
import { prng } from '../../algorithms/common/prng.js';
import { checkMeasurement } from '../../agent/pipeline/validate.js';
import { C37Session } from '../../drivers/c37118/session.js';
import { crcCcitt, DataDecoder, REJECT_REASONS, decodeFrame, encodeCommand, encodeConfig, encodeData, encodeHeaderFrame, type ConfigFrame, type PmuConfig } from '../../drivers/c37118/codec/index.js';

export const STREAM_ID = 7734;

function pmu(idcode: number, format: number, nph: number, nan: number, ndg: number, extras = false): PmuConfig {
  const names = ['VA', 'VB', 'VC', 'IA', 'IB', 'IC', 'V1', 'I1'];
  const p: PmuConfig = {
    station: `PMU ${idcode}`,
    idcode,
    format: { polar: (format & 1) !== 0, phasorFloat: (format & 2) !== 0, analogFloat: (format & 4) !== 0, freqFloat: (format & 8) !== 0 },
    phasors: Array.from({ length: nph }, (_, k) => ({ name: names[k % names.length]!, kind: k % 6 < 3 ? ('voltage' as const) : ('current' as const), scale: k % 6 < 3 ? 0.01 : 0.001 })),
    analogs: Array.from({ length: nan }, (_, k) => ({ name: `AN${k}`, kind: 1, scale: 1, offset: 0 })),
    digitals: Array.from({ length: ndg }, (_, k) => ({ names: Array.from({ length: 16 }, (_, b) => `D${k}_${b}`), normal: 0, valid: 0xffff })),
    fnom: 50,
    cfgcnt: 1,
  };
  if (extras) {
    p.cfg3 = { globalId: '00'.repeat(16), lat: 47, lon: 8, elev: 400, svcClass: 'P', windowUs: 40000, groupDelayUs: 20000 };
    p.phasors.forEach((ph, k) => {
      ph.component = (['a', 'b', 'c'] as const)[k % 3];
      ph.angleOffset = 0;
      ph.modification = 0;
    });
    p.analogs.forEach((a) => delete a.kind);
  }
  return p;
}

function cfg(kind: 'cfg1' | 'cfg2' | 'cfg3', pmus: PmuConfig[], timeBase = 1_000_000): ConfigFrame {
  return { kind, version: 2, size: 0, idcode: STREAM_ID, soc: 1_764_000_000, fracsec: 0, timeQuality: 0, timeBase, timeBaseFlags: 0, pmus, dataRate: 50, ...(kind === 'cfg3' ? { contIdx: 0 } : {}) };
}

export const CONFIGS: ConfigFrame[] = [
  cfg('cfg2', [pmu(1, 0, 6, 1, 1)]),
  cfg('cfg2', [pmu(11, 15, 6, 2, 0), pmu(12, 0, 3, 0, 1)]),
  cfg('cfg3', [pmu(21, 3, 6, 1, 1, true)], 0xffffff),
  cfg('cfg1', [pmu(31, 14, 2, 0, 0)]),
];

export interface FuzzStats {
  frames: number;
  decoded: Record<string, number>;
  sessionRejected: Record<string, number>;
  measurements: number;
  invalidMeasurements: string[];
  thrown: string[];
  maxBuffered: number;
  ms: number;
}

function setCrc(b: Uint8Array): void {
  if (b.length < 2) return;
  const c = crcCcitt(b, 0, b.length - 2);
  b[b.length - 2] = c >> 8;
  b[b.length - 1] = c & 0xff;
}

function setSize(b: Uint8Array): void {
  if (b.length >= 4) {
    b[2] = (b.length >> 8) & 0xff;
    b[3] = b.length & 0xff;
  }
}

/** Run `n` fuzz frames from `seed`. Every frame goes to the decoder and into the session's stream. */
export function runFuzz(n: number, seed: number): FuzzStats {
  const rnd = prng(seed);
  const int = (k: number): number => Math.floor(rnd() * k);
  const valid: Uint8Array[] = [];
  for (const c of CONFIGS) {
    valid.push(encodeConfig(c));
    for (let j = 0; j < 8; j++)
      valid.push(
        encodeData(
          c,
          { soc: 1_764_000_000 + j, fracsec: j * 20_000, timeQuality: j === 3 ? 0x0f : 0 },
          c.pmus.map((p) => ({
            stat: j === 5 ? 0x2000 : j === 6 ? 0x0400 : 0,
            mag: p.phasors.map((ph) => (ph.kind === 'voltage' ? 230 : 20) + j),
            ang: p.phasors.map((_, k) => k * 40 - 120),
            freq: 50 + j / 1000,
            rocof: 0.01 * j,
            analogs: p.analogs.map(() => j),
            digitals: p.digitals.map(() => 0x5a5a),
          })),
        ),
      );
  }
  valid.push(encodeCommand({ idcode: STREAM_ID, soc: 1, fracsec: 0 }, 'dataOn'));
  valid.push(encodeHeaderFrame({ idcode: STREAM_ID, soc: 1, fracsec: 0 }, 'fuzz header'));
  const decoders = CONFIGS.map((c) => new DataDecoder(c));

  const stats: FuzzStats = { frames: 0, decoded: {}, sessionRejected: {}, measurements: 0, invalidMeasurements: [], thrown: [], maxBuffered: 0, ms: 0 };
  let clock = 1_764_000_000_000;
  const limits = { maxPayloadBytes: 1 << 20, nowUs: clock * 1000, futureToleranceUs: 1e16, pastToleranceUs: 1e16 };
  const session = new C37Session(
    { id: 'fz', idcode: STREAM_ID, config: 'auto', phasors: { V1: 'v.a' }, maxTimeErrorUs: 100, configTimeoutMs: 1000, maxConfigTries: 3, dataTimeoutMs: 5000, sendDataOn: true },
    {
      send: () => undefined,
      data: (ms) => {
        for (const m of ms) {
          stats.measurements++;
          // Validation is the costly part: check every 7th measurement and every one that is not good.
          if (stats.measurements % 7 !== 0 && m.quality === 'good') continue;
          const r = checkMeasurement(structuredClone(m), null, limits);
          if (!r.ok && stats.invalidMeasurements.length < 10) stats.invalidMeasurements.push(`${r.reason}: ${r.detail}`);
        }
      },
      reject: (reason) => void (stats.sessionRejected[reason] = (stats.sessionRejected[reason] ?? 0) + 1),
      config: () => undefined,
    },
    () => clock,
  );
  session.connected();
  let stream: Uint8Array[] = [];
  let streamBytes = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    let f: Uint8Array;
    const base = valid[int(valid.length)]!;
    const op = int(10);
    switch (op) {
      case 0: // unchanged
        f = base;
        break;
      case 1: {
        // bit flips, CHK fixed most of the time so the flip reaches the field decoders
        f = base.slice();
        for (let k = 1 + int(4); k > 0; k--) f[int(f.length)]! ^= 1 << int(8);
        if (rnd() < 0.8) setCrc(f);
        break;
      }
      case 2: {
        // truncated, FRAMESIZE and CHK fixed or not
        f = base.slice(0, int(base.length));
        if (rnd() < 0.5) {
          setSize(f);
          setCrc(f);
        }
        break;
      }
      case 3: {
        // extended with random bytes
        const ext = new Uint8Array(base.length + 1 + int(64));
        ext.set(base);
        for (let k = base.length; k < ext.length; k++) ext[k] = int(256);
        if (rnd() < 0.5) setSize(ext);
        setCrc(ext);
        f = ext;
        break;
      }
      case 4: {
        // wrong FRAMESIZE, valid CHK
        f = base.slice();
        const s = rnd() < 0.5 ? int(65536) : f.length + int(9) - 4;
        f[2] = (s >> 8) & 0xff;
        f[3] = s & 0xff;
        setCrc(f);
        break;
      }
      case 5: {
        // an extreme 16-bit value in a random field (counts, FORMAT, STAT, names, scales)
        f = base.slice();
        const at = 14 + int(Math.max(1, f.length - 17));
        const v = [0, 0xffff, 0x8000, 0x7fff, 1][int(5)]!;
        f[at] = v >> 8;
        f[at + 1] = v & 0xff;
        setCrc(f);
        break;
      }
      case 6: {
        // random body behind a valid SYNC, FRAMESIZE and CHK
        const len = 16 + int(300);
        f = new Uint8Array(len);
        for (let k = 0; k < len; k++) f[k] = int(256);
        f[0] = 0xaa;
        f[1] = (int(6) << 4) | 2;
        f[4] = STREAM_ID >> 8;
        f[5] = STREAM_ID & 0xff;
        setSize(f);
        setCrc(f);
        break;
      }
      case 7: {
        // pure noise
        f = new Uint8Array(1 + int(80));
        for (let k = 0; k < f.length; k++) f[k] = int(256);
        break;
      }
      default:
        // a valid frame decoded against a configuration that may contradict it (below)
        f = base;
    }
    stats.frames++;
    try {
      const r = decodeFrame(f, decoders[int(decoders.length)]);
      const key = r.ok ? `ok_${r.frame.kind}` : r.reason;
      stats.decoded[key] = (stats.decoded[key] ?? 0) + 1;
    } catch (e) {
      if (stats.thrown.length < 10) stats.thrown.push(`decoder, seed ${seed} frame ${i}: ${(e as Error).stack}`);
    }
    stream.push(f);
    streamBytes += f.length;
    if (streamBytes > 4096 || i === n - 1) {
      const all = Buffer.concat(stream);
      stream = [];
      streamBytes = 0;
      try {
        // Cut at random points, as TCP may.
        let o = 0;
        while (o < all.length) {
          const step = 1 + int(rnd() < 0.1 ? 8 : 2048);
          session.push(all.subarray(o, o + step));
          o += step;
          if (session['splitter'].buffered > stats.maxBuffered) stats.maxBuffered = session['splitter'].buffered;
        }
        clock += 20;
        if (session.tick() === 'reconnect') session.connected();
      } catch (e) {
        if (stats.thrown.length < 10) stats.thrown.push(`session, seed ${seed} frame ${i}: ${(e as Error).stack}`);
      }
    }
  }
  stats.ms = performance.now() - t0;
  return stats;
}

/** Run `n` frames with `seed` and check what every fuzz run must hold (the slow folder's parts use it). */
export function checkFuzzRun(t: Test, n: number, seed: number): void {
  const s = runFuzz(n, seed);
  t.same(s.thrown, [], 'nothing thrown by the decoder or the session');
  t.same(s.invalidMeasurements, [], 'every measurement checked passes the pipeline validation');
  const known = new Set<string>([...REJECT_REASONS, 'ok_data', 'ok_cfg1', 'ok_cfg2', 'ok_cfg3', 'ok_command', 'ok_header']);
  t.same(Object.keys(s.decoded).filter((k) => !known.has(k)), [], 'every decoder result is a known reason');
  t.same(Object.keys(s.sessionRejected).filter((k) => !known.has(k)), [], 'every session rejection is a known reason');
  t.equal(Object.values(s.decoded).reduce((a, b) => a + b, 0), n, 'every frame is counted once');
  t.ok(s.maxBuffered <= 65535, `the session never held more than one frame (${s.maxBuffered} bytes)`);
  t.comment(JSON.stringify({ ms: Math.round(s.ms), decoded: s.decoded, session: s.sessionRejected, measurements: s.measurements }));
}
