/**
 * The compact row encoding: a JSON object payload is split into its *shape* (the text with every
 * number and every string value cut out: keys, nesting, `true`/`false`/`null` and punctuation stay)
 * and its values. The shape is stored once per topic in the `shapes` table and named by a small
 * integer; a row keeps only the values, in a BLOB:
 *
 * ```
 * byte 0            format (1)
 * ceil(N/2) bytes   one 4-bit tag per numeric slot (low nibble first)
 * ...               the string values: varint UTF-8 length, then the bytes exactly as between the quotes
 *                   (escapes kept as written)
 * ...               the numeric slots: each value's float64 bits XOR the shape's reference value
 *                   (the numbers of the row that created the shape), leading zero bytes left out;
 *                   tag 0..8 = that many low-order bytes; tag 9 = one byte (trailing zero bytes << 4
 *                   | length) then `length` bytes (trailing zero bytes left out too)
 * ```
 *
 * Decoding joins the shape's parts and the values again: keys, their order, string values (escapes
 * as written) and everything between come back byte for byte, and each number as `JSON.stringify`
 * writes its value (the float64 is kept exactly). For `JSON.stringify` output, which is what the
 * pipeline stores, that is the stored text itself; a number written another way (`1.50`, `1e3`)
 * comes back as `JSON.stringify(JSON.parse(text))` would write it (`1.5`, `1000`). Not encoded (the
 * caller stores the text as it is): a text not starting with `{`, a number that is not a JSON number
 * or not finite as a float64, a raw control character, more than MAX_SLOTS values, more than
 * MAX_TEXT characters, a new structure on a topic that has MAX_SHAPES_PER_TOPIC shapes already.
 * (Checking that each number prints back exactly as written would cost a float-to-text conversion
 * per number, about as much again as the whole encoding.)
 *
 * One numeric field of an encoded row can be read without decoding the rest (`readNumber`): the
 * slot's position comes from the shape's key paths, and the tags of the slots before it give its offset.
 */

/** Marks a numeric slot in a shape's template. Never part of an encoded text (control characters are refused). */
const NUM = '\u0000';
/** Marks a string value slot (the quotes are part of the slot). */
const STR = '\u0001';

export const CODEC_FORMAT = 1;
/** Longest payload (UTF-16 code units) the codec takes; longer ones are stored as text. */
export const MAX_TEXT = 64 * 1024;
/** Most values in one payload. */
export const MAX_SLOTS = 4096;
/** Most shapes per topic: a topic whose payloads keep changing structure is stored as text after that. */
export const MAX_SHAPES_PER_TOPIC = 64;

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** A shape: what the rows of one topic with one structure have in common. */
export class Shape {
  /** The template split at its slots: parts.length = slot count + 1. */
  readonly parts: string[];
  /** 0: numeric slot, 1: string slot, in text order. */
  readonly kinds: Uint8Array;
  readonly numCount: number;
  readonly strCount: number;
  readonly refLo: Uint32Array;
  /** The reference numbers as text (a slot equal to its reference decodes without a float-to-text). */
  readonly refText: string[];
  readonly refHi: Uint32Array;
  private paths: Map<string, number> | null = null;
  /** splicedParts by field names (a few lists at most: one per forwarder type). */
  private readonly spliced = new Map<string, readonly string[] | null>();

