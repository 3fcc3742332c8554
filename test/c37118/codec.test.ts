/**
 * The C37.118.2 codec against frames built byte by byte (bytes.ts, its own bitwise CRC): CRC known
 * answers, CFG-2 and CFG-3 fields, data in every FORMAT with PHUNIT/ANUNIT/PHSCALE/ANSCALE scaling,
 * multi-PMU frames, TIME_BASE to integer µs, time quality, command and header frames, the encoder's
 * round trip, each rejection reason, the stream splitter, and STAT to quality.
 */
import t from 'tap';
import {
  crcCcitt,
  decodeFrame,
  encodeCommand,
  encodeConfig,
  encodeData,
  encodeHeaderFrame,
  explainStat,
  FrameSplitter,
  readStat,
  toMicros,
  type ConfigFrame,
  type DataFrame,
  type Frame,
  type RejectReason,
} from '../../drivers/c37118/codec/index.js';
import { Bytes, crcBitwise, frame } from './bytes.js';

const SOC = 1_764_000_000;

function ok<T extends Frame>(r: ReturnType<typeof decodeFrame>): T {
  if (!r.ok) throw new Error(`refused: ${r.reason}: ${r.detail}`);
  return r.frame as T;
}

/** CFG-2 of one PMU: 3 integer rectangular phasors (VA, VB, IA), 1 analog, 1 digital word, 60 Hz. */
function cfg2Bytes(format = 0, opts: { idcode?: number; cfgcnt?: number; timeBase?: number } = {}): Buffer {
  const b = new Bytes()
    .u32(opts.timeBase ?? 1_000_000) // TIME_BASE
    .u16(1) // NUM_PMU
    .name16('STATION A')
    .u16(7734)
    .u16(format)
    .u16(3)
    .u16(1)
    .u16(1);
  for (const n of ['VA', 'VB', 'IA', 'ANALOG1']) b.name16(n);
  for (let k = 0; k < 16; k++) b.name16(k < 2 ? `BRK${k}` : '');
  b.u8(0).u24(915_527); // PHUNIT VA: voltage, 9.15527 V per bit
  b.u8(0).u24(915_527);
  b.u8(1).u24(45_776); // PHUNIT IA: current, 0.45776 A per bit
  b.u8(1).u24(2); // ANUNIT: RMS, scale 2
  b.u16(0x0000).u16(0x0003); // DIGUNIT: normal 0, bits 0-1 valid
  b.u16(0); // FNOM 60 Hz
  b.u16(opts.cfgcnt ?? 5);
  b.i16(30); // DATA_RATE
  return frame('cfg2', opts.idcode ?? 7734, SOC, 0, b);
}

