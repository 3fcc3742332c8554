import t, { type Test } from 'tap';
import { parseMeasurement, checkMeasurement, deviceNameError, DEFAULT_VALUE_LIMITS } from '../../agent/pipeline/validate.js';
import { scanJson } from '../../agent/pipeline/json-limits.js';

const NOW = 1_764_000_000_000_000; // µs
const limits = { maxPayloadBytes: 2048, nowUs: NOW, futureToleranceUs: 300e6, pastToleranceUs: 7 * 86400e6 };
const good = {
  device: 'pmu1',
  ts: NOW - 20_000,
  quality: 'good',
  freq: 50.01,
  v: { a: { mag: 230, ang: 0 }, b: { mag: 230, ang: -120 }, c: { mag: 230, ang: 120 } },
  i: { a: { mag: 10, ang: -30 } },
};
const parse = (x: unknown, dev = 'pmu1') => parseMeasurement(typeof x === 'string' ? x : JSON.stringify(x), dev, limits);

t.test('a measurement as the README shows it is accepted as is, extra fields kept', async (t) => {
  const r = parse({ ...good, vendor: { fw: '1.2' } });
  t.ok(r.ok);
  if (r.ok) {
    t.equal(r.m.device, 'pmu1');
    t.equal(r.m.quality, 'good');
    t.same(r.m.vendor, { fw: '1.2' });
    t.equal(r.m.reasons, undefined);
  }
});

t.test('device comes from the topic when the payload has none, and must agree when it has one', async (t) => {
  const { device: _d, ...rest } = good;
  const r = parse(rest, 'meter7');
  t.ok(r.ok && r.m.device === 'meter7');
  const bad = parse(good, 'other');
  t.same(bad.ok ? null : bad.reason, 'device_mismatch');
});

t.test('each kind of bad input is rejected with its reason and a detail naming the field', async (t) => {
  const cases: [string, unknown, string, RegExp][] = [
    ['malformed JSON', '{"device": "pmu1", ', 'bad_json', /not JSON/],
    ['array', '[1,2]', 'not_object', /object/],
    ['string mag', { ...good, v: { a: { mag: '230' } } }, 'bad_type', /v\.a\.mag/],
    ['NaN as string', { ...good, freq: 'NaN' }, 'bad_type', /freq/],
    ['Infinity', '{"device":"pmu1","ts":1,"freq":1e999}', 'non_finite', /freq/],
    ['unknown phase', { ...good, v: { d: { mag: 1 } } }, 'unknown_phase', /v\.d/],
    ['unknown power phase', { ...good, p: { x: 1 } }, 'unknown_phase', /p\.x/],
    ['missing mag', { ...good, i: { a: { ang: 3 } } }, 'missing_field', /i\.a\.mag/],
    ['negative magnitude', { ...good, i: { a: { mag: -1, ang: 0 } } }, 'bad_value', /negative/],
    ['bad quality', { ...good, quality: 'great' }, 'bad_value', /quality/],
    ['fractional ts', { ...good, ts: 1.5 }, 'bad_value', /ts/],
    ['no value', { device: 'pmu1', ts: NOW }, 'missing_field', /no value/],
    ['only an empty object', { device: 'pmu1', ts: NOW, x: {} }, 'missing_field', /no value/],
    ['reasons not strings', { ...good, reasons: [1] }, 'bad_type', /reasons/],
    ['zero frequency', { ...good, freq: 0 }, 'bad_value', /freq/],
  ];
  for (const [name, input, reason, detail] of cases) {
    const r = parse(input);
    t.equal(r.ok, false, name);
    if (!r.ok) {
      t.equal(r.reason, reason, `${name}: reason`);
      t.match(r.detail, detail, `${name}: detail`);
    }
  }
});

t.test('oversize payloads are rejected before parsing', async (t) => {
  const r = parse({ ...good, pad: 'x'.repeat(3000) });
  t.equal(r.ok ? null : r.reason, 'oversize');
});

