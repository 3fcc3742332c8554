/**
 * Register-map decoding: pure functions from the 16-bit words (or bits) a Modbus device returned to
 * the values of a register map. Nothing here does I/O.
 *
 * Byte order. A multi-byte value's bytes, most significant first, are named A B C D (E F G H for
 * 64-bit values). `order` names the order in which the device sends them over the wire, two bytes
 * per register, each register's high byte first as Modbus sends it:
 * - `ABCD` big-endian: registers in order, high byte first (the Modbus default);
 * - `CDAB` word-swapped: the registers in reverse order, each high byte first;
 * - `BADC` byte-swapped: registers in order, each register's bytes swapped;
 * - `DCBA` little-endian: both.
 * For 64-bit values the same two rules apply over four registers (`CDAB` sends GH EF CD AB).
 * For 16-bit values only the byte swap applies (`ABCD` = `CDAB`, `BADC` = `DCBA`).
 */

export const REGISTER_TYPES = ['u16', 'i16', 'u32', 'i32', 'f32', 'f64'] as const;
export type RegisterType = (typeof REGISTER_TYPES)[number];

export const BYTE_ORDERS = ['ABCD', 'CDAB', 'BADC', 'DCBA'] as const;
export type ByteOrder = (typeof BYTE_ORDERS)[number];

export const FUNCTIONS = ['holding', 'input', 'coil', 'discrete'] as const;
export type ModbusFunction = (typeof FUNCTIONS)[number];

/** Coils and discrete inputs are read as bits; holding and input registers as 16-bit words. */
export function isBitFunction(f: ModbusFunction): boolean {
  return f === 'coil' || f === 'discrete';
}

/** Registers one value of `type` occupies. */
export function registerCount(type: RegisterType): number {
  switch (type) {
    case 'u16':
    case 'i16':
      return 1;
    case 'u32':
    case 'i32':
    case 'f32':
      return 2;
    case 'f64':
      return 4;
  }
}

/**
 * The value's bytes, most significant first, from `n` registers of `words` starting at `at`, sent in
 * `order`. Throws a RangeError when the registers are not there or a word is not 0..65535.
 */
export function valueBytes(words: readonly number[], at: number, n: number, order: ByteOrder): Buffer {
  if (at < 0 || at + n > words.length) throw new RangeError(`need registers ${at}..${at + n - 1}, have ${words.length}`);
  const wordsReversed = n > 1 && (order === 'CDAB' || order === 'DCBA');
  const byteSwapped = order === 'BADC' || order === 'DCBA';
  const out = Buffer.alloc(n * 2);
  for (let k = 0; k < n; k++) {
    const w = words[at + (wordsReversed ? n - 1 - k : k)]!;
    if (!Number.isInteger(w) || w < 0 || w > 0xffff) throw new RangeError(`register ${at + k} holds ${String(w)}, not a 16-bit word`);
    const hi = w >> 8;
    const lo = w & 0xff;
    // On the wire this register is (hi, lo); byte-swapped devices put the less significant byte first.
    out[2 * k] = byteSwapped ? lo : hi;
    out[2 * k + 1] = byteSwapped ? hi : lo;
  }
  return out;
}

/** The raw value (before scale and offset) of `type` at register `at` of `words`. */
export function decodeRaw(words: readonly number[], at: number, type: RegisterType, order: ByteOrder): number {
  const b = valueBytes(words, at, registerCount(type), order);
  switch (type) {
    case 'u16':
      return b.readUInt16BE(0);
    case 'i16':
      return b.readInt16BE(0);
    case 'u32':
      return b.readUInt32BE(0);
    case 'i32':
      return b.readInt32BE(0);
    case 'f32':
      return b.readFloatBE(0);
    case 'f64':
      return b.readDoubleBE(0);
  }
}

/** value = raw × scale + offset. */
export function scaled(raw: number, scale: number, offset: number): number {
  return raw * scale + offset;
}

/**
 * The registers that carry `value` of `type` in `order`: the inverse of decodeRaw (test servers and
 * the probe's self-check use it).
 */
export function encodeRaw(value: number, type: RegisterType, order: ByteOrder): number[] {
  const n = registerCount(type);
  const b = Buffer.alloc(n * 2);
  switch (type) {
    case 'u16':
      b.writeUInt16BE(value, 0);
      break;
    case 'i16':
      b.writeInt16BE(value, 0);
      break;
    case 'u32':
      b.writeUInt32BE(value, 0);
      break;
    case 'i32':
      b.writeInt32BE(value, 0);
      break;
    case 'f32':
      b.writeFloatBE(value, 0);
      break;
    case 'f64':
      b.writeDoubleBE(value, 0);
      break;
  }
  // Reading back through valueBytes with the same order must give b: solve for the words.
  const wordsReversed = n > 1 && (order === 'CDAB' || order === 'DCBA');
  const byteSwapped = order === 'BADC' || order === 'DCBA';
  const words = new Array<number>(n);
  for (let k = 0; k < n; k++) {
    const first = b[2 * k]!;
    const second = b[2 * k + 1]!;
    const [hi, lo] = byteSwapped ? [second, first] : [first, second];
    words[wordsReversed ? n - 1 - k : k] = (hi << 8) | lo;
  }
  return words;
}
