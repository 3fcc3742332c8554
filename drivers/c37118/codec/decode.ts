/**
 * Decoding of IEEE C37.118.2 frames: pure functions over one complete frame (the stream splitter,
 * splitter.ts, cuts a byte stream into frames). Nothing here throws to its caller: every problem is
 * returned as a rejection naming the reason (a counter label) and where in the frame it was found.
 * Allocation is bounded by the frame's own length: channel counts are checked against the bytes left
 * before anything is allocated for them.
 */
import { crcCcitt } from './crc.js';
import {
  FRAME_KIND_BY_CODE,
  HEADER_BYTES,
  MIN_FRAME_BYTES,
  type AnalogChannel,
  type CommandFrame,
  type ConfigFrame,
  type DataFormat,
  type DataFrame,
  type Decoded,
  type DigitalWord,
  type Frame,
  type FrameHeader,
  type HeaderFrame,
  type PhasorChannel,
  type PhasorComponent,
  type PmuConfig,
  type PmuData,
  type RejectReason,
  type Rejected,
} from './types.js';

/** Thrown inside this module only, caught by the exported functions and turned into a rejection. */
class Refuse extends Error {
  constructor(
    readonly reason: RejectReason,
    readonly detail: string,
  ) {
    super(detail);
  }
}

const refuse = (reason: RejectReason, detail: string): Rejected => ({ ok: false, reason, detail });