  constructor(
    readonly id: number,
    readonly topic: string,
    readonly template: string,
    /** The reference numbers (float64, little-endian), one per numeric slot. */
    readonly ref: Uint8Array,
  ) {
    const parts: string[] = [];
    const kinds: number[] = [];
    let from = 0;
    for (let i = 0; i < template.length; i++) {
      const c = template.charCodeAt(i);
      if (c === 0 || c === 1) {
        parts.push(template.slice(from, i));
        kinds.push(c);
        from = i + 1;
      }
    }
    parts.push(template.slice(from));
    this.parts = parts;
    this.kinds = Uint8Array.from(kinds);
    this.numCount = kinds.reduce((n, k) => n + (k === 0 ? 1 : 0), 0);
    this.strCount = kinds.length - this.numCount;
    if (ref.length !== this.numCount * 8) {
      throw new Error(`buffer: shape ${id} has ${this.numCount} numeric slots but ${ref.length} reference bytes`);
    }
    const words = new Uint32Array(this.numCount * 2);
    new Uint8Array(words.buffer).set(ref);
    this.refLo = new Uint32Array(this.numCount);
    this.refHi = new Uint32Array(this.numCount);
    const values = new Float64Array(words.buffer);
    this.refText = new Array<string>(this.numCount);
    for (let k = 0; k < this.numCount; k++) {
      this.refLo[k] = words[2 * k]!;
      this.refHi[k] = words[2 * k + 1]!;
      this.refText[k] = String(values[k]);
    }
  }

  /**
   * The numeric slot (0-based among the numeric slots) at a dotted key path, or -1. Path segments are
   * the keys as JSON decodes them (a key may itself contain dots: `fields.p.total.mean` names
   * `fields` → `p.total` → `mean`) and array indexes.
   */
  numericSlot(path: string): number {
    this.paths ??= numericPaths(this.template);
    return this.paths.get(path) ?? -1;
  }

  /**
   * The template's parts after `splice` put `fields` in front (their values left out: the head is
   * written per row) and renamed the keys that clash, cached per list of field names; null when the
   * spliced template does not keep the slots in place (not an object's template).
   */
  splicedParts(fields: readonly (readonly [string, string])[], splice: Splicer): readonly string[] | null {
    const key = fields.map((f) => f[0]).join('\u0000');
    const hit = this.spliced.get(key);
    if (hit !== undefined) return hit;
    // Placeholder values of one character, removed again with the head they form.
    const placeholders = fields.map((f) => [f[0], '0'] as const);
    const text = splice(this.template, placeholders);
    let head = '{';
    for (let k = 0; k < placeholders.length; k++) head += (k ? ',"' : '"') + placeholders[k]![0] + '":0';
    let parts: string[] | null = null;
    if (text.startsWith(head)) {
      const body = text.slice(head.length);
      parts = [];
      let from = 0;
      for (let i = 0; i < body.length; i++) {
        const c = body.charCodeAt(i);
        if (c === 0 || c === 1) {
          parts.push(body.slice(from, i));
          from = i + 1;
        }
      }
      parts.push(body.slice(from));
      if (parts.length !== this.parts.length) parts = null;
    }
    if (this.spliced.size < 8) this.spliced.set(key, parts);
    return parts;
  }
}

/** Dotted key path of every numeric slot of a template (the first slot wins when a path repeats). */
function numericPaths(template: string): Map<string, number> {
  const out = new Map<string, number>();
  const stack: { obj: boolean; key: string; idx: number }[] = [];
  const pathHere = (): string => stack.map((f) => (f.obj ? f.key : String(f.idx))).join('.');
  let num = 0;
  for (let i = 0; i < template.length; i++) {
    const c = template.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      while (j < template.length && template.charCodeAt(j) !== 0x22) j += template.charCodeAt(j) === 0x5c ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top?.obj) {
        try {
          top.key = JSON.parse(template.slice(i, j + 1)) as string;
        } catch {
          top.key = template.slice(i + 1, j);
        }
      }
      i = j;
    } else if (c === 0x7b /* { */) stack.push({ obj: true, key: '', idx: 0 });
    else if (c === 0x5b /* [ */) stack.push({ obj: false, key: '', idx: 0 });
    else if (c === 0x7d || c === 0x5d) stack.pop();
    else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top && !top.obj) top.idx++;
    } else if (c === 0) {
      const p = pathHere();
      if (!out.has(p)) out.set(p, num);
      num++;
    }
  }
  return out;
}

// ------------------------------------------------------------------ encoding

