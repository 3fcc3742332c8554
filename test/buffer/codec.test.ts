/**
 * The row codec: decoding gives back the stored text byte for byte (random measurements, real
 * pipeline output of the simulated PMU with power and sequence components, stats messages), one
 * numeric field can be read on its own, and texts it cannot reproduce are left to be stored as text.
 */
import t from 'tap';
import { decode, readNumber, Shape, ShapeBook, MAX_SHAPES_PER_TOPIC } from '../../agent/buffer/codec.js';
import { prng } from '../../algorithms/common/prng.js';
import { computePower } from '../../algorithms/power/index.js';
import { PmuSignal } from '../../drivers/sim-pmu/signal.js';

/** A book and the shapes it made, as the writer keeps them (ids from 1). */
function codec() {
  const book = new ShapeBook();
  let id = 0;
  return {
    book,
    /** Encodes and decodes one text; null when the codec leaves it as text. */
    roundTrip(topic: string, text: string): { blob: Uint8Array; shape: Shape; back: string } | null {
      const enc = book.encode(topic, text);
      if (!enc) return null;
      let shape: Shape;
      if (enc.shape === null) {
        shape = new Shape(++id, enc.created.topic, enc.created.template, enc.created.ref);
        book.add(shape);
      } else shape = enc.shape;
      return { blob: enc.blob, shape, back: decode(shape, enc.blob) };
    },
  };
}

/** Every numeric leaf of a parsed value with its dotted path. */
function numericLeaves(v: unknown, path: string[] = [], out: [string, number][] = []): [string, number][] {
  if (typeof v === 'number') out.push([path.join('.'), v]);
  else if (Array.isArray(v)) v.forEach((x, i) => numericLeaves(x, [...path, String(i)], out));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) numericLeaves(x, [...path, k], out);
  return out;
}

function randomNumber(rand: () => number): number {
  const kind = Math.floor(rand() * 8);
  const bits = new Float64Array(1);
  const words = new Uint32Array(bits.buffer);
  switch (kind) {
    case 0:
      return Math.floor(rand() * 2 ** 31) * (rand() < 0.5 ? -1 : 1);
    case 1:
      return Math.round(rand() * 1e6) / 1000;
    case 2: // any finite double, bit by bit
      do {
        words[0] = Math.floor(rand() * 2 ** 32);
        words[1] = Math.floor(rand() * 2 ** 32);
      } while (!Number.isFinite(bits[0]!));
      return bits[0]!;
    case 3:
      return 1764000000000000 + Math.floor(rand() * 1e12);
    case 4:
      return (rand() - 0.5) * 1e-9;
    case 5:
      return (rand() - 0.5) * 1e300;
    case 6:
      return 0;
    default:
      return 230 + (rand() - 0.5) * 5;
  }
}

function randomString(rand: () => number): string {
  const alphabet = ['a', 'Z', '0', ' ', '"', '\\', '\n', '\u0001', 'é', '€', '😀', '\ud800', '/', 'good', 'stat:data_error'];
  let s = '';
  const n = Math.floor(rand() * 6);
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
  return s;
}

function randomValue(rand: () => number, depth: number): unknown {
  const r = rand();
  if (depth > 3 || r < 0.45) return randomNumber(rand);
  if (r < 0.55) return randomString(rand);
  if (r < 0.6) return rand() < 0.5;
  if (r < 0.62) return null;
  if (r < 0.72) return Array.from({ length: Math.floor(rand() * 4) }, () => randomNumber(rand));
  const o: Record<string, unknown> = {};
  const keys = ['mag', 'ang', 'a', 'b', 'c', 'total', 'p.total', 'x"y', 'ключ', ''];
  for (let i = Math.floor(rand() * 5); i > 0; i--) o[keys[Math.floor(rand() * keys.length)]!] = randomValue(rand, depth + 1);
  return o;
}

function randomMeasurement(rand: () => number, i: number): Record<string, unknown> {
  const m: Record<string, unknown> = { device: `dev${i % 7}`, ts: 1764000000000000 + i * 20000, quality: rand() < 0.8 ? 'good' : 'questionable' };
  for (let k = Math.floor(rand() * 6); k > 0; k--) m[`f${Math.floor(rand() * 10)}`] = randomValue(rand, 0);
  if (rand() < 0.2) m.reasons = ['stale', randomString(rand)];
  return m;
}