/** Bounds-checked big-endian reader over one frame (the CHK word excluded from `end`). */
class Reader {
  pos: number;
  private readonly dv: DataView;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
    private readonly what: string,
  ) {
    this.pos = start;
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  need(n: number, field: string): void {
    if (n < 0 || this.pos + n > this.end)
      throw new Refuse('bad_config', `${this.what}: ${field} needs ${n} bytes at offset ${this.pos}, only ${Math.max(0, this.end - this.pos)} left before CHK`);
  }
  u8(field: string): number {
    this.need(1, field);
    return this.buf[this.pos++]!;
  }
  u16(field: string): number {
    this.need(2, field);
    const v = (this.buf[this.pos]! << 8) | this.buf[this.pos + 1]!;
    this.pos += 2;
    return v;
  }
  i16(field: string): number {
    const v = this.u16(field);
    return v & 0x8000 ? v - 0x10000 : v;
  }
  u32(field: string): number {
    this.need(4, field);
    const v = this.dv.getUint32(this.pos);
    this.pos += 4;
    return v;
  }
  i32(field: string): number {
    this.need(4, field);
    const v = this.dv.getInt32(this.pos);
    this.pos += 4;
    return v;
  }
  f32(field: string): number {
    this.need(4, field);
    const v = this.dv.getFloat32(this.pos);
    this.pos += 4;
    return v;
  }
  bytes(n: number, field: string): Uint8Array {
    this.need(n, field);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  /** A fixed 16-byte ASCII name (CFG-1/2), trailing spaces and NULs removed. */
  fixedName(field: string): string {
    return asciiName(this.bytes(16, field));
  }
  /** A CFG-3 name: one length byte, then that many UTF-8 bytes. */
  lengthName(field: string): string {
    const n = this.u8(`${field} length`);
    return Buffer.from(this.bytes(n, field)).toString('utf8').replace(/[\s\0]+$/, '');
  }
}

function asciiName(b: Uint8Array): string {
  let end = b.length;
  while (end > 0 && (b[end - 1] === 0x20 || b[end - 1] === 0)) end--;
  let s = '';
  for (let k = 0; k < end; k++) s += String.fromCharCode(b[k]!);
  return s;
}

/**
 * The common header of a complete frame: SYNC, FRAMESIZE (must equal the bytes given), IDCODE, SOC,
 * FRACSEC, and CHK (must match). Everything else about the frame is left to `decodeFrame`.
 */
export function decodeHeader(buf: Uint8Array): Decoded<FrameHeader> {
  if (buf.length < MIN_FRAME_BYTES) return refuse('truncated', `frame of ${buf.length} bytes is shorter than the ${MIN_FRAME_BYTES}-byte minimum`);
  if (buf[0] !== 0xaa) return refuse('bad_sync', `SYNC byte 0 is 0x${buf[0]!.toString(16)}, not 0xaa`);
  const s1 = buf[1]!;
  if (s1 & 0x80) return refuse('bad_sync', `SYNC byte 1 (0x${s1.toString(16)}) has the reserved bit 7 set`);
  const kind = FRAME_KIND_BY_CODE[(s1 >> 4) & 7];
  if (kind === undefined) return refuse('unknown_type', `SYNC frame type ${(s1 >> 4) & 7} is not a C37.118 frame type`);
  const version = s1 & 0x0f;
  const size = (buf[2]! << 8) | buf[3]!;
  if (size < MIN_FRAME_BYTES) return refuse('bad_length', `FRAMESIZE ${size} is below the ${MIN_FRAME_BYTES}-byte minimum`);
  if (size > buf.length) return refuse('truncated', `FRAMESIZE ${size} but only ${buf.length} bytes`);
  if (size < buf.length) return refuse('bad_length', `FRAMESIZE ${size} but ${buf.length} bytes were given`);
  const chk = (buf[size - 2]! << 8) | buf[size - 1]!;
  const crc = crcCcitt(buf, 0, size - 2);
  if (chk !== crc) return refuse('bad_crc', `CHK 0x${chk.toString(16).padStart(4, '0')} but the CRC of the frame is 0x${crc.toString(16).padStart(4, '0')}`);
  const idcode = (buf[4]! << 8) | buf[5]!;
  const soc = ((buf[6]! << 24) >>> 0) + ((buf[7]! << 16) | (buf[8]! << 8) | buf[9]!);
  const timeQuality = buf[10]!;
  const fracsec = (buf[11]! << 16) | (buf[12]! << 8) | buf[13]!;
  return { ok: true, frame: { kind, version, size, idcode, soc, fracsec, timeQuality } };
}

function formatOf(w: number): DataFormat {
  return { polar: (w & 1) !== 0, phasorFloat: (w & 2) !== 0, analogFloat: (w & 4) !== 0, freqFloat: (w & 8) !== 0 };
}

const COMPONENTS: readonly (PhasorComponent | undefined)[] = ['zero', 'pos', 'neg', undefined, 'a', 'b', 'c', undefined];

/** Finite float or null (CFG-3 uses infinity for "unspecified"). */
const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

function decodeConfig(buf: Uint8Array, h: FrameHeader): ConfigFrame {
  const kind = h.kind as 'cfg1' | 'cfg2' | 'cfg3';
  const cfg3 = kind === 'cfg3';
  const r = new Reader(buf, HEADER_BYTES, h.size - 2, kind.toUpperCase());
  let contIdx: number | undefined;
  if (cfg3) {
    contIdx = r.u16('CONT_IDX');
    if (contIdx !== 0) throw new Refuse('fragmented_config', `CFG-3 CONT_IDX ${contIdx}: one fragment of a configuration sent in several frames (decodeCfg3Fragments joins them)`);
  }
  const tbWord = r.u32('TIME_BASE');
  const timeBase = tbWord & 0xffffff;
  if (timeBase === 0) throw new Refuse('bad_config', `${kind.toUpperCase()}: TIME_BASE is 0`);
  const numPmu = r.u16('NUM_PMU');
  // Each PMU block takes at least 30 bytes (CFG-1/2: STN 16 + 7 words) or 44 (CFG-3): refuse counts that cannot fit.
  const minBlock = cfg3 ? 44 : 30;
  r.need(numPmu * minBlock, `NUM_PMU ${numPmu} PMU blocks`);
  const pmus: PmuConfig[] = [];
  for (let p = 0; p < numPmu; p++) {
    const where = `PMU block ${p + 1}`;
    const station = cfg3 ? r.lengthName(`${where} STN`) : r.fixedName(`${where} STN`);
    const idcode = r.u16(`${where} IDCODE`);
    const globalId = cfg3 ? hex(r.bytes(16, `${where} G_PMU_ID`)) : '';
    const format = formatOf(r.u16(`${where} FORMAT`));
    const phnmr = r.u16(`${where} PHNMR`);
    const annmr = r.u16(`${where} ANNMR`);
    const dgnmr = r.u16(`${where} DGNMR`);
    const names = phnmr + annmr + 16 * dgnmr;
    // Bytes these counts need at least, checked before any per-channel allocation.
    const perChannel = cfg3 ? phnmr * 13 + annmr * 9 + dgnmr * (16 + 4) : names * 16 + phnmr * 4 + annmr * 4 + dgnmr * 4;
    r.need(perChannel, `${where} channels (PHNMR ${phnmr}, ANNMR ${annmr}, DGNMR ${dgnmr})`);
    const nameList: string[] = [];
    for (let k = 0; k < names; k++) nameList.push(cfg3 ? r.lengthName(`${where} CHNAM ${k + 1}`) : r.fixedName(`${where} CHNAM ${k + 1}`));
    const phasors: PhasorChannel[] = [];
    const analogs: AnalogChannel[] = [];
    const digitals: DigitalWord[] = [];
    if (cfg3) {
      for (let k = 0; k < phnmr; k++) {
        const modification = r.u16(`${where} PHSCALE ${k + 1} flags`);
        const type = r.u8(`${where} PHSCALE ${k + 1} type`);
        const userByte = r.u8(`${where} PHSCALE ${k + 1} user byte`);
        const scale = r.f32(`${where} PHSCALE ${k + 1} scale`);
        const angleOffset = r.f32(`${where} PHSCALE ${k + 1} angle`);
        if (!Number.isFinite(scale) || !Number.isFinite(angleOffset))
          throw new Refuse('bad_config', `${where} PHSCALE ${k + 1}: scale ${scale} or angle adjustment ${angleOffset} is not a finite number`);
        const ch: PhasorChannel = { name: nameList[k]!, kind: type & 8 ? 'current' : 'voltage', scale, angleOffset, modification, userByte };
        const component = COMPONENTS[type & 7];
        if (component) ch.component = component;
        phasors.push(ch);
      }
      for (let k = 0; k < annmr; k++) {
        const scale = r.f32(`${where} ANSCALE ${k + 1} M`);
        const offset = r.f32(`${where} ANSCALE ${k + 1} B`);
        if (!Number.isFinite(scale) || !Number.isFinite(offset)) throw new Refuse('bad_config', `${where} ANSCALE ${k + 1}: M ${scale} or B ${offset} is not a finite number`);
        analogs.push({ name: nameList[phnmr + k]!, scale, offset });
      }
    } else {
      for (let k = 0; k < phnmr; k++) {
        const type = r.u8(`${where} PHUNIT ${k + 1} type`);
        if (type > 1) throw new Refuse('bad_config', `${where} PHUNIT ${k + 1}: type ${type} is neither 0 (voltage) nor 1 (current)`);
        const b1 = r.u8('PHUNIT'), b2 = r.u8('PHUNIT'), b3 = r.u8('PHUNIT');
        const unitCount = (b1 << 16) | (b2 << 8) | b3;
        phasors.push({ name: nameList[k]!, kind: type === 1 ? 'current' : 'voltage', scale: unitCount * 1e-5, unitCount });
      }
      for (let k = 0; k < annmr; k++) {
        const kindByte = r.u8(`${where} ANUNIT ${k + 1} type`);
        const b1 = r.u8('ANUNIT'), b2 = r.u8('ANUNIT'), b3 = r.u8('ANUNIT');
        let s = (b1 << 16) | (b2 << 8) | b3;
        if (s & 0x800000) s -= 0x1000000;
        analogs.push({ name: nameList[phnmr + k]!, kind: kindByte, scale: s, offset: 0 });
      }
    }
    for (let k = 0; k < dgnmr; k++) {
      const normal = r.u16(`${where} DIGUNIT ${k + 1} normal`);
      const valid = r.u16(`${where} DIGUNIT ${k + 1} valid`);
      const base = phnmr + annmr + 16 * k;
      digitals.push({ names: nameList.slice(base, base + 16), normal, valid });
    }
    let extras: PmuConfig['cfg3'];
    if (cfg3) {
      const lat = r.f32(`${where} PMU_LAT`);
      const lon = r.f32(`${where} PMU_LON`);
      const elev = r.f32(`${where} PMU_ELEV`);
      const svc = r.u8(`${where} SVC_CLASS`);
      const windowUs = r.i32(`${where} WINDOW`);
      const groupDelayUs = r.i32(`${where} GRP_DLY`);
      extras = { globalId, lat: finiteOrNull(lat), lon: finiteOrNull(lon), elev: finiteOrNull(elev), svcClass: String.fromCharCode(svc), windowUs, groupDelayUs };
    }
    const fnom: 50 | 60 = r.u16(`${where} FNOM`) & 1 ? 50 : 60;
    const cfgcnt = r.u16(`${where} CFGCNT`);
    const pmu: PmuConfig = { station, idcode, format, phasors, analogs, digitals, fnom, cfgcnt };
    if (extras) pmu.cfg3 = extras;
    pmus.push(pmu);
  }
  const dataRate = r.i16('DATA_RATE');
  if (r.pos !== r.end) throw new Refuse('bad_config', `${kind.toUpperCase()}: ${r.end - r.pos} bytes left over after DATA_RATE (FRAMESIZE ${h.size} contradicts the PMU blocks)`);
  const out: ConfigFrame = { ...h, kind, timeBase, timeBaseFlags: tbWord >>> 24, pmus, dataRate };
  if (contIdx !== undefined) out.contIdx = contIdx;
  return out;
}

/** Most bytes a CFG-3 sent in fragments may add up to (the reassembly buffer's bound). */
export const MAX_CFG3_BYTES = 1 << 20;

/**
 * A CFG-3 sent in several frames (CONT_IDX 1, 2, … , then 0xFFFF for the last), each a complete frame
 * whose CHK was checked: the parts after CONT_IDX are joined in order and decoded as one
 * configuration (which may exceed the 65535-byte frame limit; that is why it was split). The
 * returned frame has the first fragment's header, `contIdx` 0 and `size` the joined length.
 */
export function decodeCfg3Fragments(frames: readonly Uint8Array[]): Decoded<ConfigFrame> {
  const first = frames[0] ? decodeHeader(frames[0]) : refuse('fragmented_config', 'no fragments');
  if (!first.ok) return first;
  let total = HEADER_BYTES + 2 + 2;
  for (const [k, f] of frames.entries()) {
    const want = k === frames.length - 1 ? 0xffff : k + 1;
    const idx = f.length >= 16 ? (f[14]! << 8) | f[15]! : -1;
    if (f.length < 18 || ((f[1]! >> 4) & 7) !== 5 || idx !== want)
      return refuse('fragmented_config', `CFG-3 fragment ${k + 1}: CONT_IDX ${idx} where ${want} was expected`);
    total += f.length - HEADER_BYTES - 2 - 2;
  }
  if (total > MAX_CFG3_BYTES) return refuse('fragmented_config', `CFG-3 fragments add up to ${total} bytes, more than ${MAX_CFG3_BYTES}`);
  const joined = new Uint8Array(total);
  joined.set(frames[0]!.subarray(0, HEADER_BYTES));
  let o = HEADER_BYTES + 2; // CONT_IDX 0
  for (const f of frames) {
    joined.set(f.subarray(HEADER_BYTES + 2, f.length - 2), o);
    o += f.length - HEADER_BYTES - 4;
  }
  try {
    return { ok: true, frame: decodeConfig(joined, { ...first.frame, size: total }) };
  } catch (e) {
    return asRejection(e);
  }
}

/** Bytes of one PMU block in a data frame, as its configuration describes it. */
export function dataBlockBytes(p: PmuConfig): number {
  return 2 + p.phasors.length * (p.format.phasorFloat ? 8 : 4) + (p.format.freqFloat ? 8 : 4) + p.analogs.length * (p.format.analogFloat ? 4 : 2) + p.digitals.length * 2;
}

/** Bytes of a whole data frame as `cfg` describes it. */
export function dataFrameBytes(cfg: ConfigFrame): number {
  let n = HEADER_BYTES + 2;
  for (const p of cfg.pmus) n += dataBlockBytes(p);
  return n;
}

/** Integer microseconds since the epoch of SOC + FRACSEC / TIME_BASE. */
export function toMicros(soc: number, fracsec: number, timeBase: number): number {
  return soc * 1_000_000 + Math.round((fracsec * 1_000_000) / timeBase);
}

const RAD2DEG = 180 / Math.PI;

/** Degrees in (-180, 180]. */
function wrapDeg(d: number): number {
  if (d > 180) d -= 360 * Math.ceil((d - 180) / 360);
  else if (d <= -180) d += 360 * Math.ceil((-180 - d) / 360 + 1e-12);
  return d;
}

/** Scratch for big-endian float reads without a DataView per frame. */
const F32 = new Float32Array(1);
const F32B = new Uint8Array(F32.buffer);
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function f32(b: Uint8Array, o: number): number {
  if (LITTLE) {
    F32B[0] = b[o + 3]!;
    F32B[1] = b[o + 2]!;
    F32B[2] = b[o + 1]!;
    F32B[3] = b[o]!;
  } else {
    F32B[0] = b[o]!;
    F32B[1] = b[o + 1]!;
    F32B[2] = b[o + 2]!;
    F32B[3] = b[o + 3]!;
  }
  return F32[0]!;
}

const u16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
/** Signed 16-bit; -32768 is the "no value" code. */
const i16 = (b: Uint8Array, o: number): number => ((b[o]! << 24) >> 16) | b[o + 1]!;

function decodeData(buf: Uint8Array, h: FrameHeader, cfg: ConfigFrame, expectedBytes: number): DataFrame {
  if (h.idcode !== cfg.idcode) throw new Refuse('idcode_mismatch', `data frame IDCODE ${h.idcode}, the configuration is for IDCODE ${cfg.idcode}`);
  if (h.size !== expectedBytes) throw new Refuse('size_mismatch', `data frame of ${h.size} bytes, the configuration (CFGCNT ${cfg.pmus[0]?.cfgcnt ?? '-'}) describes ${expectedBytes}`);
  if (h.fracsec >= cfg.timeBase) throw new Refuse('bad_time', `FRACSEC ${h.fracsec} is not below TIME_BASE ${cfg.timeBase}`);
  let o = HEADER_BYTES;
  const pmus: PmuData[] = [];
  for (const p of cfg.pmus) {
    const f = p.format;
    const np = p.phasors.length;
    const stat = u16(buf, o);
    o += 2;
    const mag: number[] = [];
    const ang: number[] = [];
    const cfg3 = p.cfg3 !== undefined;
    for (let k = 0; k < np; k++) {
      const ch = p.phasors[k]!;
      let m: number, a: number;
      if (f.phasorFloat) {
        const x = f32(buf, o), y = f32(buf, o + 4);
        o += 8;
        const s = cfg3 ? ch.scale : 1;
        if (f.polar) {
          m = x * s;
          a = y;
        } else {
          m = Math.sqrt(x * x + y * y) * s;
          a = Math.atan2(y, x);
        }
      } else {
        if (f.polar) {
          const um = u16(buf, o), ia = i16(buf, o + 2);
          m = ia === -32768 ? NaN : um * ch.scale;
          a = ia === -32768 ? NaN : ia / 10_000;
        } else {
          const re = i16(buf, o), im = i16(buf, o + 2);
          if (re === -32768 || im === -32768) m = a = NaN;
          else {
            m = Math.sqrt(re * re + im * im) * ch.scale;
            a = Math.atan2(im, re);
          }
        }
        o += 4;
      }
      if (ch.angleOffset) a += ch.angleOffset;
      // A negative magnitude (float polar data, or a negative CFG-3 scale) is the same phasor turned by π.
      if (m < 0) {
        m = -m;
        a += Math.PI;
      }
      if (m === m && a === a && m !== Infinity && a !== Infinity && a !== -Infinity) {
        mag.push(m);
        ang.push(wrapDeg(a * RAD2DEG));
      } else {
        mag.push(NaN);
        ang.push(NaN);
      }
    }
    let freq: number, rocof: number;
    if (f.freqFloat) {
      freq = f32(buf, o);
      rocof = f32(buf, o + 4);
      o += 8;
    } else {
      const fi = i16(buf, o), di = i16(buf, o + 2);
      freq = fi === -32768 ? NaN : p.fnom + fi / 1000;
      rocof = di === -32768 ? NaN : di / 100;
      o += 4;
    }
    const na = p.analogs.length;
    const analogs: number[] = [];
    for (let k = 0; k < na; k++) {
      const ch = p.analogs[k]!;
      let v: number;
      if (f.analogFloat) {
        v = f32(buf, o);
        o += 4;
        if (cfg3) v = v * ch.scale + ch.offset;
      } else {
        const raw = i16(buf, o);
        o += 2;
        v = raw === -32768 ? NaN : raw * (ch.scale === 0 ? 1 : ch.scale) + ch.offset;
      }
      analogs.push(v);
    }
    const nd = p.digitals.length;
    const digitals: number[] = [];
    for (let k = 0; k < nd; k++) {
      digitals.push(u16(buf, o));
      o += 2;
    }
    pmus.push({ stat, mag, ang, freq: Number.isFinite(freq) ? freq : NaN, rocof: Number.isFinite(rocof) ? rocof : NaN, analogs, digitals });
  }
  return {
    kind: 'data',
    version: h.version,
    size: h.size,
    idcode: h.idcode,
    soc: h.soc,
    fracsec: h.fracsec,
    timeQuality: h.timeQuality,
    ts: toMicros(h.soc, h.fracsec, cfg.timeBase),
    pmus,
  };
}

/**
 * A data frame decoder bound to one configuration: the expected length is computed once. Use it on the
 * hot path (one per configuration in force).
 */
export class DataDecoder {
  readonly expectedBytes: number;
  constructor(readonly cfg: ConfigFrame) {
    this.expectedBytes = dataFrameBytes(cfg);
  }
  /** Decode a complete data frame whose header is already checked (`decodeHeader`). */
  decode(buf: Uint8Array, h: FrameHeader): Decoded<DataFrame> {
    try {
      return { ok: true, frame: decodeData(buf, h, this.cfg, this.expectedBytes) };
    } catch (e) {
      return asRejection(e);
    }
  }
}

function asRejection(e: unknown): Rejected {
  if (e instanceof Refuse) return refuse(e.reason, e.detail);
  // A bounds error the checks above missed: still a rejection, never an exception to the caller.
  return refuse('truncated', `frame ended early: ${(e as Error).message}`);
}

/**
 * Decode one complete frame (exactly FRAMESIZE bytes). A data frame needs the stream's configuration
 * (`cfg`, or a `DataDecoder` for speed); without one it is refused as `no_config`.
 */
export function decodeFrame(buf: Uint8Array, cfg?: ConfigFrame | DataDecoder | null): Decoded<Frame> {
  const hd = decodeHeader(buf);
  if (!hd.ok) return hd;
  const h = hd.frame;
  try {
    switch (h.kind) {
      case 'data': {
        if (!cfg) return refuse('no_config', `data frame for IDCODE ${h.idcode} before any configuration`);
        const dec = cfg instanceof DataDecoder ? cfg : new DataDecoder(cfg);
        return dec.decode(buf, h);
      }
      case 'cfg1':
      case 'cfg2':
      case 'cfg3':
        return { ok: true, frame: decodeConfig(buf, h) };
      case 'header': {
        const text = Buffer.from(buf.subarray(HEADER_BYTES, h.size - 2)).toString('utf8');
        const f: HeaderFrame = { ...h, kind: 'header', text };
        return { ok: true, frame: f };
      }
      case 'command': {
        if (h.size < HEADER_BYTES + 4) return refuse('bad_command', `command frame of ${h.size} bytes has no CMD word`);
        const cmd = (buf[14]! << 8) | buf[15]!;
        const f: CommandFrame = { ...h, kind: 'command', cmd, ext: buf.slice(HEADER_BYTES + 2, h.size - 2) };
        return { ok: true, frame: f };
      }
    }
  } catch (e) {
    return asRejection(e);
  }
}
