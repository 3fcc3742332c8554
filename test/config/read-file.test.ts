import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../agent/config/load.js';
import { jsonSyntaxError, lineColumn, parseConfigText } from '../../agent/config/read-file.js';
import { prng as rng } from '../../algorithms/common/prng.js'; // mulberry32, seeded: failures reproduce


function randomValue(r: () => number, depth: number): unknown {
  const k = Math.floor(r() * (depth > 2 ? 4 : 6));
  if (k === 0) return Math.round((r() - 0.5) * 1e6) / 100;
  if (k === 1) return ['a', 'x"y', 'π\n', '', '\\u'][Math.floor(r() * 5)];
  if (k === 2) return [true, false, null][Math.floor(r() * 3)];
  if (k === 3) return Math.floor(r() * 1000);
  if (k === 4) return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
  return Object.fromEntries(Array.from({ length: Math.floor(r() * 4) }, (_, i) => [`k${i}`, randomValue(r, depth + 1)]));
}

t.test('the JSON error locator agrees with JSON.parse on what is valid (random documents and mutations)', async (t) => {
  const r = rng(42);
  let broken = 0;
  for (let n = 0; n < 400; n++) {
    const text = JSON.stringify(randomValue(r, 0), null, r() < 0.5 ? 2 : undefined);
    t.equal(jsonSyntaxError(text), null);
    // Delete or insert one character: JSON.parse decides whether it is still JSON.
    const at = Math.floor(r() * (text.length + 1));
    const mutated = r() < 0.5 ? text.slice(0, at) + text.slice(at + 1) : text.slice(0, at) + ',}]:"x'[Math.floor(r() * 6)] + text.slice(at);
    let valid = true;
    try {
      JSON.parse(mutated);
    } catch {
      valid = false;
      broken++;
    }
    const where = jsonSyntaxError(mutated);
    if (valid) t.equal(where, null, `valid: ${mutated}`);
    else t.ok(where && where.offset >= 0 && where.offset <= mutated.length, `located: ${mutated}`);
  }
  t.ok(broken > 100, 'most mutations break the document');
});

t.test('line and column are 1-based', async (t) => {
  t.same(lineColumn('ab\ncd', 0), { line: 1, column: 1 });
  t.same(lineColumn('ab\ncd', 4), { line: 2, column: 2 });
  const r = parseConfigText('{\n  "a": 1\n  "b": 2\n}', 'x.json');
  t.same(r, { ok: false, problems: [{ path: 'x.json:3:3', message: `JSON syntax error: expected ',' or '}', found '"'` }] });
});

t.test('YAML duplicate keys and tabs are errors with their place', async (t) => {
  const dup = parseConfigText('gateway:\n  id: a\n  id: b\n', 'c.yml');
  t.notOk(dup.ok);
  if (!dup.ok) t.match(dup.problems[0]!, { path: /^c\.yml:3:\d+$/, message: /duplicated mapping key/ });
  t.same(parseConfigText('', 'empty.yaml'), { ok: true, doc: undefined }, 'an empty file is no document (all defaults)');
});

t.test('duplicate keys and prototype keys are refused in JSON and YAML config files', async (t) => {
  const dupJson = parseConfigText('{ "gateway": { "id": "a", "\\u0069d": "b" } }', 'c.json');
  t.notOk(dupJson.ok, 'a JSON key given twice (once escaped) is refused');
  if (!dupJson.ok) t.match(dupJson.problems[0]!.message, /^JSON: .*id/);
  for (const [text, file, path] of [
    ['{ "__proto__": { "polluted": 1 } }', 'p.json', '__proto__'],
    ['{ "drivers": [ { "type": "sim-pmu", "id": "x", "constructor": { "prototype": 1 } } ] }', 'p.json', 'drivers[0].constructor'],
    ['mqtt:\n  __proto__:\n    host: 0.0.0.0\n', 'p.yaml', 'mqtt.__proto__'],
    ['stats:\n  prototype: 1\n', 'p.yml', 'stats.prototype'],
  ] as const) {
    const r = parseConfigText(text, file);
    t.notOk(r.ok, `${file}: ${path} refused`);
    if (!r.ok) t.same(r.problems.map((p) => p.path), [path]);
    t.equal(({} as Record<string, unknown>)['polluted'], undefined, 'nothing reached Object.prototype');
  }
});

t.test('a duplicate among the densest possible names is still found (the scan sizes its tables by the text)', async (t) => {
  // `{"":0,"a":0,...}` packs a name into every 6 characters; the scanner's tables hold text length / 3.
  const names = Array.from({ length: 5000 }, (_, k) => `"${k.toString(36)}":0`);
  const ok = parseConfigText(`{"gateway":{${names.join(',')}}}`, 'dense.json');
  t.ok(ok.ok || !ok.problems.some((p) => /twice|duplicate/i.test(p.message)), '5 000 distinct names: no duplicate reported');
  const dup = parseConfigText(`{"gateway":{${names.join(',')},"0":1}}`, 'dense.json');
  t.notOk(dup.ok, 'the last name repeating the first is refused');
  if (!dup.ok) t.match(dup.problems[0]!.message, /gateway\.0/);
  const shortest = parseConfigText('{"":{"":{"":0,"":1}}}', 'tiny.json');
  t.notOk(shortest.ok, 'a duplicate in the shortest nested text is refused');
});

