/**
 * The forwarders' small parts: gw/seq splicing, backoff, rate limiter, backlog ranges, routing,
 * config schemas (through convict, as the config loader uses them) and error descriptions.
 */
import t from 'tap';
import convict from 'convict';
import { renamedKey, spliceFields, withGwSeq } from '../../agent/forwarders/payload.js';
import { Backoff } from '../../agent/forwarders/backoff.js';
import { RateLimiter } from '../../agent/core/rate-limiter.js';
import { SeqRanges } from '../../agent/forwarders/seq-ranges.js';
import { makeRouter, runnerOptions } from '../../agent/forwarders/options.js';
import { describeConnectError } from '../../agent/forwarders/errors.js';
import { mqttForwarder } from '../../agent/forwarders/mqtt/index.js';
import { azureIotForwarder } from '../../agent/forwarders/azure-iot/index.js';

t.test('withGwSeq splices gw and seq in front of the stored fields', async (t) => {
  const gw = JSON.stringify('gw-1');
  t.equal(withGwSeq('{"device":"pmu1","ts":1}', gw, 7), '{"gw":"gw-1","seq":7,"device":"pmu1","ts":1}');
  t.equal(withGwSeq('{}', gw, 1), '{"gw":"gw-1","seq":1}');
  t.equal(withGwSeq('  { \n }', gw, 1), '{"gw":"gw-1","seq":1}');
  t.same(JSON.parse(withGwSeq(' {"a": [1, {"b": "}"}]} ', gw, 2)), { gw: 'gw-1', seq: 2, a: [1, { b: '}' }] });
});

t.test('a stored top-level seq or gw is renamed, nested ones and strings are left alone', async (t) => {
  const gw = JSON.stringify('g');
  const stored = JSON.stringify({ device: 'd', seq: { v: { pos: { mag: 1 } } }, gw: 'other', note: 'the "seq" key', x: { seq: 3, gw: 4 } });
  const out = JSON.parse(withGwSeq(stored, gw, 42)) as Record<string, unknown>;
  t.equal(out['seq'], 42);
  t.equal(out['gw'], 'g');
  t.same(out['seq_components'], { v: { pos: { mag: 1 } } }, 'the processed message\'s sequence components travel as seq_components');
  t.equal(out['gw_orig'], 'other');
  t.same(out['x'], { seq: 3, gw: 4 }, 'nested keys untouched');
  t.equal(out['note'], 'the "seq" key', 'text inside strings untouched');
  t.equal(renamedKey('seq'), 'seq_components');
  t.equal(renamedKey('topic'), 'topic_orig');
  // No duplicate names in the output text (RFC 8259 §4 leaves their meaning to each parser).
  t.equal((withGwSeq(stored, gw, 42).match(/"seq":/g) ?? []).length, 2, 'top-level seq once (plus the nested one)');
});

t.test('a stored gw or seq spelled with JSON escapes is renamed too: the receiver reads only the gateway\'s', async (t) => {
  const gw = JSON.stringify('gw-real');
  const cases: [string, Record<string, unknown>][] = [
    ['{"freq":50,"s\\u0065q":999,"g\\u0077":"gw-SPOOFED"}', { freq: 50, seq_components: 999, gw_orig: 'gw-SPOOFED' }],
    ['{"\\u0073\\u0065\\u0071":1,"\\u0067\\u0077":"x"}', { seq_components: 1, gw_orig: 'x' }],
    ['{"\\u0053EQ":1,"se\\u0071":2}', { SEQ: 1, seq_components: 2 }],
    ['{"a":"back\\\\slash","gw":"x"}', { a: 'back\\slash', gw_orig: 'x' }],
    ['{"note":"\\"seq\\":5","x":{"s\\u0065q":3}}', { note: '"seq":5', x: { seq: 3 } }],
  ];
  for (const [stored, rest] of cases) {
    const out = withGwSeq(stored, gw, 7);
    const parsed = JSON.parse(out) as Record<string, unknown>;
    t.equal(parsed['gw'], 'gw-real', `${stored}: gw`);
    t.equal(parsed['seq'], 7, `${stored}: seq`);
    t.same(parsed, { gw: 'gw-real', seq: 7, ...rest }, `${stored}: every stored field kept under its (renamed) name`);
  }
  // A reviver sees every member, duplicates included: exactly one gw and one seq at the top level.
  const seen: string[] = [];
  JSON.parse(withGwSeq('{"freq":50,"s\\u0065q":999,"g\\u0077":"gw-SPOOFED"}', gw, 7), function (this: unknown, k: string, v: unknown) {
    if (k === 'gw' || k === 'seq') seen.push(k);
    return v;
  });
  t.same(seen.sort(), ['gw', 'seq'], 'no duplicate top-level gw or seq for any parser');
});