t.test('CRC-CCITT known answers', async (t) => {
  t.equal(crcCcitt(Buffer.from('123456789')), 0x29b1, 'the CRC-16/CCITT-FALSE check value of "123456789"');
  t.equal(crcCcitt(Buffer.alloc(0)), 0xffff, 'empty input gives the initial value');
  t.equal(crcCcitt(Buffer.from([0x00])), 0xe1f0, 'a single zero byte');
  t.equal(crcCcitt(Buffer.from('A')), 0xb915, '"A"');
  let seed = 7;
  for (let n = 0; n < 200; n++) {
    const len = n * 3;
    const b = Buffer.alloc(len);
    for (let k = 0; k < len; k++) b[k] = (seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 16;
    if (crcCcitt(b) !== crcBitwise(b)) return t.fail(`table CRC differs from bitwise CRC for ${len} bytes`);
  }
  t.pass('table CRC equals the bitwise CRC on 200 random buffers');
});

t.test('CFG-2 built byte by byte', async (t) => {
  const c = ok<ConfigFrame>(decodeFrame(cfg2Bytes(0)));
  t.equal(c.kind, 'cfg2');
  t.equal(c.version, 2);
  t.equal(c.idcode, 7734);
  t.equal(c.soc, SOC);
  t.equal(c.timeBase, 1_000_000);
  t.equal(c.dataRate, 30);
  t.equal(c.pmus.length, 1);
  const p = c.pmus[0]!;
  t.equal(p.station, 'STATION A', 'STN without padding');
  t.equal(p.idcode, 7734);
  t.same(p.format, { polar: false, phasorFloat: false, analogFloat: false, freqFloat: false });
  t.same(p.phasors.map((x) => [x.name, x.kind, x.unitCount]), [['VA', 'voltage', 915_527], ['VB', 'voltage', 915_527], ['IA', 'current', 45_776]]);
  t.ok(Math.abs(p.phasors[0]!.scale - 9.15527) < 1e-12, 'PHUNIT 915527 is 9.15527 V per bit');
  t.same(p.analogs, [{ name: 'ANALOG1', kind: 1, scale: 2, offset: 0 }]);
  t.equal(p.digitals.length, 1);
  t.same(p.digitals[0]!.names.slice(0, 3), ['BRK0', 'BRK1', '']);
  t.equal(p.digitals[0]!.valid, 3);
  t.equal(p.fnom, 60);
  t.equal(p.cfgcnt, 5);
  t.same(encodeConfig(c), cfg2Bytes(0), 'the encoder gives back the same bytes');
  const c1 = ok<ConfigFrame>(decodeFrame(frame('cfg1', 7734, SOC, 0, [...cfg2Bytes(0).subarray(14, -2)])));
  t.equal(c1.kind, 'cfg1', 'CFG-1 has the CFG-2 layout');
  t.same(c1.pmus, c.pmus);
});

t.test('data frames in every FORMAT, scaled', async (t) => {
  // Integer rectangular: VA = (1000, 0) counts, VB = (-500, -866), IA = (0, 200).
  const cfg = ok<ConfigFrame>(decodeFrame(cfg2Bytes(0)));
  const body = new Bytes().u16(0x0000).i16(1000).i16(0).i16(-500).i16(-866).i16(0).i16(200).i16(-25).i16(150).i16(1234).u16(0x0002);
  const d = ok<DataFrame>(decodeFrame(frame('data', 7734, SOC, 500_000, body), cfg));
  t.equal(d.ts, SOC * 1e6 + 500_000, 'SOC + FRACSEC/TIME_BASE in µs');
  const b = d.pmus[0]!;
  t.ok(Math.abs(b.mag[0]! - 9155.27) < 1e-6, `VA magnitude 1000 × 9.15527 V (${b.mag[0]})`);
  t.equal(b.ang[0], 0);
  t.ok(Math.abs(b.mag[1]! - Math.hypot(500, 866) * 9.15527) < 1e-6, 'VB magnitude');
  t.ok(Math.abs(b.ang[1]! - (Math.atan2(-866, -500) * 180) / Math.PI) < 1e-9, 'VB angle in degrees');
  t.ok(Math.abs(b.mag[2]! - 200 * 0.45776) < 1e-9 && Math.abs(b.ang[2]! - 90) < 1e-12, 'IA 200 × 0.45776 A at 90°');
  t.ok(Math.abs(b.freq - 59.975) < 1e-9, 'FREQ -25 mHz from 60 Hz');
  t.ok(Math.abs(b.rocof - 1.5) < 1e-12, 'DFREQ 150 is 1.5 Hz/s');
  t.equal(b.analogs[0], 2468, 'analog 1234 × ANUNIT scale 2');
  t.equal(b.digitals[0], 2);

  // Integer polar: magnitude unsigned, angle in 10^-4 rad.
  const polar = ok<ConfigFrame>(decodeFrame(cfg2Bytes(1)));
  const pb = new Bytes().u16(0).u16(40000).i16(-20944).u16(100).i16(31416).u16(0).i16(0).i16(0).i16(0).i16(0).u16(0);
  const pd = ok<DataFrame>(decodeFrame(frame('data', 7734, SOC, 0, pb), polar)).pmus[0]!;
  t.ok(Math.abs(pd.mag[0]! - 40000 * 9.15527) < 1e-6, 'unsigned magnitude above 32767');
  t.ok(Math.abs(pd.ang[0]! - (-2.0944 * 180) / Math.PI) < 1e-9, 'angle -2.0944 rad');
  t.ok(Math.abs(Math.abs(pd.ang[1]!) - 180) < 0.01, '3.1416 rad is about ±180° (angles wrap to (-180, 180])');
  t.equal(pd.freq, 60, 'FREQ 0 is nominal');

  // Float everything, polar (FORMAT 0b1111): no PHUNIT scaling for float in CFG-2.
  const fl = ok<ConfigFrame>(decodeFrame(cfg2Bytes(15)));
  const fb = new Bytes().u16(0).f32(230.5).f32(0.5).f32(229).f32(-1.5).f32(10).f32(-0.25).f32(50.02).f32(-0.1).f32(3.25).u16(1);
  const fd = ok<DataFrame>(decodeFrame(frame('data', 7734, SOC, 0, fb), fl)).pmus[0]!;
  t.ok(Math.abs(fd.mag[0]! - 230.5) < 1e-4 && Math.abs(fd.ang[0]! - (0.5 * 180) / Math.PI) < 1e-4, 'float polar VA');
  t.ok(Math.abs(fd.freq - 50.02) < 1e-4, 'float FREQ is the frequency in Hz');
  t.ok(Math.abs(fd.rocof + 0.1) < 1e-6, 'float DFREQ');
  t.equal(fd.analogs[0], 3.25, 'float analog is not scaled by ANUNIT');

  // Float rectangular (FORMAT 0b1110).
  const fr = ok<ConfigFrame>(decodeFrame(cfg2Bytes(14)));
  const rb = new Bytes().u16(0).f32(0).f32(230).f32(3).f32(4).f32(-10).f32(0).f32(60).f32(0).f32(0).u16(0);
  const rd = ok<DataFrame>(decodeFrame(frame('data', 7734, SOC, 0, rb), fr)).pmus[0]!;
  t.same([rd.mag[0], rd.ang[0], rd.mag[1], rd.mag[2], rd.ang[2]], [230, 90, 5, 10, 180], 'float rectangular to magnitude and angle');

  // Absent values: 0x8000 in integer fields.
  const nb = new Bytes().u16(0).u16(0x8000).u16(0x8000).i16(0).i16(0).i16(0).i16(0).u16(0x8000).i16(0).u16(0x8000).u16(0);
  const nd = ok<DataFrame>(decodeFrame(frame('data', 7734, SOC, 0, nb), cfg)).pmus[0]!;
  t.ok(Number.isNaN(nd.mag[0]!) && Number.isNaN(nd.ang[0]!), 'phasor 0x8000 is no value');
  t.ok(Number.isNaN(nd.freq), 'FREQ 0x8000 is no value');
  t.ok(Number.isNaN(nd.analogs[0]!), 'analog 0x8000 is no value');
});

/** CFG-3 of two PMUs: one float polar with phasor types, one integer rectangular with a scale. */
function cfg3Bytes(): Buffer {
  const b = new Bytes().u16(0).u32(0x00ffffff & 1_000_000).u16(2);
  // PMU 1
  b.name('Sub Nord').u16(101).raw(Buffer.alloc(16, 0xab)).u16(0x000f).u16(2).u16(1).u16(0);
  b.name('U1').name('I1').name('TEMP');
  b.u16(0).u8(0x04).u8(0).f32(1).f32(0); // U1: voltage, phase A
  b.u16(0x0020).u8(0x0e).u8(7).f32(1).f32(0); // I1: current, phase C, phase-adjusted for calibration flag
  b.f32(0.5).f32(-10); // ANSCALE: M 0.5, B -10
  b.f32(47.5).f32(7.25).f32(Infinity).u8('P'.charCodeAt(0)).u32(40_000).u32(20_000).u16(1).u16(9);
  // PMU 2
  b.name('Sub Sud').u16(102).raw(Buffer.alloc(16, 0)).u16(0x0000).u16(1).u16(0).u16(0);
  b.name('V1');
  b.u16(0).u8(0x01).u8(0).f32(0.01).f32(Math.PI / 2); // positive sequence voltage, scale 0.01 V/bit, +90°
  b.f32(Infinity).f32(Infinity).f32(Infinity).u8('M'.charCodeAt(0)).u32(0xffffffff).u32(0).u16(1).u16(3);
  b.i16(-5); // DATA_RATE: one frame per 5 s
  return frame('cfg3', 900, SOC, 0, b);
}

t.test('CFG-3 built byte by byte, and a two-PMU data frame', async (t) => {
  const c = ok<ConfigFrame>(decodeFrame(cfg3Bytes()));
  t.equal(c.kind, 'cfg3');
  t.equal(c.contIdx, 0);
  t.equal(c.dataRate, -5);
  t.equal(c.pmus.length, 2);
  const [p1, p2] = c.pmus as [ConfigFrame['pmus'][0], ConfigFrame['pmus'][0]];
  t.equal(p1.station, 'Sub Nord');
  t.equal(p1.cfg3?.globalId, 'ab'.repeat(16));
  t.same(p1.phasors.map((x) => [x.name, x.kind, x.component, x.modification]), [['U1', 'voltage', 'a', 0], ['I1', 'current', 'c', 0x20]]);
  t.equal(p1.phasors[1]!.userByte, 7);
  t.same(p1.analogs, [{ name: 'TEMP', scale: 0.5, offset: -10 }]);
  t.same({ ...p1.cfg3, globalId: undefined }, { globalId: undefined, lat: 47.5, lon: 7.25, elev: null, svcClass: 'P', windowUs: 40_000, groupDelayUs: 20_000 }, 'location, service class, window, group delay');
  t.equal(p1.fnom, 50);
  t.equal(p1.cfgcnt, 9);
  t.equal(p2.phasors[0]!.component, 'pos');
  t.equal(p2.cfg3?.windowUs, -1, 'WINDOW is signed');
  t.equal(p2.cfg3?.lat, null, 'infinity means unspecified');
  t.same(encodeConfig(c), cfg3Bytes(), 'the encoder gives back the same bytes');

  const d = new Bytes();
  d.u16(0x2000).f32(231).f32(0).f32(12).f32(-Math.PI / 6).f32(50.001).f32(0.02).f32(100); // PMU 1 (sync lost)
  d.u16(0).i16(0).i16(23000).i16(-100).i16(0); // PMU 2: (0, 23000) × 0.01 rotated by +90°
  const df = ok<DataFrame>(decodeFrame(frame('data', 900, SOC, 250_000, d), c));
  t.equal(df.pmus.length, 2);
  t.equal(df.pmus[0]!.stat, 0x2000);
  t.ok(Math.abs(df.pmus[0]!.ang[1]! + 30) < 1e-4, 'I1 at -30°');
  t.equal(df.pmus[0]!.analogs[0], 40, 'ANSCALE: 100 × 0.5 - 10');
  t.ok(Math.abs(df.pmus[1]!.mag[0]! - 230) < 1e-4, 'PHSCALE Y scales integer data');
  t.ok(Math.abs(Math.abs(df.pmus[1]!.ang[0]!) - 180) < 1e-4, 'PHSCALE angle adjustment added (90° + 90°)');
  t.ok(Math.abs(df.pmus[1]!.freq - 49.9) < 1e-9, 'FREQ from the 50 Hz nominal');
});

t.test('TIME_BASE to integer microseconds', async (t) => {
  t.equal(toMicros(SOC, 0, 1_000_000), SOC * 1e6);
  t.equal(toMicros(SOC, 999_999, 1_000_000), SOC * 1e6 + 999_999);
  t.equal(toMicros(SOC, 1, 3), SOC * 1e6 + 333_333, 'rounded to the nearest µs');
  t.equal(toMicros(SOC, 2, 3), SOC * 1e6 + 666_667);
  t.equal(toMicros(SOC, 0xffffff - 1, 0xffffff), SOC * 1e6 + 1_000_000 - 0, 'the largest TIME_BASE rounds up to the next second edge');
  t.equal(toMicros(0xffffffff, 1, 2), 0xffffffff * 1e6 + 500_000, 'the largest SOC stays an exact integer');
  const cfg = ok<ConfigFrame>(decodeFrame(cfg2Bytes(0, { timeBase: 0x1000000 - 1 })));
  t.equal(cfg.timeBase, 0xffffff);
  const body = new Bytes().u16(0).raw(Buffer.alloc(12)).i16(0).i16(0).i16(0).u16(0);
  const d = ok<DataFrame>(decodeFrame(frame('data', 7734, SOC, 0x7fffff, body, { tq: 0x1b }), cfg));
  t.equal(d.ts, SOC * 1e6 + Math.round((0x7fffff * 1e6) / 0xffffff));
  t.equal(d.timeQuality, 0x1b, 'the time quality byte is kept');
  const late = decodeFrame(frame('data', 7734, SOC, 0xffffff, body), cfg);
  t.equal(late.ok ? '' : late.reason, 'bad_time', 'FRACSEC not below TIME_BASE is refused');
});

t.test('command and header frames', async (t) => {
  const bytes = frame('command', 7734, SOC, 0, new Bytes().u16(5));
  t.same(encodeCommand({ idcode: 7734, soc: SOC, fracsec: 0 }, 'sendCfg2'), bytes, 'send CFG-2 command, byte for byte');
  const cmd = ok(decodeFrame(bytes));
  t.equal(cmd.kind, 'command');
  t.equal(cmd.kind === 'command' ? cmd.cmd : 0, 5);
  for (const [name, code] of [['dataOff', 1], ['dataOn', 2], ['sendHeader', 3], ['sendCfg1', 4], ['sendCfg3', 6]] as const) {
    const f = ok(decodeFrame(encodeCommand({ idcode: 1, soc: 0, fracsec: 0 }, name)));
    t.equal(f.kind === 'command' ? f.cmd : -1, code, `${name} is CMD ${code}`);
  }
  const ext = ok(decodeFrame(encodeCommand({ idcode: 1, soc: 0, fracsec: 0 }, 'extended', Buffer.from([1, 2, 3]))));
  t.same(ext.kind === 'command' ? [...ext.ext] : [], [1, 2, 3], 'EXTFRAME bytes');
  const hb = frame('header', 7734, SOC, 0, [...Buffer.from('PMU at Sub Nord, firmware 2.1')]);
  const h = ok(decodeFrame(hb));
  t.equal(h.kind === 'header' ? h.text : '', 'PMU at Sub Nord, firmware 2.1');
  t.same(encodeHeaderFrame({ idcode: 7734, soc: SOC, fracsec: 0 }, 'PMU at Sub Nord, firmware 2.1'), hb);
  const v1 = ok(decodeFrame(frame('command', 1, 0, 0, new Bytes().u16(2), { version: 1 })));
  t.equal(v1.version, 1, '2005 frames (version 1) decode too');
});

t.test('data round trip through the encoder in every FORMAT', async (t) => {
  for (let format = 0; format < 16; format++) {
    const cfg = ok<ConfigFrame>(decodeFrame(cfg2Bytes(format)));
    const values = { stat: 0x0840, mag: [230.4 * 40, 229.1 * 40, 10.2], ang: [12.5, -107.25, 170], freq: 59.987, rocof: -0.42, analogs: [84], digitals: [0x8001] };
    const d = ok<DataFrame>(decodeFrame(encodeData(cfg, { soc: SOC, fracsec: 20_000 }, [values]), cfg));
    const b = d.pmus[0]!;
    const intPh = (format & 2) === 0;
    for (let k = 0; k < 3; k++) {
      const tolMag = intPh ? cfg.pmus[0]!.phasors[k]!.scale : values.mag[k]! * 1e-6;
      if (Math.abs(b.mag[k]! - values.mag[k]!) > tolMag) t.fail(`FORMAT ${format} phasor ${k} magnitude ${b.mag[k]} vs ${values.mag[k]}`);
      const tolAng = intPh ? 0.4 : 1e-4;
      if (Math.abs(b.ang[k]! - values.ang[k]!) > tolAng) t.fail(`FORMAT ${format} phasor ${k} angle ${b.ang[k]} vs ${values.ang[k]}`);
    }
    t.ok(Math.abs(b.freq - values.freq) < 1e-3 && Math.abs(b.rocof - values.rocof) < 0.01, `FORMAT ${format}: frequency and ROCOF`);
    t.equal(b.analogs[0], 84, `FORMAT ${format}: analog`);
    t.equal(b.digitals[0], 0x8001);
    t.equal(b.stat, 0x0840);
    t.equal(d.ts, SOC * 1e6 + 20_000);
  }
});

t.test('every rejection names its reason', async (t) => {
  const cfg = ok<ConfigFrame>(decodeFrame(cfg2Bytes(0)));
  const good = encodeData(cfg, { soc: SOC, fracsec: 0 }, [{ stat: 0, mag: [1, 1, 1], ang: [0, 0, 0], freq: 60, rocof: 0, analogs: [0], digitals: [0] }]);
  const reason = (r: ReturnType<typeof decodeFrame>): RejectReason | 'ok' => (r.ok ? 'ok' : r.reason);
  const flip = Buffer.from(good);
  flip[20]! ^= 0x10;
  t.equal(reason(decodeFrame(flip, cfg)), 'bad_crc', 'a flipped bit fails CHK');
  t.equal(reason(decodeFrame(good.subarray(0, 10), cfg)), 'truncated', 'shorter than a header');
  t.equal(reason(decodeFrame(good.subarray(0, good.length - 1), cfg)), 'truncated', 'shorter than FRAMESIZE');
  t.equal(reason(decodeFrame(Buffer.concat([good, Buffer.from([0])]), cfg)), 'bad_length', 'longer than FRAMESIZE');
  t.equal(reason(decodeFrame(good)), 'no_config', 'data before any configuration');
  const other = ok<ConfigFrame>(decodeFrame(cfg2Bytes(0, { idcode: 1 })));
  t.equal(reason(decodeFrame(good, other)), 'idcode_mismatch');
  const big = frame('data', 7734, SOC, 0, [...good.subarray(14, -2), 0, 0]);
  t.equal(reason(decodeFrame(big, cfg)), 'size_mismatch', 'a data frame larger than its configuration says');
  const float = ok<ConfigFrame>(decodeFrame(cfg2Bytes(15)));
  t.equal(reason(decodeFrame(good, float)), 'size_mismatch', 'a configuration that contradicts the data');
  t.equal(reason(decodeFrame(frame('data', 1, 0, 0, []).fill(0x55, 0, 1))), 'bad_sync');
  const t6 = frame('data', 1, 0, 0, []);
  t6[1] = 0x62;
  t.equal(reason(decodeFrame(t6)), 'unknown_type');
  const lie = cfg2Bytes(0);
  const cut = frame('cfg2', 7734, SOC, 0, [...lie.subarray(14, -6)]);
  const r = decodeFrame(cut);
  t.equal(reason(r), 'bad_config', 'a configuration cut short');
  t.match(r.ok ? '' : r.detail, /CFGCNT|FNOM|DATA_RATE/, 'the detail names the field');
  const huge = new Bytes().u32(1_000_000).u16(1).name16('X').u16(1).u16(0).u16(60000).u16(0).u16(0);
  t.equal(reason(decodeFrame(frame('cfg2', 1, 0, 0, huge))), 'bad_config', 'PHNMR larger than the frame can hold');
  t.equal(reason(decodeFrame(frame('cfg2', 1, 0, 0, new Bytes().u32(0).u16(0).i16(1)))), 'bad_config', 'TIME_BASE 0');
  t.equal(reason(decodeFrame(frame('cfg3', 1, 0, 0, new Bytes().u16(1).u32(1e6).u16(0).i16(1)))), 'fragmented_config');
  t.equal(reason(decodeFrame(frame('command', 1, 0, 0, []))), 'bad_command');
});

t.test('the stream splitter: any cut, garbage, a corrupt frame in the middle', async (t) => {
  const cfg = cfg2Bytes(0);
  const cmd = encodeCommand({ idcode: 7734, soc: SOC, fracsec: 0 }, 'dataOn');
  const stream = Buffer.concat([Buffer.from([1, 2, 3, 0xaa]), cfg, cmd]);
  for (let cutAt = 0; cutAt <= stream.length; cutAt++) {
    const got: Buffer[] = [];
    const bad: string[] = [];
    const s = new FrameSplitter({ onFrame: (f) => got.push(Buffer.from(f)), onReject: (r) => bad.push(r) });
    s.push(stream.subarray(0, cutAt));
    s.push(stream.subarray(cutAt));
    if (got.length !== 2 || !got[0]!.equals(cfg) || !got[1]!.equals(cmd)) return t.fail(`cut at ${cutAt}: got ${got.length} frames`);
    if (bad.join() !== 'garbage') return t.fail(`cut at ${cutAt}: rejections ${bad.join()}`);
  }
  t.pass('two frames and one garbage report for every cut point');
  const corrupt = Buffer.from(cfg);
  corrupt[40]! ^= 1;
  const got: Buffer[] = [];
  const bad: string[] = [];
  const s = new FrameSplitter({ onFrame: (f) => got.push(Buffer.from(f)), onReject: (r) => bad.push(r) });
  for (const byte of Buffer.concat([cmd, corrupt, cmd])) s.push(Buffer.from([byte]));
  t.equal(got.length, 2, 'the frames around a corrupt one survive');
  t.ok(bad.includes('bad_crc'), `the corrupt frame is reported (${bad.join()})`);
  s.push(cmd.subarray(0, 5));
  t.equal(s.buffered, 5, 'a partial frame is held');
  s.reset();
  t.ok(bad.includes('truncated'), 'a partial frame at reset is reported as truncated');
  t.equal(s.buffered, 0);
});

t.test('STAT and time quality to quality and reasons', async (t) => {
  t.same(readStat(0, 0, 100), { quality: 'good', reasons: [] });
  t.same(readStat(0xc000, 0, 100), { quality: 'invalid', reasons: ['stat:data_error', 'stat:pmu_error'] });
  t.same(readStat(0x8000, 0, 100).quality, 'invalid', 'test mode');
  t.same(readStat(0x4000, 0, 100), { quality: 'questionable', reasons: ['stat:pmu_error'] });
  t.same(readStat(0x2000, 0, 100), { quality: 'questionable', reasons: ['stat:sync_lost', 'clock_unsync'] });
  t.same(readStat(0x1000, 0, 100), { quality: 'questionable', reasons: ['stat:sorted_by_arrival'] });
  t.same(readStat(0x0800 | 0x0400 | 0x0200, 0x10, 100), { quality: 'good', reasons: ['stat:trigger', 'stat:config_change', 'stat:data_modified', 'time:leap_pending'] });
  t.same(readStat(5 << 6, 0, 100), { quality: 'questionable', reasons: ['stat:time_error', 'clock_unsync'] }, 'STAT time error < 1 ms is beyond a 100 µs bound');
  t.same(readStat(5 << 6, 0, 1000).quality, 'good', '... and within a 1 ms bound');
  t.same(readStat(0, 0x0f, 1e9), { quality: 'questionable', reasons: ['time:clock_fault', 'clock_unsync'] }, 'clock failure whatever the bound');
  t.same(readStat(0, 0x06, 10), { quality: 'questionable', reasons: ['time:unlocked', 'clock_unsync'] }, 'time quality code 6 (100 µs) beyond 10 µs');
  t.same(readStat(0, 0x06, 100).quality, 'good');
  t.same(explainStat(0), ['good']);
  t.match(explainStat(0x2800 | 4).join('; '), /not in sync.*trigger detected \(frequency high or low\)/);
});

t.test('CFG-3 in fragments (CONT_IDX 1, 2, 0xFFFF) joined', async (t) => {
  const whole = cfg3Bytes();
  const body = whole.subarray(16, whole.length - 2); // after CONT_IDX, before CHK
  const cut = [0, 40, 90, body.length];
  const idx = [1, 2, 0xffff];
  const frags = idx.map((c, k) => frame('cfg3', 900, SOC, 0, new Bytes().u16(c).raw(body.subarray(cut[k]!, cut[k + 1]!))));
  const { decodeCfg3Fragments } = await import('../../drivers/c37118/codec/index.js');
  const joined = decodeCfg3Fragments(frags);
  const single = ok<ConfigFrame>(decodeFrame(whole));
  if (!joined.ok) return t.fail(joined.detail);
  t.same(joined.frame.pmus, single.pmus, 'the same PMU blocks as the configuration in one frame');
  t.equal(joined.frame.dataRate, single.dataRate);
  t.equal(decodeFrame(frags[0]!).ok ? 'ok' : (decodeFrame(frags[0]!) as { reason: string }).reason, 'fragmented_config', 'one fragment alone is refused');
  const wrong = decodeCfg3Fragments([frags[0]!, frags[0]!, frags[2]!]);
  t.equal(wrong.ok ? 'ok' : wrong.reason, 'fragmented_config', 'out of sequence');
  t.match(wrong.ok ? '' : wrong.detail, /fragment 2: CONT_IDX 1 where 2 was expected/);
});
