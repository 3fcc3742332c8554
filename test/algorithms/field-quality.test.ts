import t from 'tap';
import type { Measurement } from '../../algorithms/common/measurement.js';
import {
  copyFieldQuality, covers, markField, qualityOf, worstFieldQuality,
} from '../../algorithms/common/field-quality.js';
import type { FieldQuality } from '../../algorithms/common/field-quality.js';

// The rule under test: without field_quality every field has the message's quality; with it, fields it
// does not name are good; an entry covers its own path, the paths below it and the paths above it, and
// a field's quality is the worst entry covering it.

const msg = (quality: string, extra: Record<string, unknown> = {}): Measurement =>
  ({ device: 'd', ts: 1, quality, ...extra }) as unknown as Measurement;

t.test('without field_quality every field has the message quality', async (t) => {
  for (const q of ['good', 'questionable', 'invalid'] as const) {
    const m = msg(q, { soc: 5, v: { a: { mag: 1 } } });
    t.equal(qualityOf(m, 'soc'), q, `soc is ${q}`);
    t.equal(qualityOf(m, 'v.a.mag'), q, `v.a.mag is ${q}`);
    t.equal(qualityOf(m, 'absent.path'), q, 'an absent path too');
  }
  t.equal(qualityOf(msg('bogus'), 'soc'), 'questionable', 'an unknown quality counts as questionable');
  t.equal(qualityOf(msg('good', { field_quality: [1] }), 'soc'), 'good', 'an array is not a field_quality');
  t.equal(qualityOf(msg('invalid', { field_quality: null }), 'soc'), 'invalid', 'null is not a field_quality');
});

t.test('with field_quality, unnamed fields are good whatever the message quality', async (t) => {
  const m = msg('invalid', { field_quality: { 'v.a': 'invalid' }, soc: 1 });
  t.equal(qualityOf(m, 'soc'), 'good');
  t.equal(qualityOf(m, 'v.b.mag'), 'good');
  t.equal(qualityOf(msg('invalid', { field_quality: {} }), 'soc'), 'good', 'an empty field_quality names nothing');
});

t.test('an entry covers the paths below and above it, on segment boundaries only', async (t) => {
  const m = msg('invalid', { field_quality: { 'v.a': 'invalid', 'i.b.mag': 'questionable' } });
  t.equal(qualityOf(m, 'v.a'), 'invalid', 'the path itself');
  t.equal(qualityOf(m, 'v.a.mag'), 'invalid', '"v.a" invalid covers "v.a.mag"');
  t.equal(qualityOf(m, 'v'), 'invalid', '"v" holds an invalid part');
  t.equal(qualityOf(m, 'v.ab'), 'good', '"v.ab" is not below "v.a"');
  t.equal(qualityOf(m, 'v.b'), 'good');
  t.equal(qualityOf(m, 'i.b'), 'questionable', 'asking for "i.b" when "i.b.mag" is questionable');
  t.equal(qualityOf(m, 'i.b.ang'), 'good', 'a sibling of the named field');
  t.equal(qualityOf(m, 'i'), 'questionable');
  const both = msg('invalid', { field_quality: { v: 'questionable', 'v.a.mag': 'invalid' } });
  t.equal(qualityOf(both, 'v.a'), 'invalid', 'worst of the covering entries');
  t.equal(qualityOf(both, 'v.b.mag'), 'questionable', 'covered by "v" only');
  t.ok(covers('p', 'p.total') && covers('p.total', 'p') && covers('p', 'p'));
  t.notOk(covers('p', 'pf.a') || covers('pf', 'p') || covers('p.t', 'p.total'));
});

t.test('only own properties count; odd keys from JSON stay data', async (t) => {
  const inherited = Object.create({ field_quality: { soc: 'invalid' } }) as Measurement;
  Object.assign(inherited, { device: 'd', ts: 1, quality: 'good', soc: 1 });
  t.equal(qualityOf(inherited, 'soc'), 'good', 'an inherited field_quality is not read');
  const fq = Object.create({ soc: 'invalid' }) as FieldQuality;
  fq.tap = 'questionable';
  const m = msg('questionable', { field_quality: fq });
  t.equal(qualityOf(m, 'soc'), 'good', 'an inherited entry is not read');
  t.equal(qualityOf(m, 'tap'), 'questionable');
  t.equal(worstFieldQuality(fq), 'questionable', 'worst over own entries only');
  t.same(Object.keys(copyFieldQuality(fq)), ['tap'], 'the copy holds own entries only');

  const parsed = JSON.parse('{"device":"d","ts":1,"quality":"invalid","field_quality":{"__proto__":"invalid","constructor":"questionable"}}') as Measurement;
  t.equal(qualityOf(parsed, '__proto__'), 'invalid', 'a field named __proto__ is an ordinary entry');
  t.equal(qualityOf(parsed, 'constructor'), 'questionable');
  t.equal(qualityOf(parsed, 'toString'), 'good');
  const copy = copyFieldQuality(parsed.field_quality!);
  t.equal(Object.getPrototypeOf(copy), Object.prototype, 'copying "__proto__" does not change the prototype');
  t.equal(JSON.stringify(copy), '{"__proto__":"invalid","constructor":"questionable"}', 'both entries survive as data');
});

t.test('markField records worse-than-good qualities and never improves an entry', async (t) => {
  const fq: FieldQuality = {};
  markField(fq, 'p.a', 'good');
  t.same(fq, {}, 'good is not recorded');
  markField(fq, 'p.a', 'questionable');
  markField(fq, 'p.b', 'invalid');
  t.same(fq, { 'p.a': 'questionable', 'p.b': 'invalid' });
  markField(fq, 'p.b', 'questionable');
  t.equal(fq['p.b'], 'invalid', 'an invalid entry stays invalid');
  markField(fq, 'p.a', 'invalid');
  t.equal(fq['p.a'], 'invalid', 'a questionable entry is lowered to invalid');
  markField(fq, '__proto__', 'invalid');
  t.ok(Object.prototype.hasOwnProperty.call(fq, '__proto__'), '"__proto__" written as an own key');
  t.equal(Object.getPrototypeOf(fq), Object.prototype);
});

t.test('worstFieldQuality', async (t) => {
  t.equal(worstFieldQuality(undefined), 'good');
  t.equal(worstFieldQuality({}), 'good');
  t.equal(worstFieldQuality({ a: 'questionable' }), 'questionable');
  t.equal(worstFieldQuality({ a: 'questionable', b: 'invalid', c: 'questionable' }), 'invalid');
});