t.test('random measurements: decoding gives back the text, and each numeric leaf reads back on its own', async (t) => {
  const rand = prng(42);
  const c = codec();
  let encoded = 0;
  let failures = 0;
  for (let i = 0; i < 5000; i++) {
    const value = randomMeasurement(rand, i);
    const text = JSON.stringify(value);
    const r = c.roundTrip(`bal/processed/dev${i % 7}`, text);
    if (!r) continue; // a topic past its shape limit: stored as text by the buffer
    encoded++;
    if (r.back !== text) {
      if (failures++ < 3) t.equal(r.back, text, `measurement ${i} decodes to the same text`);
      continue;
    }
    for (const [path, v] of numericLeaves(value)) {
      const k = r.shape.numericSlot(path);
      if (k < 0) continue; // a path repeated through a key with a dot in it: the first one is addressable
      const got = readNumber(r.shape, r.blob, k);
      if (!Object.is(got, numericLeaves(JSON.parse(r.back)).find(([p]) => p === path)![1]) && failures++ < 3) {
        t.fail(`measurement ${i}: ${path} reads ${got}, the value is ${v}`);
      }
    }
  }
  t.equal(failures, 0, 'every encoded text decodes exactly and its fields read back');
  t.ok(encoded > 1000, `most were encoded (${encoded} of 5000)`);
});

t.test('real pipeline output: the simulated PMU processed by power, and stats messages', async (t) => {
  const c = codec();
  const sig = new PmuSignal(
    { nominalVoltage: 230, current: 10, powerFactor: 0.95, unbalancePct: 1, currentUnbalancePct: 2, noisePct: 0.1, frequency: 50, frequencyDrift: 0.02, seed: 7 },
    0,
  );
  let textBytes = 0;
  let blobBytes = 0;
  let mismatches = 0;
  const n = 3000;
  for (let i = 0; i < n; i++) {
    const m = computePower(sig.sample('pmu1', 1764000000000000 + i * 20000));
    const text = JSON.stringify(m);
    const r = c.roundTrip('bal/processed/pmu1', text);
    if (!r) {
      t.fail(`sample ${i} was not encoded`);
      break;
    }
    if (r.back !== text) mismatches++;
    textBytes += Buffer.byteLength(text);
    blobBytes += r.blob.length;
    if (i % 500 === 0) {
      const k = r.shape.numericSlot('p.total');
      t.ok(k >= 0, 'p.total has a slot');
      t.equal(readNumber(r.shape, r.blob, k), (m as unknown as { p: { total: number } }).p.total, `p.total of sample ${i}`);
    }
  }
  t.equal(mismatches, 0, 'every processed message decodes to its text');
  const perRow = blobBytes / n;
  t.ok(perRow < 330, `about ${Math.round(perRow)} B per processed message (text ${Math.round(textBytes / n)} B)`);

  const stats = JSON.stringify({
    device: 'pmu1', window: '1m', start: 1764000000000000, end: 1764000060000000, count: 3000,
    fields: { 'p.total': { mean: 7398.5, min: 7001.25, max: 7801.75, stdev: 12.345678901234567, count: 3000, first: 7398.533832626855, last: 7400.1 } },
  });
  const r = c.roundTrip('bal/processed/pmu1/stats/1m', stats);
  t.equal(r?.back, stats, 'a stats message decodes to its text');
  t.equal(readNumber(r!.shape, r!.blob, r!.shape.numericSlot('fields.p.total.mean')), 7398.5, 'a key with a dot inside is one path segment');
  t.equal(readNumber(r!.shape, r!.blob, r!.shape.numericSlot('fields.p.total.stdev')), 12.345678901234567);
});

t.test('texts the codec cannot reproduce are left as text; numbers come back as JSON.stringify writes them', async (t) => {
  const c = codec();
  const asText = [' {"a":1}', '[1,2]', '"str"', '42', '', '{"a":"x\u0001"}', '{"a":"x', '{"a":01}', '{"a":1.}', '{"a":-.5}', '{"a":1.2.3}', '{"a":1e999}', '{"a":1-2}'];
  for (const text of asText) t.equal(c.roundTrip('t', text), null, `${JSON.stringify(text)} is stored as text`);
  const odd = '{"a":1.50,"b":1e3,"c":-0,"d":1E-7,"e":0.10000000000000001,"f":-1.5e+300}';
  t.equal(c.roundTrip('t', odd)?.back, JSON.stringify(JSON.parse(odd)), 'numbers written another way come back as JSON.stringify writes their values');
  t.equal(c.roundTrip('t', '{ "a" : 1 , "b":[ 2 ,3] }')?.back, '{ "a" : 1 , "b":[ 2 ,3] }', 'whitespace stays in the shape');
  t.equal(c.roundTrip('t', '{}')?.back, '{}');
  t.equal(c.roundTrip('t', '{"s":"\\"\\\\\\u00e9"}')?.back, '{"s":"\\"\\\\\\u00e9"}', 'escapes are kept as written');
});