t.test('timestamps far in the future or past are kept and flagged questionable with a reason', async (t) => {
  const fut = parse({ ...good, ts: NOW + 3600e6 });
  t.ok(fut.ok);
  if (fut.ok) {
    t.equal(fut.m.quality, 'questionable');
    t.same(fut.m.reasons, ['ts_future']);
  }
  const past = parse({ ...good, ts: NOW - 30 * 86400e6 });
  t.ok(past.ok && past.m.quality === 'questionable' && past.m.reasons?.includes('ts_past'));
  const { ts: _ts, ...noTs } = good;
  const missing = parse(noTs);
  t.ok(missing.ok);
  if (missing.ok) {
    t.equal(missing.m.ts, NOW, 'arrival time used');
    t.same(missing.m.reasons, ['ts_missing']);
  }
  // Invalid stays invalid: flagging never improves quality.
  const inv = parse({ ...good, quality: 'invalid', ts: NOW + 3600e6 });
  t.ok(inv.ok && inv.m.quality === 'invalid');
});

t.test('checkMeasurement validates driver objects the same way', async (t) => {
  const r = checkMeasurement({ device: 'x', ts: NOW, quality: 'good', v: { a: { mag: Number.NaN } } }, null, limits);
  t.equal(r.ok ? null : r.reason, 'non_finite');
  const ok = checkMeasurement({ device: 'x', ts: NOW, quality: 'good', v: { a: { mag: 1 } } }, null, limits);
  t.ok(ok.ok);
});

/** Parse and expect a rejection; returns [reason, detail] for assertions. */
function rejected(t: Test, input: unknown, reason: string, detail: RegExp, name: string, l = limits): void {
  const r = parseMeasurement(typeof input === 'string' ? input : JSON.stringify(input), 'pmu1', l);
  t.equal(r.ok, false, `${name}: rejected`);
  if (!r.ok) {
    t.equal(r.reason, reason, `${name}: reason`);
    t.match(r.detail, detail, `${name}: detail names the field`);
  }
}

const bigLimits = { ...limits, maxPayloadBytes: 1 << 20 };

t.test('value-only messages of every leaf shape are accepted and kept as sent', async (t) => {
  const values = {
    soc: 53.2,
    breaker: { q1: true, q2: false },
    tap: 5,
    mode: 'auto',
    harmonics: [1, 0.02, 0.01],
    empty: [],
    site: { bay: { feeder: { temp: -3.5, label: '' } } },
  };
  const r = parse({ device: 'rtu9', ts: NOW, ...values }, 'rtu9');
  t.ok(r.ok, r.ok ? 'accepted' : r.detail);
  if (r.ok) {
    t.equal(r.m.quality, 'good');
    for (const [k, v] of Object.entries(values)) t.same(r.m[k], v, `${k} kept`);
  }
  for (const one of [{ soc: 1 }, { flag: true }, { mode: 'x' }, { arr: [1] }, { tree: { a: { b: 0 } } }]) {
    const m = parse({ device: 'd', ...one }, 'd');
    t.ok(m.ok, `one value is enough: ${JSON.stringify(one)}`);
  }
  // The electrical names keep their checks alongside values.
  const mixed = parse({ ...good, soc: 50, v_total: 690, i_total: 10, seq: { v: { pos: { mag: 230, ang: 0 }, zero: { mag: 0 } }, v_unbalance_pct: 0.1 } });
  t.ok(mixed.ok, mixed.ok ? 'electrical and values together' : mixed.detail);
});