/** What `scan` found: the template and the values, in module-level scratch space (valid until the next call). */
const numScratch = new Float64Array(MAX_SLOTS);
const numWords = new Uint32Array(numScratch.buffer);
const strScratch: string[] = [];
let scanNums = 0;
let scanStrs = 0;

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

/** Exact powers of ten as float64 (10^0 .. 10^22). */
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);
const TWO53 = 2 ** 53;

/** The value of the number `numberEnd` last read (set when it returns >= 0). */
let numValue = 0;

/**
 * End of the JSON number (RFC 8259 grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`)
 * starting at `i`, or -1 when the characters there are not one, or run on into more number characters
 * (`01`, `1.`, `-.5`, `1.2.3`: JavaScript's Number() reads some of these, JSON does not). Its value
 * goes to `numValue`: when all its digits make an integer M <= 2^53 and it has at most 22 decimals and
 * no exponent, M / 10^decimals (both exact, so the quotient is the correctly rounded value, as
 * Number() gives it: Clinger's fast path); otherwise Number() of the text.
 */
function numberEnd(text: string, i: number, n: number): number {
  let j = i;
  const neg = text.charCodeAt(j) === 0x2d; /* - */
  if (neg) j++;
  const first = text.charCodeAt(j);
  if (!isDigit(first)) return -1;
  let m = first - 0x30;
  j++;
  if (first === 0x30 /* 0 */) {
    if (isDigit(text.charCodeAt(j))) return -1;
  } else {
    for (let c = text.charCodeAt(j); j < n && isDigit(c); c = text.charCodeAt(++j)) m = m * 10 + (c - 0x30);
  }
  let decimals = 0;
  if (text.charCodeAt(j) === 0x2e /* . */) {
    j++;
    if (!isDigit(text.charCodeAt(j))) return -1;
    for (let c = text.charCodeAt(j); j < n && isDigit(c); c = text.charCodeAt(++j)) {
      m = m * 10 + (c - 0x30);
      decimals++;
    }
  }
  let fast = m <= TWO53 && decimals <= 22;
  const e = text.charCodeAt(j);
  if (e === 0x65 || e === 0x45 /* e E */) {
    fast = false;
    j++;
    const sign = text.charCodeAt(j);
    if (sign === 0x2b || sign === 0x2d) j++;
    if (!isDigit(text.charCodeAt(j))) return -1;
    while (j < n && isDigit(text.charCodeAt(j))) j++;
  }
  const next = text.charCodeAt(j);
  if (next === 0x2e || next === 0x2d || next === 0x2b || next === 0x65 || next === 0x45 || isDigit(next)) return -1;
  if (fast) {
    const v = decimals === 0 ? m : m / POW10[decimals]!;
    numValue = neg ? -v : v;
  } else numValue = +text.slice(i, j);
  return j;
}

/**
 * Reads the values of a text that has `shape`'s structure (its parts, in order, with one value
 * between each two) into the scratch space; false when the text does not fit the shape. This is the
 * fast path: no template string is built, the parts are compared in place.
 */
function match(shape: Shape, text: string): boolean {
  const parts = shape.parts;
  const kinds = shape.kinds;
  const n = text.length;
  let pos = 0;
  let nums = 0;
  let strs = 0;
  for (let s = 0; s < kinds.length; s++) {
    const part = parts[s]!;
    if (!text.startsWith(part, pos)) return false;
    pos += part.length;
    if (kinds[s] === 0) {
      const j = numberEnd(text, pos, n);
      if (j < 0) return false;
      const v = numValue;
      if (v - v !== 0) return false;
      numScratch[nums++] = v;
      pos = j;
    } else {
      if (text.charCodeAt(pos) !== 0x22) return false;
      let j = pos + 1;
      for (;;) {
        if (j >= n) return false;
        const d = text.charCodeAt(j);
        if (d === 0x22) break;
        if (d < 0x20) return false;
        j += d === 0x5c ? 2 : 1;
      }
      strScratch[strs++] = text.slice(pos + 1, j);
      pos = j + 1;
    }
  }
  const last = parts[kinds.length]!;
  if (n !== pos + last.length || !text.startsWith(last, pos)) return false;
  scanNums = nums;
  scanStrs = strs;
  return true;
}