t.test('a renamed key never lands on a name the payload already has', async (t) => {
  const out = withGwSeq('{"seq":1,"seq_components":2,"s\\u0065q_components_orig":3,"gw":4,"gw_orig":5}', '"g"', 9);
  const seen = new Map<string, number>();
  JSON.parse(out, function (this: unknown, k: string, v: unknown) {
    seen.set(k, (seen.get(k) ?? 0) + 1);
    return v;
  });
  t.ok([...seen.values()].every((n) => n === 1), `every top-level name once: ${out}`);
  t.same(JSON.parse(out), { gw: 'g', seq: 9, seq_components_orig_orig: 1, seq_components: 2, seq_components_orig: 3, gw_orig_orig: 4, gw_orig: 5 });
});

t.test('a stored key with a malformed escape makes the payload travel as text', async (t) => {
  const stored = '{"s\\u00zzq":1}';
  t.same(JSON.parse(withGwSeq(stored, '"g"', 1)), { gw: 'g', seq: 1, payload: stored });
});

t.test('payloads that are not JSON objects still carry gw and seq', async (t) => {
  t.same(JSON.parse(withGwSeq('[1,2]', '"g"', 1)), { gw: 'g', seq: 1, payload: [1, 2] });
  t.same(JSON.parse(withGwSeq('plain text', '"g"', 1)), { gw: 'g', seq: 1, payload: 'plain text' });
  t.same(JSON.parse(withGwSeq('{"seq": "unterminated', '"g"', 1)), { gw: 'g', seq: 1, payload: '{"seq": "unterminated' });
  t.same(JSON.parse(spliceFields('{"a":1}', [['gw', '"g"'], ['seq', '3'], ['topic', '"t/x"']])), { gw: 'g', seq: 3, topic: 't/x', a: 1 });
});

t.test('backoff: exponential ceiling with full jitter above the floor, capped', async (t) => {
  const hi = new Backoff(100, 1000, () => 0.999999);
  t.same([hi.next(), hi.next(), hi.next(), hi.next(), hi.next(), hi.next()].map(Math.round), [100, 200, 400, 800, 1000, 1000]);
  const lo = new Backoff(100, 1000, () => 0);
  t.ok([1, 2, 3, 4, 5].every(() => lo.next() === 100), 'never below the floor: no tight loop');
  hi.reset();
  t.equal(Math.round(hi.next()), 100, 'reset starts over');
  t.throws(() => new Backoff(0, 10), /0 < minMs/);
});

t.test('rate limiter: burst, then the rate; unlimited at 0', async (t) => {
  let now = 0;
  const r = new RateLimiter(100, 10, () => now);
  t.equal(r.available(), 10);
  r.take(10);
  t.equal(r.available(), 0);
  t.equal(r.waitMs(1), 10, '1 token per 10 ms at 100/s');
  now += 50;
  t.equal(r.available(), 5);
  now += 10_000;
  t.equal(r.available(), 10, 'no more than the burst saved up');
  t.equal(new RateLimiter(0, 10).available(), Infinity);
  t.equal(new RateLimiter(0, 10).waitMs(5), 0);
});

t.test('backlog ranges merge, consume in order', async (t) => {
  const r = new SeqRanges();
  r.add(10, 20);
  r.add(30, 40);
  r.add(21, 25);
  t.same(r.toArray(), [[10, 25], [30, 40]]);
  r.add(5, 35);
  t.same(r.toArray(), [[5, 40]]);
  r.consumeThrough(9);
  t.same(r.first(), [10, 40]);
  t.equal(r.span(), 31);
  r.consumeThrough(40);
  t.equal(r.empty, true);
  t.equal(r.min(), Infinity);
  r.add(3, 2);
  t.equal(r.empty, true, 'empty range ignored');
});

