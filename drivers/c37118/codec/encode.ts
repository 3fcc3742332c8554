/**
 * Encoding of IEEE C37.118.2 frames (version 2, the 2011 SYNC, unless a frame says otherwise). The
 * driver uses it for commands; tests and the benchmark use it for configuration and data frames.
 * Values that do not fit their field (a name longer than 16 bytes in CFG-1/2, more than 65535 bytes
 * in a frame, a count out of range) throw a RangeError naming the field: encoding is done by this
 * program's own code on its own data, so a bad value is a programming error, not bad input.
 */
import { crcCcitt } from './crc.js';
import { COMMAND, FRAME_TYPE, HEADER_BYTES, MAX_FRAME_BYTES, type CommandName, type ConfigFrame, type FrameKind, type PmuConfig } from './types.js';

class Writer {
  buf = new Uint8Array(256);
  dv = new DataView(this.buf.buffer);
  pos = 0;
  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let len = this.buf.length * 2;
    while (len < this.pos + n) len *= 2;
    const b = new Uint8Array(len);
    b.set(this.buf.subarray(0, this.pos));
    this.buf = b;
    this.dv = new DataView(b.buffer);
  }
  u8(v: number): void {
    this.room(1);
    this.buf[this.pos++] = v & 0xff;
  }
  u16(v: number): void {
    this.room(2);
    this.dv.setUint16(this.pos, v & 0xffff);
    this.pos += 2;
  }
  i16(v: number): void {
    this.room(2);
    this.dv.setInt16(this.pos, v);
    this.pos += 2;
  }
  u32(v: number): void {
    this.room(4);
    this.dv.setUint32(this.pos, v >>> 0);
    this.pos += 4;
  }
  i32(v: number): void {
    this.room(4);
    this.dv.setInt32(this.pos, v | 0);
    this.pos += 4;
  }
  f32(v: number): void {
    this.room(4);
    this.dv.setFloat32(this.pos, v);
    this.pos += 4;
  }
  u24(v: number): void {
    this.u8(v >>> 16);
    this.u8(v >>> 8);
    this.u8(v);
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

export interface HeaderFields {
  idcode: number;
  soc: number;
  fracsec: number;
  /** Message time quality byte (high byte of FRACSEC); 0 when omitted. */
  timeQuality?: number;
  /** SYNC version; 2 (IEEE C37.118.2-2011) when omitted. */
  version?: number;
}

function begin(kind: FrameKind, h: HeaderFields): Writer {
  const w = new Writer();
  w.u8(0xaa);
  w.u8((FRAME_TYPE[kind] << 4) | ((h.version ?? 2) & 0x0f));
  w.u16(0); // FRAMESIZE, filled in by finish()
  w.u16(h.idcode);
  w.u32(h.soc);
  w.u8(h.timeQuality ?? 0);
  w.u24(h.fracsec);
  return w;
}

/** Fill in FRAMESIZE, append CHK, return the frame. */
function finish(w: Writer, what: string): Uint8Array {
  const size = w.pos + 2;
  if (size > MAX_FRAME_BYTES) throw new RangeError(`${what}: ${size} bytes exceed the 65535-byte frame limit`);
  w.dv.setUint16(2, size);
  w.u16(crcCcitt(w.buf, 0, w.pos));
  return w.buf.slice(0, w.pos);
}

/** A command frame (CMD by name or code), with optional EXTFRAME bytes. */
export function encodeCommand(h: HeaderFields, cmd: CommandName | number, ext?: Uint8Array): Uint8Array {
  const w = begin('command', h);
  w.u16(typeof cmd === 'number' ? cmd : COMMAND[cmd]);
  if (ext) w.bytes(ext);
  return finish(w, 'command frame');
}

/** A header frame carrying `text` (UTF-8). */
export function encodeHeaderFrame(h: HeaderFields, text: string): Uint8Array {
  const w = begin('header', h);
  w.bytes(Buffer.from(text, 'utf8'));
  return finish(w, 'header frame');
}

function fixedName(w: Writer, s: string, field: string): void {
  const b = Buffer.from(s, 'latin1');
  if (b.length > 16) throw new RangeError(`${field}: "${s}" is longer than 16 bytes`);
  const out = new Uint8Array(16).fill(0x20);
  out.set(b);
  w.bytes(out);
}

function lengthName(w: Writer, s: string, field: string): void {
  const b = Buffer.from(s, 'utf8');
  if (b.length > 255) throw new RangeError(`${field}: "${s}" is longer than 255 bytes`);
  w.u8(b.length);
  w.bytes(b);
}

function formatWord(p: PmuConfig): number {
  const f = p.format;
  return (f.polar ? 1 : 0) | (f.phasorFloat ? 2 : 0) | (f.analogFloat ? 4 : 0) | (f.freqFloat ? 8 : 0);
}

const COMPONENT_CODE: Record<string, number> = { zero: 0, pos: 1, neg: 2, a: 4, b: 5, c: 6 };

/** Digital names padded to 16 per word (missing names are empty). */
function digitalNames(p: PmuConfig): string[] {
  const out: string[] = [];
  for (const d of p.digitals) for (let k = 0; k < 16; k++) out.push(d.names[k] ?? '');
  return out;
}

/**
 * A CFG-1, CFG-2 (fixed 16-byte names, PHUNIT/ANUNIT) or CFG-3 (length-prefixed names, PHSCALE/ANSCALE,
 * location, window) frame, as `cfg.kind` says. PHUNIT is `unitCount` when given, else round(scale·10^5).
 */
export function encodeConfig(cfg: ConfigFrame): Uint8Array {
  const cfg3 = cfg.kind === 'cfg3';
  const w = begin(cfg.kind, cfg);
  if (cfg3) w.u16(cfg.contIdx ?? 0);
  w.u32(((cfg.timeBaseFlags & 0xff) << 24) | (cfg.timeBase & 0xffffff));
  w.u16(cfg.pmus.length);
  for (const [i, p] of cfg.pmus.entries()) {
    const where = `PMU block ${i + 1}`;
    if (cfg3) lengthName(w, p.station, `${where} STN`);
    else fixedName(w, p.station, `${where} STN`);
    w.u16(p.idcode);
    if (cfg3) w.bytes(Buffer.from((p.cfg3?.globalId ?? '').padEnd(32, '0').slice(0, 32), 'hex'));
    w.u16(formatWord(p));
    w.u16(p.phasors.length);
    w.u16(p.analogs.length);
    w.u16(p.digitals.length);
    const names = [...p.phasors.map((c) => c.name), ...p.analogs.map((c) => c.name), ...digitalNames(p)];
    for (const n of names) cfg3 ? lengthName(w, n, `${where} CHNAM`) : fixedName(w, n, `${where} CHNAM`);
    if (cfg3) {
      for (const ph of p.phasors) {
        w.u16(ph.modification ?? 0);
        w.u8((ph.kind === 'current' ? 8 : 0) | (ph.component !== undefined ? COMPONENT_CODE[ph.component]! : 7));
        w.u8(ph.userByte ?? 0);
        w.f32(ph.scale);
        w.f32(ph.angleOffset ?? 0);
      }
      for (const an of p.analogs) {
        w.f32(an.scale);
        w.f32(an.offset);
      }
    } else {
      for (const ph of p.phasors) {
        const count = ph.unitCount ?? Math.round(ph.scale * 1e5);
        if (count < 0 || count > 0xffffff) throw new RangeError(`${where} PHUNIT ${ph.name}: ${count} does not fit 24 bits`);
        w.u8(ph.kind === 'current' ? 1 : 0);
        w.u24(count);
      }
      for (const an of p.analogs) {
        if (an.scale < -0x800000 || an.scale > 0x7fffff || !Number.isInteger(an.scale)) throw new RangeError(`${where} ANUNIT ${an.name}: scale ${an.scale} is not a signed 24-bit integer`);
        w.u8(an.kind ?? 0);
        w.u24(an.scale & 0xffffff);
      }
    }
    for (const d of p.digitals) {
      w.u16(d.normal);
      w.u16(d.valid);
    }
    if (cfg3) {
      const x = p.cfg3;
      w.f32(x?.lat ?? Infinity);
      w.f32(x?.lon ?? Infinity);
      w.f32(x?.elev ?? Infinity);
      w.u8((x?.svcClass ?? 'M').charCodeAt(0));
      w.i32(x?.windowUs ?? 0);
      w.i32(x?.groupDelayUs ?? 0);
    }
    w.u16(p.fnom === 50 ? 1 : 0);
    w.u16(p.cfgcnt);
  }
  w.i16(cfg.dataRate);
  return finish(w, `${cfg.kind} frame`);
}

/** One PMU block's values in engineering units (what `decodeFrame` returns, as plain arrays). */
export interface PmuValues {
  stat: number;
  /** RMS magnitudes (V, A); NaN sends "no value". */
  mag: ArrayLike<number>;
  /** Degrees. */
  ang: ArrayLike<number>;
  freq: number;
  rocof: number;
  analogs: ArrayLike<number>;
  digitals: ArrayLike<number>;
}

const DEG2RAD = Math.PI / 180;

function int16(v: number, field: string): number {
  if (!Number.isFinite(v)) return -32768;
  const r = Math.round(v);
  if (r < -32767 || r > 32767) throw new RangeError(`${field}: ${v} does not fit a 16-bit integer (check the scale)`);
  return r;
}

/**
 * A data frame for `cfg` (its IDCODE and TIME_BASE), quantised as each block's FORMAT says: integer
 * phasors divided by the channel scale, angles in 10^-4 rad, FREQ in mHz from nominal, DFREQ in
 * 0.01 Hz/s. NaN is sent as the "no value" code (0x8000 for integers, NaN for floats).
 */
export function encodeData(cfg: ConfigFrame, h: Omit<HeaderFields, 'idcode'>, blocks: readonly PmuValues[]): Uint8Array {
  if (blocks.length !== cfg.pmus.length) throw new RangeError(`data frame: ${blocks.length} blocks for a configuration of ${cfg.pmus.length}`);
  const w = begin('data', { ...h, idcode: cfg.idcode });
  for (const [i, p] of cfg.pmus.entries()) {
    const b = blocks[i]!;
    const f = p.format;
    const cfg3 = p.cfg3 !== undefined;
    w.u16(b.stat);
    for (let k = 0; k < p.phasors.length; k++) {
      const ch = p.phasors[k]!;
      const field = `block ${i + 1} phasor ${ch.name}`;
      const m = b.mag[k]!;
      const aRad = b.ang[k]! * DEG2RAD - (ch.angleOffset ?? 0);
      if (f.phasorFloat) {
        const s = cfg3 ? ch.scale || 1 : 1;
        if (f.polar) {
          w.f32(m / s);
          w.f32(aRad);
        } else {
          w.f32((m / s) * Math.cos(aRad));
          w.f32((m / s) * Math.sin(aRad));
        }
      } else {
        const s = ch.scale || 1;
        if (!Number.isFinite(m) || !Number.isFinite(aRad)) {
          w.u16(f.polar ? 0 : 0x8000);
          w.u16(0x8000);
        } else if (f.polar) {
          const um = Math.round(m / s);
          if (um < 0 || um > 0xffff) throw new RangeError(`${field}: magnitude ${m} does not fit 16 bits at scale ${s}`);
          w.u16(um);
          w.i16(int16(aRad * 10_000, field));
        } else {
          w.i16(int16((m / s) * Math.cos(aRad), field));
          w.i16(int16((m / s) * Math.sin(aRad), field));
        }
      }
    }
    if (f.freqFloat) {
      w.f32(b.freq);
      w.f32(b.rocof);
    } else {
      w.i16(int16((b.freq - p.fnom) * 1000, `block ${i + 1} FREQ`));
      w.i16(int16(b.rocof * 100, `block ${i + 1} DFREQ`));
    }
    for (let k = 0; k < p.analogs.length; k++) {
      const ch = p.analogs[k]!;
      const v = b.analogs[k]!;
      if (f.analogFloat) w.f32(cfg3 ? (v - ch.offset) / (ch.scale || 1) : v);
      else w.i16(int16((v - ch.offset) / (ch.scale === 0 ? 1 : ch.scale), `block ${i + 1} analog ${ch.name}`));
    }
    for (let k = 0; k < p.digitals.length; k++) w.u16(b.digitals[k] ?? 0);
  }
  return finish(w, 'data frame');
}

export { HEADER_BYTES };