t.test('each class of bad value is rejected with a reason and the field path', async (t) => {
  const cases: [string, unknown, string, RegExp][] = [
    ['null leaf', { ...good, x: { y: null } }, 'bad_type', /x\.y is null/],
    ['object inside an array', { ...good, arr: [1, { a: 1 }] }, 'bad_type', /arr\[1\].*objects and arrays inside arrays/],
    ['array inside an array', { ...good, arr: [[1]] }, 'bad_type', /arr\[0\]/],
    ['string inside an array', { ...good, arr: [1, 'x'] }, 'bad_type', /arr\[1\].*string/],
    ['boolean inside an array', { ...good, a: { arr: [true] } }, 'bad_type', /a\.arr\[0\]/],
    ['infinite number in a value', '{"device":"pmu1","x":{"y":1e999}}', 'non_finite', /x\.y/],
    ['infinite number in an array', '{"device":"pmu1","x":[1,-1e999]}', 'non_finite', /x\[1\]/],
    ['string too long', { ...good, note: { text: 'x'.repeat(DEFAULT_VALUE_LIMITS.maxStringLength + 1) } }, 'too_long', /note\.text.*string longer/],
    ['array too long', { ...good, wave: new Array(DEFAULT_VALUE_LIMITS.maxArrayLength + 1).fill(0) }, 'too_long', /wave.*array longer/],
    ['nesting beyond the limit', { ...good, a: { b: { c: { d: { e: { f: { g: { h: { i: 1 } } } } } } } } }, 'too_deep', /a\.b\.c\.d\.e\.f\.g\.h nests deeper than 8/],
    ['key with a dot', { ...good, x: { 'a.b': 1 } }, 'bad_key', /x\."a\.b".*must not contain "\."/],
    ['empty key', { ...good, x: { '': 1 } }, 'bad_key', /x\.""/],
    ['key too long', { ...good, ['k'.repeat(129)]: 1 }, 'bad_key', /longer than 128/],
    ['too many keys', { ...good, many: Object.fromEntries(Array.from({ length: 600 }, (_, k) => [`k${k}`, k])) }, 'too_many_keys', /more than 512/],
    ['bad electrical total', { ...good, v_total: 'x' }, 'bad_type', /v_total/],
    ['negative electrical total', { ...good, i_total: -1 }, 'bad_value', /i_total/],
    ['seq of the wrong shape', { ...good, seq: { v: { plus: { mag: 1 } } } }, 'bad_key', /seq\.v\.plus/],
    ['seq phasor without mag', { ...good, seq: { i: { pos: { ang: 1 } } } }, 'missing_field', /seq\.i\.pos\.mag/],
    ['extra field in a phasor checked as a value', { ...good, v: { a: { mag: 1, note: null } } }, 'bad_type', /v\.a\.note/],
    ['reasons too long', { ...good, reasons: ['x'.repeat(2000)] }, 'too_long', /reasons\[0\]/],
    ['reasons with a control character', { ...good, reasons: ['ok', 'stat:\u001b[31mred'] }, 'bad_value', /reasons\[1\] contains control character U\+001B at 5/],
    ['reasons with a C1 control character', { ...good, reasons: ['a\u0085'] }, 'bad_value', /reasons\[0\] contains control character U\+0085 at 1/],
  ];
  for (const [name, input, reason, detail] of cases) rejected(t, input, reason, detail, name, bigLimits);
});

t.test('limits can be tightened per call', async (t) => {
  const tight = { ...limits, maxDepth: 3, maxArrayLength: 2, maxStringLength: 3, maxKeys: 20, maxKeyLength: 13 };
  rejected(t, { device: 'pmu1', x: { y: { z: { w: 1 } } } }, 'too_deep', /^x\.y\.z nests deeper than 3/, 'depth 4 over 3', tight);
  rejected(t, { device: 'pmu1', x: [1, 2, 3] }, 'too_long', /x/, 'array of 3 over 2', tight);
  rejected(t, { device: 'pmu1', x: 'abcd' }, 'too_long', /x/, 'string of 4 over 3', tight);
  rejected(t, { device: 'pmu1', abcdefghijklmn: 1 }, 'bad_key', /abcdefghijklmn/, 'key of 14 over 13', tight);
  t.ok(parseMeasurement(JSON.stringify({ device: 'pmu1', x: { y: 'abc' }, a: [1, 2] }), 'pmu1', tight).ok, 'at the limits: accepted');
});