t.test('routing: map first match wins; without a map, topic filters', async (t) => {
  const mapped = makeRouter({ topics: ['ignored/#'], map: [{ from: 'bal/processed/+/stats/#', to: 'legacy/s/+/#' }, { from: 'bal/processed/#', to: 'legacy/#' }] });
  t.equal(mapped('bal/processed/pmu1'), 'legacy/pmu1');
  t.equal(mapped('bal/processed/pmu1/stats/10s'), 'legacy/s/pmu1/10s');
  t.equal(mapped('bal/raw/pmu1'), null);
  t.equal(mapped('ignored/x'), null, 'topics do not apply when map is set');
  const filtered = makeRouter({ topics: ['bal/processed/+'], map: [] });
  t.equal(filtered('bal/processed/pmu1'), 'bal/processed/pmu1');
  t.equal(filtered('bal/processed/pmu1/stats/1m'), null);
  t.same(runnerOptions({ batchSize: 10, backlogMaxRate: 5, reconnectMinMs: 2000, reconnectMaxMs: 1000, url: 'x' }), {
    batchSize: 10,
    backlogMaxRate: 5,
    reconnectMinMs: 2000,
    reconnectMaxMs: 2000,
  });
});

function check(schema: Record<string, unknown>, value: Record<string, unknown>): string {
  const c = convict(schema as convict.Schema<Record<string, unknown>>);
  c.load(value);
  try {
    c.validate({ allowed: 'strict' });
    return '';
  } catch (e) {
    return (e as Error).message;
  }
}

t.test('schemas: defaults valid, bad values named', async (t) => {
  t.equal(check(mqttForwarder.schema, {}), '', 'the MQTT defaults validate');
  t.equal(check(mqttForwarder.schema, { url: 'mqtt://127.0.0.1:1884', map: [{ from: 'bal/processed/#', to: 'legacy/#' }] }), '', 'the README example validates');
  t.match(check(mqttForwarder.schema, { url: 'http://x' }), /url: must use mqtt:\/\/, mqtts:\/\/, ws:\/\/ or wss:\/\/, not http:/);
  t.match(check(mqttForwarder.schema, { url: 'not a url' }), /url: must be a broker URL/);
  t.match(check(mqttForwarder.schema, { qos: 2 }), /qos: must be an integer between 0 and 1/);
  t.match(check(mqttForwarder.schema, { map: [{ from: 'a/#/b', to: 'x' }] }), /map: \[0\]\.from must be an MQTT topic filter/);
  t.match(check(mqttForwarder.schema, { protocolVersion: 3 }), /protocolVersion: must be 4/);
  t.same(mqttForwarder.validate({ cert: 'c.pem', url: 'mqtt://h' }), [
    'key: must be set when cert is set (the client private key)',
    'url: must be mqtts:// or wss:// when ca or cert is set, got "mqtt://h"',
  ]);
  const conn = 'HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey=' + Buffer.from('k').toString('base64');
  t.equal(check(azureIotForwarder.schema, { connectionString: conn }), '', 'Azure with a connection string validates');
  t.match(check(azureIotForwarder.schema, { connectionString: 'HostName=h;SharedAccessKey=abcd' }), /connectionString: must be a device connection string: it is missing DeviceId/);
  t.match(check(azureIotForwarder.schema, { maxMessageBytes: 300_000 }), /maxMessageBytes: must be an integer between 1024 and 262144/);
  t.match(check(azureIotForwarder.schema, { url: 'https://x' }), /url: must use mqtt/);
  for (const spec of [mqttForwarder, azureIotForwarder]) {
    const walk = (o: Record<string, unknown>, at: string): void => {
      for (const [k, v] of Object.entries(o)) {
        const item = v as Record<string, unknown>;
        if ('default' in item) t.ok(typeof item['doc'] === 'string' && (item['doc'] as string).length > 10, `${spec.type} ${at}${k} has a doc`);
        else walk(item, `${at}${k}.`);
      }
    };
    walk(spec.schema, '');
  }
});

