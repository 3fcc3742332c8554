/**
 * CRC-CCITT as IEEE C37.118.2 uses it for the CHK word of every frame: polynomial x^16 + x^12 + x^5 + 1
 * (0x1021), initial value 0xFFFF, bits processed most significant first, no final XOR
 * (the variant often called CRC-16/CCITT-FALSE). Table driven, one table built at module load.
 */

const TABLE = new Uint16Array(256);
for (let n = 0; n < 256; n++) {
  let c = n << 8;
  for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
  TABLE[n] = c;
}

/** CRC of `buf[start, end)`. */
export function crcCcitt(buf: Uint8Array, start = 0, end = buf.length): number {
  let crc = 0xffff;
  for (let k = start; k < end; k++) crc = ((crc << 8) & 0xff00) ^ TABLE[((crc >> 8) ^ buf[k]!) & 0xff]!;
  return crc;
}