/** Splits a text into template and values; null when it cannot be reproduced from them. */
function scan(text: string): string | null {
  const n = text.length;
  if (n === 0 || n > MAX_TEXT || text.charCodeAt(0) !== 0x7b) return null;
  let tpl = '';
  let from = 0;
  let nums = 0;
  let strs = 0;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      for (;;) {
        if (j >= n) return null;
        const d = text.charCodeAt(j);
        if (d === 0x22) break;
        if (d < 0x20) return null; // raw control characters (and the slot marks) are never encoded
        j += d === 0x5c ? 2 : 1;
      }
      if (text.charCodeAt(j + 1) === 0x3a /* : */) {
        i = j + 2; // a key: part of the template
        continue;
      }
      if (nums + strs >= MAX_SLOTS) return null;
      tpl += text.slice(from, i) + STR;
      strScratch[strs++] = text.slice(i + 1, j);
      i = j + 1;
      from = i;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      const j = numberEnd(text, i, n);
      if (j < 0) return null;
      const v = numValue;
      if (v - v !== 0 || nums + strs >= MAX_SLOTS) return null; // not a number ("1.2.3"), or beyond float64
      tpl += text.slice(from, i) + NUM;
      numScratch[nums++] = v;
      i = j;
      from = j;
    } else {
      if (c < 0x20 && c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return null;
      i++;
    }
  }
  scanNums = nums;
  scanStrs = strs;
  return from === 0 ? text : tpl + text.slice(from);
}

/** Scratch for one packed row (a slot takes at most 9 bytes plus a nibble; a string at most 3 bytes per code unit plus its length). */
const out = new Uint8Array(4 * MAX_TEXT + 16);

