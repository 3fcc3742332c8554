/**
 * `gridedge pmu probe HOST:PORT --idcode N`: connect to a PMU or PDC over TCP as the c37118 driver does
 * (ask for the configuration, then data on), print the configuration (stations, phasor and analog
 * channels with units, digitals, rate, nominal frequency, FORMAT), a few decoded data frames with STAT
 * explained in words, then the measured frame rate and latency; `--json` prints the same as one JSON
 * document. Data off is sent and the connection closed before it exits.
 * Exit codes: 0 done, 1 bad input, 2 the device cannot be reached or sends no configuration or data
 * within --timeout.
 */
import { createConnection } from 'node:net';
import { EXIT, interruptedExit, positiveInt, MAX_TIMEOUT_S, positiveNumber, TIMEOUT_SECONDS, type Command } from '../command.js';
import type { Io } from '../io.js';
import { C37Session } from '../../../drivers/c37118/session.js';
import { planFor } from '../../../drivers/c37118/mapping.js';
import { explainStat, explainTimeQuality, type ConfigFrame, type DataFrame } from '../../../drivers/c37118/codec/index.js';

/** How a probe stopped by Ctrl-C or SIGTERM words its end. */
const INTERRUPTED = 'interrupted';

interface ProbeOptions {
  host: string;
  port: number;
  idcode: number;
  frames: number;
  timeoutS: number;
  config: 'auto' | 'cfg2' | 'cfg3';
}

interface FrameRecord {
  frame: DataFrame;
  arrivalMs: number;
}

interface ProbeResult {
  cfg: ConfigFrame | null;
  header: string | null;
  frames: FrameRecord[];
  rejected: Record<string, number>;
  error?: string;
}

/** HOST:PORT or [IPv6]:PORT. */
export function parseHostPort(s: string): { host: string; port: number } | string {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:\s/]+):(\d+)$/.exec(s);
  if (!m) return `HOST:PORT must look like 10.0.0.7:4712 or [::1]:4712, got ${JSON.stringify(s)}`;
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return `HOST:PORT: the port must be between 1 and 65535, got ${m[2]}`;
  return { host: m[1]!, port };
}

function probe(o: ProbeOptions, io: Io): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const res: ProbeResult = { cfg: null, header: null, frames: [], rejected: {} };
    const sock = createConnection({ host: o.host, port: o.port });
    let done = false;
    const finish = (error?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearInterval(tick);
      io.signal.removeEventListener('abort', onAbort);
      if (error) res.error = error;
      if (!sock.destroyed && sock.writable && res.cfg) session.dataOff();
      sock.end();
      sock.destroy();
      resolve(res);
    };
    // What has not arrived yet, in words (for a timeout and for Ctrl-C).
    const missing = (): string =>
      sock.connecting ? 'no TCP connection' : !res.cfg ? 'no configuration frame' : res.frames.length === 0 ? 'no data frame' : `only ${res.frames.length} of ${o.frames} data frames`;
    const onAbort = (): void => finish(`${INTERRUPTED}: ${missing()} from ${o.host}:${o.port} yet`);
    io.signal.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => finish(`${missing()} from ${o.host}:${o.port} within ${o.timeoutS} s`), o.timeoutS * 1000);
    const session = new C37Session(
      { id: 'probe', idcode: o.idcode, config: o.config, phasors: {}, maxTimeErrorUs: 1000, configTimeoutMs: Math.min(2000, (o.timeoutS * 1000) / 3), maxConfigTries: 3, dataTimeoutMs: o.timeoutS * 1000, sendDataOn: true },
      {
        send: (f) => void (sock.writable && sock.write(f)),
        data: (_ms, _plans, frame, arrivalMs) => {
          // Frames after the last one wanted (same TCP chunk, or after finish) are not kept.
          if (done || res.frames.length >= o.frames) return;
          res.frames.push({ frame, arrivalMs });
          if (res.frames.length >= o.frames) finish();
        },
        reject: (reason) => void (res.rejected[reason] = (res.rejected[reason] ?? 0) + 1),
        config: (cfg) => {
          res.cfg = cfg;
          session.requestHeader();
        },
        header: (text) => void (res.header = text),
      },
    );
    const tick = setInterval(() => session.tick(), 100);
    sock.setNoDelay(true);
    sock.on('connect', () => session.connected());
    sock.on('data', (c) => session.push(c));
    sock.on('error', (e: NodeJS.ErrnoException) => finish(`cannot connect to ${o.host}:${o.port}: ${e.code === 'ECONNREFUSED' ? 'connection refused' : e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN' ? `host ${o.host} not found (${e.code})` : e.message}`));
    sock.on('close', () => finish(res.frames.length >= o.frames ? undefined : `${o.host}:${o.port} closed the connection`));
  });
}

