/** Register decoding and request planning: byte-by-byte expected values and IEEE 754 known answers. */
import t from 'tap';
import { decodeRaw, encodeRaw, registerCount, scaled, valueBytes, BYTE_ORDERS, REGISTER_TYPES } from '../../drivers/modbus/decode.js';
import { planRequests, MAX_BITS, MAX_REGISTERS } from '../../drivers/modbus/plan.js';
import { buildMeasurement } from '../../drivers/modbus/index.js';

const hex = (b: Buffer) => b.toString('hex');

t.test('valueBytes puts the bytes most significant first for every order', async (t) => {
  // The value 0x12345678 as each order sends it, register by register.
  t.equal(hex(valueBytes([0x1234, 0x5678], 0, 2, 'ABCD')), '12345678');
  t.equal(hex(valueBytes([0x5678, 0x1234], 0, 2, 'CDAB')), '12345678');
  t.equal(hex(valueBytes([0x3412, 0x7856], 0, 2, 'BADC')), '12345678');
  t.equal(hex(valueBytes([0x7856, 0x3412], 0, 2, 'DCBA')), '12345678');
  // 16-bit: only the byte swap applies.
  t.equal(hex(valueBytes([0x1234], 0, 1, 'CDAB')), '1234');
  t.equal(hex(valueBytes([0x3412], 0, 1, 'DCBA')), '1234');
  t.equal(hex(valueBytes([0x3412], 0, 1, 'BADC')), '1234');
  // An offset into a longer response.
  t.equal(hex(valueBytes([0xdead, 0x0102, 0x0304, 0xbeef], 1, 2, 'ABCD')), '01020304');
  t.throws(() => valueBytes([1], 0, 2, 'ABCD'), /need registers 0..1, have 1/);
  t.throws(() => valueBytes([0x10000], 0, 1, 'ABCD'), /not a 16-bit word/);
});

t.test('integers', async (t) => {
  t.equal(decodeRaw([0xfffe], 0, 'u16', 'ABCD'), 65534);
  t.equal(decodeRaw([0xfffe], 0, 'i16', 'ABCD'), -2);
  t.equal(decodeRaw([0xfeff], 0, 'i16', 'BADC'), -2);
  t.equal(decodeRaw([0x3412], 0, 'u16', 'DCBA'), 0x1234);
  t.equal(decodeRaw([0x1234, 0x5678], 0, 'u32', 'ABCD'), 305419896);
  t.equal(decodeRaw([0x5678, 0x1234], 0, 'u32', 'CDAB'), 305419896);
  t.equal(decodeRaw([0x3412, 0x7856], 0, 'u32', 'BADC'), 305419896);
  t.equal(decodeRaw([0x7856, 0x3412], 0, 'u32', 'DCBA'), 305419896);
  t.equal(decodeRaw([0xffff, 0xff85], 0, 'i32', 'ABCD'), -123);
  t.equal(decodeRaw([0xff85, 0xffff], 0, 'i32', 'CDAB'), -123);
  t.equal(decodeRaw([0x85ff, 0xffff], 0, 'i32', 'DCBA'), -123);
  t.equal(decodeRaw([0xffff, 0xffff], 0, 'u32', 'ABCD'), 4294967295);
});

t.test('IEEE 754 known answers', async (t) => {
  // 230.0f = 0x43660000
  t.equal(decodeRaw([0x4366, 0x0000], 0, 'f32', 'ABCD'), 230);
  t.equal(decodeRaw([0x0000, 0x4366], 0, 'f32', 'CDAB'), 230);
  t.equal(decodeRaw([0x6643, 0x0000], 0, 'f32', 'BADC'), 230);
  t.equal(decodeRaw([0x0000, 0x6643], 0, 'f32', 'DCBA'), 230);
  // -2.5f = 0xC0200000, 1.0f = 0x3F800000, 50.01f = 0x42480A3D (nearest float to 50.01)
  t.equal(decodeRaw([0xc020, 0x0000], 0, 'f32', 'ABCD'), -2.5);
  t.equal(decodeRaw([0x3f80, 0x0000], 0, 'f32', 'ABCD'), 1);
  t.equal(decodeRaw([0x4248, 0x0a3d], 0, 'f32', 'ABCD'), Math.fround(50.01));
  t.ok(Number.isNaN(decodeRaw([0x7fc0, 0x0000], 0, 'f32', 'ABCD')), '0x7FC00000 is a NaN');
  t.equal(decodeRaw([0x7f80, 0x0000], 0, 'f32', 'ABCD'), Infinity);
  // pi as a double = 0x400921FB54442D18
  t.equal(decodeRaw([0x4009, 0x21fb, 0x5444, 0x2d18], 0, 'f64', 'ABCD'), Math.PI);
  t.equal(decodeRaw([0x2d18, 0x5444, 0x21fb, 0x4009], 0, 'f64', 'CDAB'), Math.PI);
  t.equal(decodeRaw([0x0940, 0xfb21, 0x4454, 0x182d], 0, 'f64', 'BADC'), Math.PI);
  t.equal(decodeRaw([0x182d, 0x4454, 0xfb21, 0x0940], 0, 'f64', 'DCBA'), Math.PI);
  // 0.1 = 0x3FB999999999999A
  t.equal(decodeRaw([0x3fb9, 0x9999, 0x9999, 0x999a], 0, 'f64', 'ABCD'), 0.1);
});