t.test('connect errors get a reason and a message a person can act on', async (t) => {
  const url = 'mqtts://h:8883';
  t.match(describeConnectError(Object.assign(new Error('Connection refused: Not authorized'), { code: 5 }), url), { reason: 'not_authorized', message: /not authorized/ });
  t.match(describeConnectError(Object.assign(new Error('x'), { code: 134 }), url), { reason: 'bad_credentials' });
  t.match(describeConnectError(Object.assign(new Error('x'), { code: 1 }), url), { reason: 'protocol', message: /protocolVersion 4/ });
  t.match(describeConnectError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), url), { reason: 'refused' });
  t.match(describeConnectError(Object.assign(new Error('x'), { code: 'ENOTFOUND' }), url), { reason: 'unreachable' });
  t.match(describeConnectError(Object.assign(new Error('x'), { code: 'CERT_HAS_EXPIRED' }), url), { reason: 'tls', message: /expired/ });
  t.match(describeConnectError(Object.assign(new Error('x'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }), url), { reason: 'tls', message: /does not name the host/ });
  t.match(describeConnectError(Object.assign(new Error('x'), { code: 'ERR_SSL_WRONG_VERSION_NUMBER' }), url), { reason: 'tls', message: /does not speak TLS/ });
});

t.test('withGwSeq on random objects: gw and seq first, clashing top-level keys renamed, nothing else changed', async (t) => {
  const { prng } = await import('../../algorithms/common/prng.js');
  const rnd = prng(20261130);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  // Key names that clash, names of the renaming chain, and others; strings with JSON's structural
  // characters, and sometimes a quote (escaped by JSON.stringify: the text then has a backslash).
  const KEYS = ['seq', 'gw', 'seq_components', 'seq_components_orig', 'seq_components_orig_orig', 'gw_orig', 'a', 'b', 'v'];
  const STRINGS = ['x', '{', '}', '[1,', '"seq":', 'a:b,c', 'say "hi"', ''];
  const value = (depth: number): unknown => {
    const r = rnd();
    if (depth > 2 || r < 0.4) return pick([1, -2.5, 1e21, 0, true, null, ...STRINGS]);
    if (r < 0.55) return Array.from({ length: Math.floor(rnd() * 3) }, () => value(depth + 1));
    const o: Record<string, unknown> = {};
    for (let k = Math.floor(rnd() * 4); k > 0; k--) o[pick(KEYS)] = value(depth + 1);
    return o;
  };
  /** The rule, written out independently: gw and seq first; a stored key of the same name gets the next free of name_orig... (seq: seq_components...). */
  const expected = (o: Record<string, unknown>, seq: number): Record<string, unknown> => {
    const out: Record<string, unknown> = { gw: 'g', seq };
    const taken = new Set([...Object.keys(o), 'gw', 'seq']);
    for (const [k, v] of Object.entries(o)) {
      if (k !== 'gw' && k !== 'seq') {
        out[k] = v;
        continue;
      }
      let name = k === 'seq' ? 'seq_components' : 'gw_orig';
      while (taken.has(name)) name += '_orig';
      out[name] = v;
    }
    return out;
  };
  let escaped = 0;
  for (let n = 0; n < 3000; n++) {
    const o: Record<string, unknown> = {};
    for (let k = 1 + Math.floor(rnd() * 6); k > 0; k--) o[pick(KEYS)] = value(1);
    const text = n % 3 === 0 ? JSON.stringify(o, null, 1) : JSON.stringify(o);
    if (text.includes('\\')) escaped++;
    const out = withGwSeq(text, '"g"', n);
    const parsed = JSON.parse(out) as Record<string, unknown>;
    if (Object.keys(parsed).length !== Object.keys(o).length + 2 || JSON.stringify(parsed) !== JSON.stringify(expected(o, n))) {
      t.fail(`object ${n}: ${text} -> ${out}`);
      return;
    }
  }
  t.ok(escaped > 100 && escaped < 2900, `both paths exercised (${escaped} of 3000 texts had a backslash)`);
  t.pass('3000 random objects forwarded as the rule says');
});