const FORMAT_WORDS = (f: ConfigFrame['pmus'][0]['format']): string =>
  `phasors ${f.phasorFloat ? 'float' : 'integer'} ${f.polar ? 'polar' : 'rectangular'}, analogs ${f.analogFloat ? 'float' : 'integer'}, FREQ/DFREQ ${f.freqFloat ? 'float' : 'integer'}`;

const COMPONENT_WORDS: Record<string, string> = { zero: 'zero sequence', pos: 'positive sequence', neg: 'negative sequence', a: 'phase A', b: 'phase B', c: 'phase C' };
const ANALOG_KIND = ['point on wave', 'RMS', 'peak'];

function rateText(r: number): string {
  return r > 0 ? `${r} frames/s` : r < 0 ? `1 frame every ${-r} s` : 'rate 0 (not given)';
}

function configJson(cfg: ConfigFrame): object {
  const plans = planFor('pmu', cfg);
  return {
    kind: cfg.kind,
    version: cfg.version,
    idcode: cfg.idcode,
    timeBase: cfg.timeBase,
    dataRate: cfg.dataRate,
    pmus: cfg.pmus.map((p, k) => ({
      station: p.station,
      idcode: p.idcode,
      format: p.format,
      nominalHz: p.fnom,
      cfgcnt: p.cfgcnt,
      phasors: p.phasors.map((c, j) => ({
        name: c.name,
        unit: c.kind === 'current' ? 'A' : 'V',
        scale: c.scale,
        ...(c.component ? { component: c.component } : {}),
        maps: plans[k]!.phasors.find((s) => s.k === j)?.path ?? null,
      })),
      analogs: p.analogs.map((a) => ({ name: a.name, ...(a.kind !== undefined ? { kind: ANALOG_KIND[a.kind] ?? `code ${a.kind}` } : {}), scale: a.scale, offset: a.offset })),
      digitals: p.digitals.map((d) => ({ names: d.names.filter((n) => n.trim() !== ''), normal: d.normal, valid: d.valid })),
      ...(p.cfg3 ? { cfg3: p.cfg3 } : {}),
    })),
  };
}

function frameJson(cfg: ConfigFrame, r: FrameRecord): object {
  return {
    ts: r.frame.ts,
    time: new Date(r.frame.ts / 1000).toISOString(),
    latencyMs: Math.round((r.arrivalMs - r.frame.ts / 1000) * 10) / 10,
    timeQuality: explainTimeQuality(r.frame.timeQuality),
    pmus: r.frame.pmus.map((b, k) => {
      const p = cfg.pmus[k]!;
      const num = (x: number): number | null => (Number.isFinite(x) ? x : null);
      return {
        station: p.station,
        idcode: p.idcode,
        stat: b.stat,
        statText: explainStat(b.stat),
        phasors: p.phasors.map((c, j) => ({ name: c.name, mag: num(b.mag[j]!), ang: num(b.ang[j]!), unit: c.kind === 'current' ? 'A' : 'V' })),
        freq: num(b.freq),
        rocof: num(b.rocof),
        analogs: p.analogs.map((a, j) => ({ name: a.name, value: num(b.analogs[j]!) })),
        digitals: [...b.digitals],
      };
    }),
  };
}

function measured(frames: FrameRecord[]): { frames: number; seconds: number; perSecond: number | null; latencyMs: { median: number; max: number } | null } {
  const n = frames.length;
  const lat = frames.map((f) => f.arrivalMs - f.frame.ts / 1000).sort((a, b) => a - b);
  const seconds = n > 1 ? (frames[n - 1]!.arrivalMs - frames[0]!.arrivalMs) / 1000 : 0;
  return {
    frames: n,
    seconds: Math.round(seconds * 1000) / 1000,
    perSecond: n > 1 && seconds > 0 ? Math.round(((n - 1) / seconds) * 10) / 10 : null,
    latencyMs: n ? { median: Math.round(lat[n >> 1]! * 10) / 10, max: Math.round(lat[n - 1]! * 10) / 10 } : null,
  };
}

