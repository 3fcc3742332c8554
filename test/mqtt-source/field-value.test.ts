/**
 * What a JSON member gives a mapped field (drivers/mqtt-source `fieldValue`), after CONTRACT
 * "Values beyond the electrical ones": a leaf is a number, a boolean, a string or an array of
 * numbers, and the electrical names (v, i, p, q, s, pf, freq, rocof, v_total, i_total, seq) keep
 * numbers only.
 */
import t from 'tap';
import { fieldValue } from '../../drivers/mqtt-source/index.js';

t.test('numbers and numeric strings, for every field', async (t) => {
  t.same(fieldValue(231.5, 'v.a.mag'), { ok: true, value: 231.5 });
  t.same(fieldValue(' 1200.5 ', 'p.total'), { ok: true, value: 1200.5 }, 'a numeric string is read as its number');
  t.same(fieldValue('7', 'tap'), { ok: true, value: 7 }, 'also for a non-electrical field');
  t.same(fieldValue(0, 'soc'), { ok: true, value: 0 });
});

t.test('booleans, strings and arrays of numbers: values, except for electrical fields', async (t) => {
  t.same(fieldValue(true, 'breaker.q1'), { ok: true, value: true });
  t.same(fieldValue('auto', 'mode'), { ok: true, value: 'auto' });
  t.same(fieldValue([1, 2.5], 'harmonics.v.a'), { ok: true, value: [1, 2.5] });
  for (const field of ['v.a.mag', 'i.b.ang', 'p.total', 'pf.a', 'freq', 'rocof', 'v_total', 'seq.v.pos.mag']) {
    t.same(fieldValue(true, field), { ok: false, reason: 'not_numeric' }, `${field}: a boolean is refused`);
    t.same(fieldValue('n/a', field), { ok: false, reason: 'not_numeric' }, `${field}: a word is refused`);
    t.same(fieldValue([1], field), { ok: false, reason: 'not_numeric' }, `${field}: an array is refused`);
  }
});

t.test('missing, and what no field takes', async (t) => {
  t.same(fieldValue(undefined, 'soc'), { ok: false, reason: 'missing' });
  t.same(fieldValue(null, 'mode'), { ok: false, reason: 'missing' });
  t.same(fieldValue({ a: 1 }, 'mode'), { ok: false, reason: 'unsupported_type' }, 'an object');
  t.same(fieldValue([1, 'x'], 'mode'), { ok: false, reason: 'unsupported_type' }, 'a mixed array');
  t.same(fieldValue({ a: 1 }, 'p.a'), { ok: false, reason: 'not_numeric' }, 'an object for an electrical field');
});