t.test('field_quality names present fields and lowers the message quality, never raises it', async (t) => {
  const msg = { device: 'rtu9', ts: NOW, soc: 53.2, breaker: { q1: true, q2: false }, v: { a: { mag: 230, ang: 0 } } };
  const r = parse({ ...msg, field_quality: { soc: 'questionable', 'breaker.q1': 'invalid', 'v.a': 'questionable' } }, 'rtu9');
  t.ok(r.ok, r.ok ? 'accepted' : r.detail);
  if (r.ok) {
    t.equal(r.m.quality, 'invalid', 'lowered to the worst field');
    t.same(r.m.field_quality, { soc: 'questionable', 'breaker.q1': 'invalid', 'v.a': 'questionable' }, 'kept for consumers');
  }
  const q = parse({ ...msg, field_quality: { breaker: 'questionable', 'v.a.mag': 'questionable' } }, 'rtu9');
  t.ok(q.ok && q.m.quality === 'questionable', 'a subtree and an electrical leaf can be named');
  const inv = parse({ ...msg, quality: 'invalid', field_quality: { soc: 'questionable' } }, 'rtu9');
  t.ok(inv.ok && inv.m.quality === 'invalid', 'never raised');
  const empty = parse({ ...msg, field_quality: {} }, 'rtu9');
  t.ok(empty.ok && empty.m.quality === 'good', 'empty field_quality changes nothing');

  const bad: [string, unknown, RegExp][] = [
    ['absent field', { soc: 'invalid', missing: 'invalid' }, /"missing".*not a value field/],
    ['absent nested field', { 'breaker.q3': 'invalid' }, /"breaker\.q3"/],
    ['path into a leaf', { 'soc.x': 'invalid' }, /"soc\.x"/],
    ['reserved field', { ts: 'invalid' }, /"ts"/],
    ['empty path segment', { 'breaker..q1': 'invalid' }, /"breaker\.\.q1"/],
    ['quality that does not exist', { soc: 'bad' }, /field_quality\["soc"\].*questionable.*invalid.*string "bad"/],
    ['good is not a field quality', { soc: 'good' }, /field_quality\["soc"\]/],
    ['quality not a string', { soc: 2 }, /field_quality\["soc"\]/],
    ['inherited property', { toString: 'invalid' }, /"toString"/],
  ];
  for (const [name, fq, detail] of bad) rejected(t, { ...msg, device: 'pmu1', field_quality: fq }, 'bad_field_quality', detail, name);
  rejected(t, { ...msg, device: 'pmu1', field_quality: ['soc'] }, 'bad_field_quality', /field_quality must be an object/, 'not an object');
});

t.test('a deeply nested payload is rejected by the text scan, cheaply, without recursion', async (t) => {
  const depth = 5000;
  const bomb = '{"device":"pmu1","freq":50,"x":' + '['.repeat(depth) + ']'.repeat(depth) + '}';
  t.ok(bomb.length >= 10_000, '10 kB payload');
  const start = process.hrtime.bigint();
  const r = parseMeasurement(bomb, 'pmu1', limits.maxPayloadBytes >= bomb.length ? limits : bigLimits);
  const us = Number(process.hrtime.bigint() - start) / 1000;
  t.equal(r.ok ? null : r.reason, 'too_deep');
  t.match(r.ok ? '' : r.detail, /^x(\[0\]){7} nests deeper than 8/);
  t.comment(`rejected in ${us.toFixed(0)} µs`);
  // The text scan alone refuses it: JSON.parse and the walk never see the document.
  t.match(scanJson(bomb, DEFAULT_VALUE_LIMITS), { reason: 'too_deep' }, 'refused by the scan before parsing');
  const objBomb = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  const o = parseMeasurement(objBomb, 'pmu1', { ...limits, maxPayloadBytes: 1 << 20 });
  t.equal(o.ok ? null : o.reason, 'too_deep', 'objects nested deep too');
  // A driver object nested deep (or cyclic) is stopped by the bounded walk, not a stack overflow.
  let deep: Record<string, unknown> = { leaf: 1 };
  for (let k = 0; k < 100_000; k++) deep = { n: deep };
  const d = checkMeasurement({ device: 'x', freq: 50, deep }, null, limits);
  t.equal(d.ok ? null : d.reason, 'too_deep', 'deep driver object');
  const cyclic: Record<string, unknown> = { device: 'x', freq: 50 };
  cyclic.self = cyclic;
  const c = checkMeasurement(cyclic, null, limits);
  t.equal(c.ok ? null : c.reason, 'too_deep', 'cyclic driver object');
  // Whatever is accepted can be serialised.
  const okDeep = parse({ device: 'pmu1', a: { b: { c: { d: { e: { f: { g: 1 } } } } } } });
  t.ok(okDeep.ok, 'depth 8 accepted');
  if (okDeep.ok) t.doesNotThrow(() => JSON.stringify(okDeep.m));
});