t.test('random text starting with { either round-trips exactly or is left as text', async (t) => {
  const rand = prng(7);
  const c = codec();
  // No piece makes a number JSON.stringify would write differently ('0' or 'e' could: 2.50, 1e5).
  const pieces = ['{', '}', '[', ']', '"', ':', ',', '1', '7', '-', '.', 'a', ' ', '\\', 'true', '2.5', '"k":', 'é'];
  let bad = 0;
  let encoded = 0;
  for (let i = 0; i < 20000; i++) {
    let s = '{';
    for (let k = Math.floor(rand() * 20); k > 0; k--) s += pieces[Math.floor(rand() * pieces.length)];
    if (/\d{16}/.test(s)) continue; // 16 digits and more print in another form
    const r = c.roundTrip(`t${i % 50}`, s);
    if (!r) continue;
    encoded++;
    if (r.back !== s && bad++ < 3) t.equal(r.back, s);
  }
  t.equal(bad, 0, `every encoded text (${encoded}) came back unchanged`);
});

t.test('a topic stops getting new shapes at its limit', async (t) => {
  const c = codec();
  for (let i = 0; i < MAX_SHAPES_PER_TOPIC; i++) t.ok(c.roundTrip('t', `{"k${i}":1}`), `shape ${i}`);
  t.equal(c.roundTrip('t', '{"other":1}'), null, 'the next new structure is stored as text');
  t.ok(c.roundTrip('t', '{"k3":2}'), 'known structures are still encoded');
  t.ok(c.roundTrip('u', '{"other":1}'), 'another topic has its own limit');
});

t.test('forwarded text from the encoded form equals the forwarders\' splice of the decoded text', async (t) => {
  const { spliceFields } = await import('../../agent/forwarders/payload.js');
  const { decodeSpliced } = await import('../../agent/buffer/codec.js');
  const rand = prng(7);
  const c = codec();
  const sig = new PmuSignal(
    { nominalVoltage: 230, current: 10, powerFactor: 0.95, unbalancePct: 1, currentUnbalancePct: 2, noisePct: 0.1, frequency: 50, frequencyDrift: 0.02, seed: 3 },
    0,
  );
  const texts: [string, string][] = [];
  // Processed PMU messages (their top-level `seq` is renamed), random measurements (keys named gw,
  // seq and their renamed forms among them), pretty-printed texts and an empty object.
  for (let i = 0; i < 500; i++) texts.push(['bal/processed/pmu1', JSON.stringify(computePower(sig.sample('pmu1', 1764000000000000 + i * 20000)))]);
  for (let i = 0; i < 3000; i++) {
    const m = randomMeasurement(rand, i);
    if (i % 5 === 0) m['seq'] = { v: i };
    if (i % 7 === 0) m['gw'] = 'spoof';
    if (i % 11 === 0) m['seq_components'] = 1;
    texts.push([`bal/processed/r${i % 5}`, i % 3 === 0 ? JSON.stringify(m, null, 2) : JSON.stringify(m)]);
  }
  texts.push(['bal/processed/empty', '{}'], ['bal/processed/empty', ' { } ']);
  const fieldLists: [string, string][][] = [
    [['gw', '"gw-1"'], ['seq', '42']],
    [['gw', '"gw-1"'], ['seq', '42'], ['topic', '"bal/processed/x"']],
  ];
  let compared = 0;
  let differ = 0;
  let viaShape = 0;
  for (const [topic, text] of texts) {
    const r = c.roundTrip(topic, text);
    if (!r) continue;
    for (const fields of fieldLists) {
      const want = spliceFields(r.back, fields);
      const fast = decodeSpliced(r.shape, r.blob, fields, spliceFields);
      if (fast !== null) viaShape++;
      const got = fast ?? spliceFields(r.back, fields);
      compared++;
      if (got !== want && differ++ < 3) t.equal(got, want, `${topic}: ${text.slice(0, 80)}`);
    }
  }
  t.equal(differ, 0, `byte-identical in all ${compared} cases`);
  t.ok(compared > 2000, `texts encoded and compared: ${compared} (the others were past their topic's shape limit)`);
  t.equal(viaShape, compared, 'every one built from its shape (objects only here)');
});