t.test('encodeRaw is the inverse of decodeRaw for every type and order', async (t) => {
  const samples: Record<string, number[]> = {
    u16: [0, 1, 0x1234, 65535],
    i16: [-32768, -2, 0, 32767],
    u32: [0, 305419896, 4294967295],
    i32: [-2147483648, -123, 2147483647],
    f32: [230, -2.5, Math.fround(0.1)],
    f64: [Math.PI, 0.1, -1e300],
  };
  for (const type of REGISTER_TYPES)
    for (const order of BYTE_ORDERS)
      for (const v of samples[type]!) {
        const words = encodeRaw(v, type, order);
        t.equal(words.length, registerCount(type));
        t.equal(decodeRaw(words, 0, type, order), v, `${type} ${order} ${v}`);
      }
  // One fixed encoding checked word by word.
  t.same(encodeRaw(230, 'f32', 'CDAB'), [0x0000, 0x4366]);
  t.same(encodeRaw(Math.PI, 'f64', 'BADC'), [0x0940, 0xfb21, 0x4454, 0x182d]);
});

t.test('scale and offset', async (t) => {
  t.equal(scaled(2305, 0.1, 0), 230.5);
  t.equal(scaled(1000, 1, -40), 960);
  t.equal(scaled(12, 1000, 0), 12000);
});

t.test('planning merges adjacent registers and cheap gaps, splits at the limits', async (t) => {
  const pts = [
    { function: 'input' as const, address: 0, count: 2 },
    { function: 'input' as const, address: 2, count: 2 },
    { function: 'input' as const, address: 10, count: 2 }, // gap of 6
    { function: 'input' as const, address: 100, count: 2 }, // gap of 88
    { function: 'holding' as const, address: 5, count: 1 },
  ];
  const plan = planRequests(pts, 8);
  t.same(
    plan.map((r) => [r.function, r.address, r.count, r.points.map((p) => [p.index, p.at])]),
    [
      ['holding', 5, 1, [[4, 0]]],
      ['input', 0, 12, [[0, 0], [1, 2], [2, 10]]],
      ['input', 100, 2, [[3, 0]]],
    ],
  );
  t.same(
    planRequests(pts, 0).map((r) => [r.function, r.address, r.count]),
    [['holding', 5, 1], ['input', 0, 4], ['input', 10, 2], ['input', 100, 2]],
    'maxGap 0 merges only adjacent points',
  );
  // 70 f32 values back to back: 140 registers, more than one request may carry.
  const many = Array.from({ length: 70 }, (_, k) => ({ function: 'holding' as const, address: 2 * k, count: 2 }));
  const split = planRequests(many, 8);
  t.same(split.map((r) => [r.address, r.count]), [[0, 124], [124, 16]], 'split so that no request exceeds 125 registers and no value is cut');
  t.ok(split.every((r) => r.count <= MAX_REGISTERS));
  // Coils: 2500 adjacent bits become 2000 + 500; the gap allowance is 16 bits per register of maxGap.
  const coils = Array.from({ length: 2500 }, (_, k) => ({ function: 'coil' as const, address: k, count: 1 }));
  t.same(planRequests(coils, 0).map((r) => [r.address, r.count]), [[0, MAX_BITS], [2000, 500]]);
  const sparse = [
    { function: 'coil' as const, address: 0, count: 1 },
    { function: 'coil' as const, address: 17, count: 1 }, // gap 16 bits
    { function: 'coil' as const, address: 35, count: 1 }, // gap 17 bits
  ];
  t.same(planRequests(sparse, 1).map((r) => [r.address, r.count]), [[0, 18], [35, 1]]);
});

t.test('buildMeasurement: values at their paths, held values marked invalid, phasors need a magnitude', async (t) => {
  const reg = (field: string) => ({ field, function: 'input' as const, address: 0, type: 'u16' as const, order: 'ABCD' as const, scale: 1, offset: 0 });
  const regs = [reg('v.a.mag'), reg('v.a.ang'), reg('v.b.ang'), reg('soc'), reg('breaker.q1'), reg('tap')];
  const m = buildMeasurement('d1', 1_000_000, regs, [230, -1, 120, 55, true, undefined], new Map([[3, 'modbus:timeout'], [2, 'modbus:exception:2']]));
  t.same(m, {
    device: 'd1',
    ts: 1_000_000,
    quality: 'invalid',
    v: { a: { mag: 230, ang: -1 } },
    soc: 55,
    breaker: { q1: true },
    field_quality: { soc: 'invalid' },
    reasons: ['modbus:timeout'],
  }, 'v.b has no magnitude and is left out with its quality entry and reason; tap was never read');
  t.equal(buildMeasurement('d1', 1, [reg('tap')], [undefined], new Map([[0, 'modbus:timeout']])), null, 'nothing read yet: nothing to publish');
  t.same(buildMeasurement('d1', 1, [reg('tap')], [3], new Map()), { device: 'd1', ts: 1, quality: 'good', tap: 3 });
});