t.test('__proto__, constructor and prototype keys are rejected at any depth', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['top-level __proto__ (issue payload)', `{"ts":${NOW},"freq":50,"__proto__":{"v":{"a":{"mag":-777,"ang":0}},"p":{"total":-1e300}}}`, /^__proto__/],
    ['nested __proto__', '{"freq":50,"x":{"y":{"__proto__":{"z":1}}}}', /^x\.y\.__proto__/],
    ['__proto__ in a phase set', '{"p":{"__proto__":{"a":1}}}', /^p\.__proto__/],
    ['__proto__ in a phasor', '{"v":{"a":{"mag":1,"__proto__":{"mag":-1}}}}', /^v\.a\.__proto__/],
    ['constructor', '{"freq":50,"constructor":{"prototype":{"x":1}}}', /^constructor/],
    ['prototype nested', '{"freq":50,"a":{"prototype":1}}', /^a\.prototype/],
    ['escaped __proto__', '{"freq":50,"\\u005f_proto__":{"x":1}}', /__proto__/],
    ['in field_quality', '{"freq":50,"field_quality":{"__proto__":"invalid"}}', /field_quality\.__proto__/],
  ];
  for (const [name, text, detail] of cases) rejected(t, text, 'forbidden_key', detail, name);
  // Driver objects: an own __proto__ key (as JSON.parse or defineProperty makes) is caught as well.
  const m: Record<string, unknown> = { device: 'x', freq: 50 };
  Object.defineProperty(m, '__proto__', { value: { freq: -1 }, enumerable: true });
  const r = checkMeasurement(m, null, limits);
  t.equal(r.ok ? null : r.reason, 'forbidden_key', 'own __proto__ on a driver object');
  const inst = checkMeasurement({ device: 'x', freq: 50, when: new Date(0) }, null, limits);
  t.equal(inst.ok ? null : inst.reason, 'bad_type', 'class instances are not values');
});

t.test('duplicate keys are rejected, escapes decoded, at any depth', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['plain duplicate', '{"device":"pmu1","freq":50,"freq":51}', /^freq appears twice/],
    ['escaped duplicate', '{"freq":50,"seq":{},"s\\u0065q":{}}', /^seq appears twice/],
    ['both escaped', '{"freq":50,"\\u0061":1,"\\u0061":2}', /^a appears twice/],
    ['nested duplicate', '{"freq":50,"x":{"y":{"k":1,"k":2}}}', /^x\.y\.k appears twice/],
    ['in a phase set', '{"v":{"a":{"mag":1},"a":{"mag":2}}}', /^v\.a appears twice/],
    ['beyond the linear search', '{"freq":50,"m":{' + Array.from({ length: 40 }, (_, k) => `"k${k}":1`).join(',') + ',"k33":2}}', /^m\.k33 appears twice/],
    ['in field_quality', '{"freq":50,"field_quality":{"freq":"invalid","freq":"questionable"}}', /field_quality\.freq/],
  ];
  for (const [name, text, detail] of cases) rejected(t, text, 'duplicate_key', detail, name);
  // The same name in different objects, or as a string value, is fine.
  const ok = parse('{"device":"pmu1","freq":50,"a":{"freq":1},"b":{"freq":2},"c":["freq"],"n":"freq"}');
  t.equal(ok.ok ? 'accepted' : ok.reason, 'bad_type', 'array of strings is rejected for its type, not as a duplicate');
  const ok2 = parse('{"device":"pmu1","freq":50,"a":{"freq":1},"b":{"freq":2},"n":"freq","m":{"x":"\\"freq\\":1"}}');
  t.ok(ok2.ok, 'same name in sibling objects and inside strings');
});

