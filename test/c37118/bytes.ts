/**
 * Frames built byte by byte for the tests, with their own bitwise CRC (not the codec's table): the
 * tests and the test PMU server (pmu-server.ts) build frames with this, never with the codec under test.
 */

/** CRC-CCITT, polynomial 0x1021, initial 0xFFFF, bit by bit. */
export function crcBitwise(b: Uint8Array, start = 0, end = b.length): number {
  let crc = 0xffff;
  for (let k = start; k < end; k++) {
    crc ^= b[k]! << 8;
    for (let j = 0; j < 8; j++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** Appends big-endian fields. */
export class Bytes {
  readonly out: number[] = [];
  u8(...v: number[]): this {
    for (const x of v) this.out.push(x & 0xff);
    return this;
  }
  u16(v: number): this {
    return this.u8(v >> 8, v);
  }
  i16(v: number): this {
    return this.u16(v & 0xffff);
  }
  u24(v: number): this {
    return this.u8(v >> 16, v >> 8, v);
  }
  u32(v: number): this {
    return this.u8(v >>> 24, v >>> 16, v >>> 8, v);
  }
  f32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeFloatBE(v);
    return this.u8(...b);
  }
  /** A 16-byte name padded with spaces. */
  name16(s: string): this {
    return this.u8(...Buffer.from(s.padEnd(16, ' ').slice(0, 16), 'latin1'));
  }
  /** A CFG-3 name: length byte and UTF-8 bytes. */
  name(s: string): this {
    const b = Buffer.from(s, 'utf8');
    return this.u8(b.length, ...b);
  }
  raw(b: Iterable<number>): this {
    for (const x of b) this.out.push(x);
    return this;
  }
}

/** Frame type codes of SYNC byte 1 (bits 6-4). */
export const TYPE = { data: 0, header: 1, cfg1: 2, cfg2: 3, command: 4, cfg3: 5 } as const;

/** A whole frame: SYNC, FRAMESIZE, IDCODE, SOC, time quality + FRACSEC, body, CHK. */
export function frame(type: keyof typeof TYPE, idcode: number, soc: number, fracsec: number, body: Bytes | number[], opts: { tq?: number; version?: number } = {}): Buffer {
  const b = Array.isArray(body) ? body : body.out;
  const size = 14 + b.length + 2;
  const f = new Bytes()
    .u8(0xaa, (TYPE[type] << 4) | (opts.version ?? 2))
    .u16(size)
    .u16(idcode)
    .u32(soc)
    .u8(opts.tq ?? 0)
    .u24(fracsec)
    .raw(b);
  const buf = Buffer.from(f.out);
  const c = crcBitwise(buf);
  return Buffer.concat([buf, Buffer.from([c >> 8, c & 0xff])]);
}