t.test('a key or value that is not UTF-8 is a problem naming it and where the bytes are (it was read as U+FFFD: a Latin-1 password silently changed)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gridedge-encoding-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const latin1 = join(dir, 'latin1.yaml');
  // "pässwort" as Latin-1 (0xE4), as an editor set to Windows-1252 saves it; a bad port besides.
  writeFileSync(latin1, Buffer.concat([Buffer.from('http: { port: 80x }\nmqtt:\n  users:\n    - { username: tech, password: "p'), Buffer.from([0xe4]), Buffer.from('sswort", publish: ["#"], subscribe: ["#"] }\n')]));
  t.same(loadConfig({ file: latin1 }), {
    ok: false,
    errors: [
      `mqtt.users[0].password: holds a character that is not UTF-8 (${latin1} has bytes that are not UTF-8 at 4:37 (0xE4); saved as Latin-1 or Windows-1252?): save the file as UTF-8`,
      'http.port: must be an integer between 0 and 65535, got "80x"',
    ],
  });
  const utf8 = join(dir, 'utf8.yaml');
  writeFileSync(utf8, 'mqtt:\n  users:\n    - { username: tech, password: "pässwort", publish: ["#"], subscribe: ["#"] }\n');
  const ok = loadConfig({ file: utf8 });
  t.ok(ok.ok && ok.config.mqtt.users[0]?.password === 'pässwort', 'the same in UTF-8 is read as written');
  // A Latin-1 comment changes nothing: accepted, as before.
  const comment = join(dir, 'comment.yaml');
  writeFileSync(comment, Buffer.concat([Buffer.from('# Schaltanlage S'), Buffer.from([0xfc]), Buffer.from('d\ngateway: { id: gw-1 }\n')]));
  t.ok(loadConfig({ file: comment }).ok, 'a non-UTF-8 byte in a comment only');
  // A lead byte with one continuation, then none: one replacement, one place.
  const json = join(dir, 'gw.json');
  writeFileSync(json, Buffer.concat([Buffer.from('{ "gateway":\n  { "id": "gw-'), Buffer.from([0xe9, 0x80]), Buffer.from('" } }')]));
  t.same(loadConfig({ file: json }), {
    ok: false,
    errors: [
      `gateway.id: holds a character that is not UTF-8 (${json} has bytes that are not UTF-8 at 2:15 (0xE9); saved as Latin-1 or Windows-1252?): save the file as UTF-8`,
      'gateway.id: must be 1-64 characters of letters, digits, "_", ".", ":" or "-", starting with a letter or digit, got "gw-\uFFFD"',
    ],
  });
  const utf16 = join(dir, 'notepad.yaml');
  writeFileSync(utf16, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('gateway: { id: gw-1 }\n', 'utf16le')]));
  t.same(loadConfig({ file: utf16 }), { ok: false, errors: [`${utf16}: is UTF-16 text (it starts with a UTF-16 byte-order mark): save it as UTF-8`] });
});

t.test('keys given twice in JSON and forbidden keys are reported with the rest of the problems, each duplicate at its line and column', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gridedge-dup-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'gridedge.json');
  writeFileSync(
    file,
    [
      '{',
      '  "gateway": { "id": "gw-1", "\\u0069d": "gw-2" },',
      '  "http": { "port": "80x" },',
      '  "drivers": [ { "type": "sim-pmu", "id": "p1", "rate": 5, "rate": 6 } ],',
      '  "mqtt": { "__proto__": { "host": "0.0.0.0" } }',
      '}',
    ].join('\n'),
  );
  // Only the first duplicate was named, without its place, and nothing else of the file.
  t.same(loadConfig({ file }), {
    ok: false,
    errors: [
      `${file}:2:30: JSON: gateway.id appears twice in the same object (first at line 2, column 16); give it once`,
      `${file}:4:60: JSON: drivers[0].rate appears twice in the same object (first at line 4, column 49); give it once`,
      `mqtt.__proto__: is not allowed as a key (in ${file})`,
      'http.port: must be an integer between 0 and 65535, got "80x"',
    ],
  });
  const yaml = join(dir, 'gridedge.yaml');
  writeFileSync(yaml, 'stats:\n  prototype: 1\nhttp: { port: 80x }\n');
  t.same(loadConfig({ file: yaml }), { ok: false, errors: [`stats.prototype: is not allowed as a key (in ${yaml})`, 'http.port: must be an integer between 0 and 65535, got "80x"'] });
  t.equal(({} as Record<string, unknown>)['host'], undefined, 'nothing reached Object.prototype');
});