t.test('the text scan agrees with JSON.parse on structure and is exact for valid JSON', async (t) => {
  const lim = { maxDepth: 3, maxKeys: 4 };
  t.equal(scanJson('{"a":{"b":[1]}}', lim), null, 'depth 3 ok');
  t.equal(scanJson('{"a":{"b":[[1]]}}', lim)?.reason, 'too_deep');
  t.equal(scanJson('{"a":"{{{{[[[[","b":"\\"}}}"}', lim), null, 'brackets and quotes inside strings ignored');
  t.equal(scanJson('{"a":1,"b":2,"c":3,"d":4}', lim), null, '4 names ok');
  t.match(scanJson('{"a":1,"b":2,"c":3,"d":4,"e":5}', lim), { reason: 'too_many_keys' });
  t.equal(scanJson('[{"a":1},{"a":2}]', lim), null, 'the same name in sibling objects');
  t.equal(scanJson('{"a":[{"x":1},{"x":1}]}', lim), null, 'sibling objects in an array');
  t.equal(scanJson('{"a":{"x":1},"b":{"x":1}}', lim), null);
  // String values ending in escaped backslashes or holding escaped quotes end where JSON.parse ends them:
  // the name after them is still seen as a name (here a duplicate).
  for (const text of ['{"a":"q\\\\","a":1}', '{"a":"\\"","a":1}', '{"a":"\\\\\\"}","a":1}', '{"b":["x\\\\"],"a":2,"a":1}']) {
    t.doesNotThrow(() => JSON.parse(text.replace(/,"a":1}$/, '}')), `${text} is JSON apart from the duplicate`);
    t.match(scanJson(text, lim), { reason: 'duplicate_key', detail: /^a appears twice/ }, text);
  }
  for (const junk of ['', '{', '"abc', '}}}', '{"a":1', '{"\\u12":1}', ']]]]]', '{"a"'])
    t.doesNotThrow(() => scanJson(junk, lim), `malformed text does not throw: ${junk}`);
  t.equal(parse('{"device":"pmu1","freq":50').ok ? null : (parse('{"device":"pmu1","freq":50') as { reason: string }).reason, 'bad_json', 'malformed text is then a JSON error');
});

t.test('device names: UTF-8, no control characters, no / + #, length limit', async (t) => {
  for (const ok of ['pmu1', 'meter-7_b', 'Umspannwerk Süd', 'ПС-1', '変電所', 'x'.repeat(128), 'é'.repeat(64), '😀'])
    t.equal(deviceNameError(ok), null, `valid: ${ok.slice(0, 20)}`);
  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['pmu\u0000', /control character U\+0000/],
    ['pmu\n1', /control character U\+000A/],
    ['a\u007f', /U\+007F/],
    ['a\u0085', /U\+0085/],
    ['pmu9/stats/10s', /"\/"/],
    ['pmu+', /wildcard "\+"/],
    ['pmu#', /wildcard "#"/],
    ['bad\ufffdutf8', /U\+FFFD/],
    ['lone\ud800', /lone surrogate/],
    ['lone\udc00x', /lone surrogate/],
    ['x'.repeat(129), /longer than 128/],
    ['é'.repeat(65), /longer than 128 bytes of UTF-8/],
    ['x'.repeat(60_000), /longer than 128/],
  ];
  for (const [name, detail] of bad) t.match(deviceNameError(name), detail, `invalid: ${JSON.stringify(name.slice(0, 20))}`);

  // Applied to the topic's device, the payload's device and a driver's device.
  const topic = parseMeasurement(JSON.stringify({ freq: 50 }), 'pmu9/stats/10s', limits);
  t.same(topic.ok ? null : [topic.reason, /"\/"/.test(topic.detail)], ['bad_topic', true], 'topic device with a slash');
  const invalidUtf8 = parseMeasurement(Buffer.from([...Buffer.from('{"device":"a'), 0xff, ...Buffer.from('","freq":50}')]), 'a', limits);
  t.equal(invalidUtf8.ok ? null : invalidUtf8.reason, 'bad_json', 'invalid UTF-8 payload');
  t.match(invalidUtf8.ok ? '' : invalidUtf8.detail, /UTF-8/);
  const inPayload = parse({ device: 'a\u0000', freq: 50 }, 'a\u0000x');
  t.equal(inPayload.ok ? null : inPayload.reason, 'bad_topic', 'NUL in the topic device');
  const payloadDev = checkMeasurement({ device: 'a/b', freq: 50 }, null, limits);
  t.equal(payloadDev.ok ? null : payloadDev.reason, 'bad_device', 'driver device with a slash');
  const payloadDev2 = parse({ device: 'p#1', freq: 50 }, 'pmu1');
  t.equal(payloadDev2.ok ? null : payloadDev2.reason, 'bad_device', 'payload device with a wildcard');
  t.ok(checkMeasurement({ device: 'Umspannwerk Süd', freq: 50 }, null, limits).ok, 'unicode driver device');
});