function writeVarint(pos: number, v: number): number {
  while (v >= 0x80) {
    out[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[pos++] = v;
  return pos;
}

const ctz32 = (x: number): number => 31 - Math.clz32(x & -x);
const textEncoder = new TextEncoder();

/** The values of the last scan, packed against `shape`'s reference numbers. */
function pack(shape: Shape): Uint8Array {
  const nums = scanNums;
  const tagBytes = (nums + 1) >> 1;
  out[0] = CODEC_FORMAT;
  out.fill(0, 1, 1 + tagBytes);
  let pos = 1 + tagBytes;
  for (let s = 0; s < scanStrs; s++) {
    const str = strScratch[s]!;
    let ascii = true;
    for (let i = 0; i < str.length; i++) {
      if (str.charCodeAt(i) >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      pos = writeVarint(pos, str.length);
      for (let i = 0; i < str.length; i++) out[pos++] = str.charCodeAt(i);
    } else {
      const bytes = textEncoder.encode(str);
      pos = writeVarint(pos, bytes.length);
      out.set(bytes, pos);
      pos += bytes.length;
    }
  }
  for (let k = 0; k < nums; k++) {
    const lo = numWords[2 * k]! ^ shape.refLo[k]!;
    const hi = numWords[2 * k + 1]! ^ shape.refHi[k]!;
    let tag: number;
    if (lo === 0 && hi === 0) tag = 0;
    else {
      const lead = hi !== 0 ? Math.clz32(hi) >> 3 : 4 + (Math.clz32(lo) >> 3);
      const trail = lo !== 0 ? ctz32(lo) >> 3 : 4 + (ctz32(hi) >> 3);
      let b0 = 0;
      let b1 = 8 - lead; // bytes [b0, b1) of the 64-bit value, little-endian
      if (trail >= 2) {
        tag = 9;
        b0 = trail;
        out[pos++] = (trail << 4) | (b1 - b0);
      } else tag = b1;
      for (let b = b0; b < b1; b++) out[pos++] = b < 4 ? (lo >>> (8 * b)) & 0xff : (hi >>> (8 * (b - 4))) & 0xff;
    }
    out[1 + (k >> 1)] = out[1 + (k >> 1)]! | ((k & 1) === 0 ? tag : tag << 4);
  }
  return Buffer.from(out.subarray(0, pos));
}

/** A shape the encoder made for a row, not stored yet: the caller inserts it and calls `ShapeBook.accept`. */
export interface NewShape {
  topic: string;
  template: string;
  ref: Uint8Array;
}

export type Encoded =
  | { blob: Uint8Array; shape: Shape; created: null }
  | { blob: Uint8Array; shape: null; created: NewShape };

/**
 * The encoder's view of the shapes table (topic → template → shape). The writer keeps one per
 * connection: `encode` looks a row's shape up; a row of a new structure gets a new shape, which the
 * caller stores and then registers with `add` (or forgets, if its transaction rolled back, with `remove`).
 */
export class ShapeBook {
  private readonly byTopic = new Map<string, Map<string, Shape>>();
  /** The shape each topic's last encoded row had: the next row is tried against it first. */
  private readonly lastShape = new Map<string, Shape>();

  add(shape: Shape): void {
    let m = this.byTopic.get(shape.topic);
    if (!m) this.byTopic.set(shape.topic, (m = new Map()));
    m.set(shape.template, shape);
    this.lastShape.set(shape.topic, shape);
  }

  remove(shape: Shape): void {
    this.byTopic.get(shape.topic)?.delete(shape.template);
    if (this.lastShape.get(shape.topic) === shape) this.lastShape.delete(shape.topic);
  }

  /**
   * Encodes one row, or returns null when the text is to be stored as it is. With `created` set, the
   * blob is packed against the new shape's reference numbers (which are this row's: every numeric
   * tag is 0), and the caller must store the shape before the row.
   */
  encode(topic: string, text: string): Encoded | null {
    if (!LITTLE_ENDIAN || text.length > MAX_TEXT) return null;
    const last = this.lastShape.get(topic);
    if (last && match(last, text)) return { blob: pack(last), shape: last, created: null };
    const tpl = scan(text);
    if (tpl === null) return null;
    const m = this.byTopic.get(topic);
    const known = m?.get(tpl);
    if (known) {
      this.lastShape.set(topic, known);
      return { blob: pack(known), shape: known, created: null };
    }
    if (m && m.size >= MAX_SHAPES_PER_TOPIC) return null;
    const ref = new Uint8Array(numScratch.buffer, 0, scanNums * 8).slice();
    const shape = new Shape(0, topic, tpl, ref);
    return { blob: pack(shape), shape: null, created: { topic, template: tpl, ref } };
  }
}

// ------------------------------------------------------------------ decoding

const f64 = new Float64Array(1);
const w32 = new Uint32Array(f64.buffer);
const textDecoder = new TextDecoder();

/** Bytes a numeric slot with this tag takes after the tag area (reading the header byte of tag 9 at `pos`). */
function slotBytes(blob: Uint8Array, pos: number, tag: number): number {
  return tag === 9 ? 1 + (blob[pos]! & 0x0f) : tag;
}

/** Reads numeric slot `k` whose bytes start at `pos`. */
function readSlot(shape: Shape, blob: Uint8Array, pos: number, tag: number, k: number): number {
  let lo = 0;
  let hi = 0;
  if (tag !== 0) {
    let b0 = 0;
    let len = tag;
    if (tag === 9) {
      b0 = blob[pos]! >> 4;
      len = blob[pos]! & 0x0f;
      pos++;
    }
    for (let b = b0; b < b0 + len; b++) {
      const v = blob[pos++]!;
      if (b < 4) lo |= v << (8 * b);
      else hi |= v << (8 * (b - 4));
    }
  }
  w32[0] = (lo ^ shape.refLo[k]!) >>> 0;
  w32[1] = (hi ^ shape.refHi[k]!) >>> 0;
  return f64[0]!;
}

const tagAt = (blob: Uint8Array, k: number): number => (blob[1 + (k >> 1)]! >> ((k & 1) * 4)) & 0x0f;

function checkFormat(shape: Shape, blob: Uint8Array): void {
  if (blob[0] !== CODEC_FORMAT) {
    throw new Error(`buffer: row of shape ${shape.id} has encoding format ${String(blob[0])}, this agent reads ${CODEC_FORMAT}`);
  }
}

/** Where the numeric slots start: after the tags and the string values. */
function numbersStart(shape: Shape, blob: Uint8Array): number {
  let pos = 1 + ((shape.numCount + 1) >> 1);
  for (let s = 0; s < shape.strCount; s++) {
    const len = readVarint(blob, pos);
    pos = varintNext + len;
  }
  return pos;
}

/** Where the varint `readVarint` last read ends. */
let varintNext = 0;

/** The unsigned varint (7 bits a byte, low first, as writeVarint writes it) at `pos`; its end goes to `varintNext`. */
function readVarint(blob: Uint8Array, pos: number): number {
  let v = 0;
  let shift = 0;
  for (;;) {
    const b = blob[pos++]!;
    v += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
    shift += 7;
  }
  varintNext = pos;
  return v;
}

/** The text a row was encoded from (each number as JSON.stringify writes it). */
export function decode(shape: Shape, blob: Uint8Array): string {
  return decodeWith(shape, blob, shape.parts);
}

/**
 * The text of a row with fields spliced in front of its own (what `spliceFields` of the forwarders
 * makes of the decoded text, and byte for byte the same), built from the shape without scanning the
 * text: the shape's template is spliced once per list of field names and kept. Null when the
 * template is not an object's (the caller splices the decoded text).
 */
export function decodeSpliced(shape: Shape, blob: Uint8Array, fields: readonly (readonly [string, string])[], splice: Splicer): string | null {
  const parts = shape.splicedParts(fields, splice);
  if (parts === null) return null;
  let head = '{';
  for (let k = 0; k < fields.length; k++) head += (k ? ',"' : '"') + fields[k]![0] + '":' + fields[k]![1];
  return head + decodeWith(shape, blob, parts);
}

/** The forwarders' splice (agent/forwarders/payload.ts spliceFields), passed in to keep this module free of it. */
export type Splicer = (payload: string, fields: readonly (readonly [string, string])[]) => string;

function decodeWith(shape: Shape, blob: Uint8Array, parts: readonly string[]): string {
  checkFormat(shape, blob);
  const kinds = shape.kinds;
  const buf = Buffer.isBuffer(blob) ? blob : Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  let spos = 1 + ((shape.numCount + 1) >> 1);
  let pos = numbersStart(shape, blob);
  let text = parts[0]!;
  let k = 0;
  for (let s = 0; s < kinds.length; s++) {
    if (kinds[s] === 0) {
      const tag = tagAt(blob, k);
      if (tag === 0) text += shape.refText[k]!;
      else {
        text += String(readSlot(shape, blob, pos, tag, k));
        pos += slotBytes(blob, pos, tag);
      }
      k++;
    } else {
      const len = readVarint(blob, spos);
      spos = varintNext;
      let ascii = true;
      for (let i = spos; i < spos + len; i++) if (blob[i]! >= 0x80) ascii = false;
      const str = ascii ? buf.toString('latin1', spos, spos + len) : textDecoder.decode(blob.subarray(spos, spos + len));
      spos += len;
      text += '"' + str + '"';
    }
    text += parts[s + 1]!;
  }
  return text;
}

/** Numeric slot `k` of an encoded row, without decoding the others. */
export function readNumber(shape: Shape, blob: Uint8Array, k: number): number {
  checkFormat(shape, blob);
  let pos = numbersStart(shape, blob);
  for (let j = 0; j < k; j++) pos += slotBytes(blob, pos, tagAt(blob, j));
  return readSlot(shape, blob, pos, tagAt(blob, k), k);
}