function text(o: ProbeOptions, res: ProbeResult): string {
  const cfg = res.cfg!;
  const L: string[] = [];
  L.push(`C37.118 stream ${o.host}:${o.port}, IDCODE ${cfg.idcode}: ${cfg.kind.toUpperCase()} (version ${cfg.version}), ${rateText(cfg.dataRate)}, TIME_BASE ${cfg.timeBase}, ${cfg.pmus.length} PMU${cfg.pmus.length === 1 ? '' : 's'}`);
  if (res.header !== null) L.push(`Header: ${res.header.replace(/\s+/g, ' ').trim()}`);
  const plans = planFor('pmu', cfg);
  cfg.pmus.forEach((p, k) => {
    L.push('', `PMU ${k + 1}: "${p.station}", IDCODE ${p.idcode}, nominal ${p.fnom} Hz, CFGCNT ${p.cfgcnt}`, `  FORMAT: ${FORMAT_WORDS(p.format)}`);
    if (p.phasors.length) L.push('  Phasors:');
    p.phasors.forEach((c, j) => {
      const unit = c.kind === 'current' ? 'A' : 'V';
      const to = plans[k]!.phasors.find((s) => s.k === j)?.path;
      L.push(`    ${c.name.padEnd(16)} ${c.kind}${c.component ? `, ${COMPONENT_WORDS[c.component]}` : ''}, ${c.scale.toPrecision(6)} ${unit}/count${to ? ` -> ${to}` : ''}`);
    });
    if (p.analogs.length) L.push('  Analogs:');
    for (const a of p.analogs) L.push(`    ${a.name.padEnd(16)} ${a.kind !== undefined ? `${ANALOG_KIND[a.kind] ?? `type ${a.kind}`}, ` : ''}scale ${a.scale}${a.offset ? `, offset ${a.offset}` : ''}`);
    p.digitals.forEach((d, j) => L.push(`  Digital word ${j + 1}: ${d.names.filter((n) => n.trim()).join(', ') || '(unnamed)'} (valid 0x${d.valid.toString(16).padStart(4, '0')}, normal 0x${d.normal.toString(16).padStart(4, '0')})`));
    const x = p.cfg3;
    const g = (v: number | null): string => (v === null ? '-' : String(+v.toPrecision(7)));
    if (x) L.push(`  Location: ${g(x.lat)}, ${g(x.lon)}, ${g(x.elev)} m; class ${x.svcClass}; window ${x.windowUs} µs; group delay ${x.groupDelayUs} µs`);
  });
  L.push('', `Frames (${res.frames.length}):`);
  for (const r of res.frames) {
    L.push(`  ${new Date(r.frame.ts / 1000).toISOString().replace('Z', '')}${String(r.frame.ts % 1000).padStart(3, '0')}Z  time: ${explainTimeQuality(r.frame.timeQuality).join(', ')}`);
    r.frame.pmus.forEach((b, k) => {
      const p = cfg.pmus[k]!;
      L.push(`    ${p.station}: STAT 0x${b.stat.toString(16).padStart(4, '0')} ${explainStat(b.stat).join('; ')}`);
      const ph = p.phasors.map((c, j) => `${c.name.trim()} ${b.mag[j]!.toFixed(3)} ${c.kind === 'current' ? 'A' : 'V'} ∠ ${b.ang[j]!.toFixed(2)}°`);
      if (ph.length) L.push(`      ${ph.join(', ')}`);
      const rest = [`freq ${b.freq.toFixed(4)} Hz`, `rocof ${b.rocof.toFixed(3)} Hz/s`, ...p.analogs.map((a, j) => `${a.name.trim()} ${b.analogs[j]}`), ...[...b.digitals].map((d, j) => `digital ${j + 1} 0x${d.toString(16).padStart(4, '0')}`)];
      L.push(`      ${rest.join(', ')}`);
    });
  }
  const m = measured(res.frames);
  L.push('', `Measured: ${m.frames} frames in ${m.seconds} s${m.perSecond !== null ? `, ${m.perSecond} frames/s` : ''}${m.latencyMs ? `; latency (arrival minus time stamp) median ${m.latencyMs.median} ms, max ${m.latencyMs.max} ms` : ''}`);
  const rej = Object.entries(res.rejected);
  if (rej.length) L.push(`Refused: ${rej.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (res.error) L.push(`Incomplete: ${res.error}`);
  return L.join('\n') + '\n';
}

export const pmuProbe: Command = {
  name: 'pmu probe',
  summary: 'Read a C37.118 PMU or PDC: its configuration, a few decoded frames with STAT in words, the frame rate and latency',
  options: {
    idcode: { type: 'string', valueName: 'N', required: true, description: 'Stream IDCODE (required)' },
    frames: { type: 'string', short: 'n', valueName: 'N', description: 'Data frames to read (default 5)' },
    timeout: { type: 'string', valueName: 'DURATION', duration: TIMEOUT_SECONDS, description: 'Give up after this long (default 10s)' },
    config: { type: 'string', valueName: 'KIND', description: 'Configuration to ask for: auto (CFG-3, then CFG-2), cfg2 or cfg3 (default auto)' },
    json: { type: 'boolean', description: 'Print one JSON document: { stream, config, header, frames, measured, refused }' },
  },
  positionals: [{ name: 'HOST:PORT', description: 'The PMU or PDC, e.g. 10.0.0.7:4712' }],
  handlesSignals: true,
  details: [
    'Exit codes: 0 done, 1 bad input, 2 the device cannot be reached, or sends no configuration or data within --timeout',
    '(what arrived is still printed); Ctrl-C sends data off, prints what arrived and exits 130.',
    'Examples:',
    '  gridedge pmu probe 10.0.0.7:4712 --idcode 7734',
    '  gridedge pmu probe 10.0.0.7:4712 --idcode 7734 --frames 50 --json',
  ].join('\n'),
  async run({ values, positionals }, io) {
    const hp = parseHostPort(positionals[0] ?? '');
    const bad = (m: string): number => {
      io.err(`gridedge pmu probe: ${m}\n`);
      return EXIT.badInput;
    };
    if (typeof hp === 'string') return bad(hp);
    const idRaw = values['idcode'];
    if (idRaw === undefined) return bad('--idcode is required (the stream IDCODE the PMU answers to)');
    const idcode = Number(idRaw);
    if (typeof idRaw !== 'string' || !/^\d+$/.test(idRaw) || idcode > 65535) return bad(`--idcode: must be an integer between 0 and 65535, got ${JSON.stringify(idRaw)}`);
    const frames = positiveInt('frames', values['frames']);
    if (typeof frames === 'string') return bad(frames);
    if (frames !== undefined && frames > 10_000) return bad(`--frames: at most 10000, got ${frames}`);
    const timeout = positiveNumber('timeout', values['timeout'], MAX_TIMEOUT_S);
    if (typeof timeout === 'string') return bad(timeout);
    const config = values['config'] ?? 'auto';
    if (config !== 'auto' && config !== 'cfg2' && config !== 'cfg3') return bad(`--config: must be auto, cfg2 or cfg3, got ${JSON.stringify(config)}`);
    const o: ProbeOptions = { ...hp, idcode, frames: frames ?? 5, timeoutS: timeout ?? 10, config };
    const res = await probe(o, io);
    if (values['json']) {
      const doc = {
        stream: { host: o.host, port: o.port, idcode: o.idcode },
        config: res.cfg ? configJson(res.cfg) : null,
        header: res.header,
        frames: res.cfg ? res.frames.map((f) => frameJson(res.cfg!, f)) : [],
        measured: measured(res.frames),
        refused: res.rejected,
        ...(res.error ? { error: res.error } : {}),
      };
      io.out(JSON.stringify(doc, null, 2) + '\n');
    } else if (res.cfg) io.out(text(o, res));
    if (res.error) {
      io.err(`gridedge pmu probe: ${res.error}\n`);
      return res.error.startsWith(INTERRUPTED) ? interruptedExit(io.signal) : EXIT.unreachable;
    }
    return EXIT.ok;
  },
};