t.test('driver objects: absent optional fields (undefined) are skipped, field_quality and ts flags combine', async (t) => {
  const r = checkMeasurement({ device: 'x', ts: NOW, v: { a: { mag: 1, ang: undefined } }, extra: undefined, soc: 3 }, null, limits);
  t.ok(r.ok, r.ok ? 'accepted' : r.detail);
  const q = parse({ device: 'pmu1', ts: NOW + 3600e6, soc: 1, field_quality: { soc: 'invalid' } });
  t.ok(q.ok);
  if (q.ok) {
    t.equal(q.m.quality, 'invalid', 'field quality worse than the ts flag');
    t.same(q.m.reasons, ['ts_future'], 'the ts flag still recorded');
  }
  const missingMag = checkMeasurement({ device: 'x', v: { a: { mag: undefined, ang: 1 } } }, null, limits);
  t.equal(missingMag.ok ? null : missingMag.reason, 'missing_field', 'mag: undefined is a missing mag');
});

t.test('a timestamp flag lowers every field, also the fields field_quality does not name', async (t) => {
  const { qualityOf } = await import('../../algorithms/common/field-quality.js');
  const fq = { 'v.a.mag': 'invalid' as const };
  const driverObject = { device: 'rtu9', ts: NOW - 30 * 86400e6, v: { a: { mag: 230, ang: 0 } }, soc: 0.5, breaker: { q1: 1 }, field_quality: fq };
  const r = checkMeasurement(driverObject, null, limits);
  t.ok(r.ok, r.ok ? 'accepted' : r.detail);
  if (!r.ok) return;
  t.same(r.m.reasons, ['ts_past']);
  t.equal(qualityOf(r.m, 'soc'), 'questionable', 'an unnamed value field is questionable, not good');
  t.equal(qualityOf(r.m, 'breaker.q1'), 'questionable', 'below a top-level field too');
  t.equal(qualityOf(r.m, 'v.a.ang'), 'questionable', 'a sibling of a named field too');
  t.equal(qualityOf(r.m, 'v.a.mag'), 'invalid', 'a worse entry is kept');
  t.same(fq, { 'v.a.mag': 'invalid' }, "the driver's own field_quality object is not modified");
  const onTime = parse({ ts: NOW, soc: 0.5, freq: 50, field_quality: { soc: 'questionable' } });
  t.ok(onTime.ok && qualityOf(onTime.m, 'freq') === 'good' && onTime.m.field_quality?.['freq'] === undefined, 'without a ts flag field_quality is left as sent');
  const missingTs = parse({ soc: 0.5, freq: 50, field_quality: { soc: 'invalid' } });
  t.ok(missingTs.ok && qualityOf(missingTs.m, 'freq') === 'questionable', 'ts_missing lowers the unnamed fields too');
});
