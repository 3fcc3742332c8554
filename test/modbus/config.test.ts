/**
 * Modbus config through the real loader: a good entry loads with its defaults; every bad map is
 * reported with its config path (bad keys and types, overlapping registers, registers past the
 * address space, fields twice, unknown presets, tcp and rtu both or neither); presets load and are
 * merged with the entry's own registers. One case runs `gridedge config check` itself.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../agent/config/index.js';
import { listPresets, loadPreset, resolveGroups } from '../../drivers/modbus/config.js';
import { cliPath, repoRoot, tempDir } from '../helpers/agent-process.js';

const load = (drivers: unknown[]) => loadConfig({ document: { drivers } });
const errors = (drivers: unknown[]): string[] => {
  const r = load(drivers);
  return r.ok ? [] : r.errors;
};
const base = { type: 'modbus', id: 'm1', tcp: '10.0.0.5:502' };

t.test('the sample config loads', async (t) => {
  const r = loadConfig({ file: join(repoRoot(), 'drivers', 'modbus', 'sample.yaml') });
  t.ok(r.ok, r.ok ? 'drivers/modbus/sample.yaml is valid' : r.errors.join('\n'));
});

t.test('a good entry loads with its defaults', async (t) => {
  const r = load([{ ...base, registers: [{ field: 'v.a.mag', function: 'input', address: 0, type: 'f32', order: 'ABCD', scale: 1, offset: 0 }] }]);
  t.ok(r.ok, r.ok ? 'loads' : r.errors.join('\n'));
  if (!r.ok) return;
  const d = (r.config as unknown as { drivers: Record<string, unknown>[] }).drivers[0]!;
  t.equal(d['unit'], 1);
  t.equal(d['interval'], 1000);
  t.equal(d['timeout'], 1000);
  t.equal(d['retries'], 1);
});

t.test('each bad map is reported with its path', async (t) => {
  const cases: [string, unknown[], RegExp][] = [
    ['bad type', [{ ...base, registers: [{ field: 'x', address: 0, type: 'f33' }] }], /^drivers\[0\]\.registers\[0\]\.type: must be one of u16, i16, u32, i32, f32, f64/],
    ['bad order', [{ ...base, registers: [{ field: 'x', address: 0, order: 'ABDC' }] }], /^drivers\[0\]\.registers\[0\]\.order: must be one of ABCD, CDAB, BADC, DCBA/],
    ['bad function', [{ ...base, registers: [{ field: 'x', address: 0, function: 'holdings' }] }], /^drivers\[0\]\.registers\[0\]\.function: must be one of holding/],
    ['address out of range', [{ ...base, registers: [{ field: 'x', address: 70000 }] }], /^drivers\[0\]\.registers\[0\]\.address: must be an integer between 0 and 65535/],
    ['unknown key', [{ ...base, registers: [{ field: 'x', address: 0, adress: 1 }] }], /^drivers\[0\]\.registers\[0\]\.adress: unknown key/],
    ['electrical shape', [{ ...base, registers: [{ field: 'v.a', address: 0 }] }], /^drivers\[0\]\.registers\[0\]\.field: must be v\.<a\|b\|c>\.<mag\|ang>/],
    ['coil to electrical', [{ ...base, registers: [{ field: 'p.total', function: 'coil', address: 0 }] }], /registers\[0\]\.field: "p" is an electrical quantity and cannot come from a coil/],
    ['reserved', [{ ...base, registers: [{ field: 'quality', address: 0 }] }], /registers\[0\]\.field: "quality" is reserved/],
    [
      'overlap',
      [{ ...base, registers: [{ field: 'a', function: 'input', address: 0, type: 'f32' }, { field: 'b', function: 'input', address: 1 }] }],
      /^drivers\[0\]\.registers\[1\]: input 1\.\.1 \(b\) overlaps input 0\.\.1 \(a, registers\[0\]\)/,
    ],
    [
      'overlap across groups',
      [{ ...base, registers: [{ field: 'a', address: 10, type: 'u32' }], groups: [{ name: 'g', interval: 100, registers: [{ field: 'b', address: 11 }] }] }],
      /^drivers\[0\]\.groups\[0\]\.registers\[0\]: holding 11\.\.11 \(b\) overlaps holding 10\.\.11/,
    ],
    ['past the end', [{ ...base, registers: [{ field: 'a', address: 65534, type: 'f64' }] }], /^drivers\[0\]\.registers\[0\]: f64 at address 65534 runs past the last address 65535/],
    ['field twice', [{ ...base, registers: [{ field: 'a', address: 0 }, { field: 'a', address: 5 }] }], /^drivers\[0\]\.registers\[1\]\.field: "a" is filled twice/],
    ['field inside a value', [{ ...base, registers: [{ field: 'breaker', address: 0 }, { field: 'breaker.q1', address: 5 }] }], /registers\[1\]\.field: "breaker\.q1" lies inside "breaker"/],
    ['unknown preset', [{ ...base, preset: 'acme-9000' }], /^drivers\[0\]\.preset: unknown preset "acme-9000" \(known: .*eastron-sdm630/],
    ['unknown preset in a group', [{ ...base, registers: [{ field: 'a', address: 0 }], groups: [{ name: 'g', interval: 100, preset: 'nope' }] }], /^drivers\[0\]\.groups\[0\]\.preset: unknown preset "nope"/],
    ['preset overlaps own register', [{ ...base, preset: 'eastron-sdm630', registers: [{ field: 'x', function: 'input', address: 1 }] }], /^drivers\[0\]\.registers\[0\]: input 1\.\.1 \(x\) overlaps input 0\.\.1 \(v\.a\.mag, preset eastron-sdm630 registers\[0\]\)/],
    ['both tcp and rtu', [{ ...base, rtu: { path: '/dev/ttyUSB0' }, registers: [{ field: 'a', address: 0 }] }], /^drivers\[0\]\.tcp: set exactly one of tcp .* got both/],
    ['neither', [{ type: 'modbus', id: 'm1', registers: [{ field: 'a', address: 0 }] }], /^drivers\[0\]\.tcp: set exactly one .* got neither/],
    ['bad tcp', [{ ...base, tcp: '10.0.0.5', registers: [{ field: 'a', address: 0 }] }], /^drivers\[0\]\.tcp: must be "HOST:PORT"/],
    ['bad baud', [{ type: 'modbus', id: 'm1', rtu: { path: '/dev/ttyUSB0', baud: 12 }, registers: [{ field: 'a', address: 0 }] }], /^drivers\[0\]\.rtu\.baud: must be an integer between 300 and 921600/],
    ['rtu unit 0', [{ type: 'modbus', id: 'm1', rtu: { path: '/dev/ttyUSB0' }, unit: 0, registers: [{ field: 'a', address: 0 }] }], /^drivers\[0\]\.unit: must be between 1 and 247 on a serial line/],
    ['nothing to read', [{ ...base }], /^drivers\[0\]\.registers: no registers to read/],
    ['group interval', [{ ...base, groups: [{ name: 'g', interval: 1, registers: [{ field: 'a', address: 0 }] }] }], /^drivers\[0\]\.groups\[0\]\.interval: must be an integer between 10 and 86400000/],
  ];
  for (const [what, drivers, re] of cases) {
    const errs = errors(drivers);
    t.ok(
      errs.some((e) => re.test(e)),
      `${what}: ${errs.join(' | ') || 'no error'}`,
    );
  }
  // Several bad registers: every one reported.
  const many = errors([{ ...base, registers: [{ field: 'a', address: -1 }, { field: 'b', address: 0, type: 'x' }] }]);
  t.ok(many.some((e) => e.startsWith('drivers[0].registers[0].address:')) && many.some((e) => e.startsWith('drivers[0].registers[1].type:')), many.join(' | '));
});

t.test('presets', async (t) => {
  t.ok(listPresets().includes('eastron-sdm630') && listPresets().includes('carlo-gavazzi-em24'), 'two three-phase meter presets');
  for (const name of listPresets()) {
    const p = loadPreset(name);
    t.match(p.datasheet, /\S/, `${name} names its datasheet`);
    const r = resolveGroups({ ...(baseCfg as object), preset: name } as never);
    t.same(r.problems, [], `${name} has no overlaps`);
    const fields = p.registers.map((x) => x.field);
    for (const f of ['v.a.mag', 'v.b.mag', 'v.c.mag', 'i.a.mag', 'i.b.mag', 'i.c.mag', 'p.total', 'freq', 'energy_wh']) t.ok(fields.includes(f), `${name} maps ${f}`);
  }
  const em = loadPreset('carlo-gavazzi-em24');
  t.same(em.registers[0], { field: 'v.a.mag', function: 'holding', address: 0, type: 'i32', order: 'CDAB', scale: 0.1, offset: 0 }, 'defaults merged into each entry');
  // A preset given as a file.
  const dir = tempDir('gridedge-modbus-');
  const file = join(dir, 'mine.yaml');
  writeFileSync(file, 'manufacturer: Me\nmodel: M1\ndatasheet: "my notes"\nregisters:\n  - { field: soc, address: 3, function: input }\n');
  t.same(loadPreset(file).registers, [{ field: 'soc', function: 'input', address: 3, type: 'u16', order: 'ABCD', scale: 1, offset: 0 }]);
  writeFileSync(join(dir, 'bad.yaml'), 'manufacturer: Me\nmodel: M1\ndatasheet: x\nregisters:\n  - { field: soc, address: 3, type: f16 }\n');
  t.throws(() => loadPreset(join(dir, 'bad.yaml')), /registers\[0\]\.type must be one of/);
});

t.test('a preset file: its defaults are checked where they are, and its keys are known ones', async (t) => {
  const dir = tempDir('gridedge-modbus-');
  const write = (name: string, text: string): string => {
    const f = join(dir, name);
    writeFileSync(f, text);
    return f;
  };
  const head = 'manufacturer: Me\nmodel: M1\ndatasheet: x\n';
  const regs = 'registers:\n  - { field: a, address: 0 }\n  - { field: b, address: 2 }\n  - { field: c, address: 4 }\n';
  const message = (f: string): string => {
    try {
      loadPreset(f);
    } catch (e) {
      return (e as Error).message;
    }
    return 'loaded';
  };
  // A bad default is named once, at defaults, not on each of the registers that would inherit it.
  const bad = message(write('defaults.yaml', `${head}defaults: { function: input, type: f99, bogus: 1 }\n${regs}`));
  t.match(bad, /defaults\.type must be one of u16, i16, u32, i32, f32, f64, got "f99"/);
  t.match(bad, /defaults\.bogus unknown key \(known: function, type, order, scale, offset; field and address belong to each register\), got 1/);
  t.notMatch(bad, /registers\[\d\]/, `no register is blamed for the defaults: ${bad}`);
  t.match(message(write('address.yaml', `${head}defaults: { address: 3 }\n${regs}`)), /defaults\.address unknown key/);
  t.match(message(write('string.yaml', `${head}defaults: input\n${regs}`)), /: defaults must be a mapping of function, type, order, scale, offset, got "input"$/);
  // A misspelt key is refused: its defaults would silently not apply (holding registers read instead of input).
  t.match(message(write('typo.yaml', `${head}defualts: { function: input }\n${regs}`)), /: defualts unknown key \(known: manufacturer, model, datasheet, defaults, registers\)$/);
  t.match(message(write('list.yaml', '- 1\n- 2\n')), /must be a YAML mapping of manufacturer, model, datasheet, defaults, registers, got a list$/);
  t.match(message(write('empty.yaml', '')), /got an empty file$/);
  // Through the loader, with the path of the entry.
  const r = load([{ ...base, preset: join(dir, 'typo.yaml') }]);
  t.notOk(r.ok);
  t.match(r.ok ? '' : r.errors.join('\n'), /^drivers\[0\]\.preset: preset ".*typo\.yaml": defualts unknown key/m);
});

const baseCfg = { id: 'm', tcp: 'h:1', rtu: { path: '', baud: 9600, parity: 'none', stopBits: 1, dataBits: 8 }, unit: 1, interval: 1000, timeout: 1000, retries: 1, maxGap: 8, preset: '', registers: [], groups: [], reconnectMinMs: 500, reconnectMaxMs: 30000 };

t.test('gridedge config check prints every problem with its path', async (t) => {
  const dir = tempDir('gridedge-modbus-');
  const file = join(dir, 'bad.yaml');
  writeFileSync(
    file,
    [
      'drivers:',
      '  - type: modbus',
      '    id: meter1',
      '    tcp: "127.0.0.1:502"',
      '    preset: acme-9000',
      '    registers:',
      '      - { field: a, function: input, address: 0, type: f32 }',
      '      - { field: b, function: input, address: 1 }',
      '',
    ].join('\n'),
  );
  const r = spawnSync(process.execPath, [cliPath(), 'config', 'check', file], { encoding: 'utf8' });
  t.equal(r.status, 1, 'exit 1');
  const out = r.stdout + r.stderr;
  t.match(out, /drivers\[0\]\.preset: unknown preset "acme-9000"/);
  t.match(out, /drivers\[0\]\.registers\[1\]: input 1\.\.1 \(b\) overlaps input 0\.\.1/);

  // The reviewer's case: a bad tcp and overlapping registers in one entry, the same overlap in the next.
  const both = join(dir, 'both.yaml');
  const regs = ['    registers:', '      - { field: a, function: input, address: 0, type: f32 }', '      - { field: b, function: input, address: 1, type: f32 }'];
  writeFileSync(both, ['drivers:', '  - type: modbus', '    id: m0', '    tcp: "10.0.0.5:50x"', ...regs, '  - type: modbus', '    id: m1', '    tcp: "10.0.0.5:502"', ...regs, ''].join('\n'));
  const r2 = spawnSync(process.execPath, [cliPath(), 'config', 'check', both], { encoding: 'utf8' });
  t.equal(r2.status, 1, 'exit 1');
  const lines = (r2.stdout + r2.stderr).split('\n').filter((l) => /drivers\[\d\]/.test(l));
  t.equal(lines.length, 3, lines.join(' | '));
  t.match(lines.join('\n'), /drivers\[0\]\.tcp: must be "HOST:PORT"/);
  t.match(lines.join('\n'), /drivers\[0\]\.registers\[1\]: input 1\.\.2 \(b\) overlaps input 0\.\.1/);
  t.match(lines.join('\n'), /drivers\[1\]\.registers\[1\]: input 1\.\.2 \(b\) overlaps input 0\.\.1/);
});

t.test('every problem of one register is reported, each with its path', async (t) => {
  const bad = { field: 'v.a.mag', function: 'input', address: -1, type: 'f33', order: 'XYZW', scale: 'x' };
  const errs = errors([{ ...base, registers: [bad] }]);
  for (const key of ['address', 'type', 'order', 'scale'])
    t.ok(
      errs.some((e) => e.startsWith(`drivers[0].registers[0].${key}:`)),
      `registers[0].${key} reported: ${errs.join(' | ')}`,
    );
  // The same in a group, and every bad register of the group, not only the first.
  const inGroup = errors([{ ...base, groups: [{ name: 'g', interval: 100, registers: [bad, { field: 'b', address: 70000 }] }] }]);
  for (const path of ['groups[0].registers[0].address', 'groups[0].registers[0].type', 'groups[0].registers[0].order', 'groups[0].registers[0].scale', 'groups[0].registers[1].address'])
    t.ok(
      inGroup.some((e) => e.startsWith(`drivers[0].${path}:`)),
      `${path} reported: ${inGroup.join(' | ')}`,
    );
});

t.test('type, order, scale and offset on a coil or discrete input are errors naming the key', async (t) => {
  const errs = errors([{ ...base, registers: [{ field: 'q1', function: 'coil', address: 0, type: 'f64', order: 'DCBA', scale: 1000, offset: 5 }] }]);
  for (const key of ['type', 'order', 'scale', 'offset'])
    t.ok(
      errs.some((e) => new RegExp(`^drivers\\[0\\]\\.registers\\[0\\]\\.${key}: must be left out for a coil \\(one bit`).test(e)),
      `${key}: ${errs.join(' | ')}`,
    );
  const discrete = errors([{ ...base, groups: [{ name: 'g', interval: 100, registers: [{ field: 'q2', function: 'discrete', address: 3, scale: 2 }] }] }]);
  t.ok(
    discrete.some((e) => /^drivers\[0\]\.groups\[0\]\.registers\[0\]\.scale: must be left out for a discrete input \(one bit/.test(e)),
    discrete.join(' | '),
  );
  // Without them a bit register loads; the same keys on a word register are fine.
  const ok = load([{ ...base, registers: [{ field: 'q1', function: 'coil', address: 0 }, { field: 'x', function: 'holding', address: 0, type: 'f32', order: 'DCBA', scale: 2, offset: 1 }] }]);
  t.ok(ok.ok, ok.ok ? 'loads' : ok.errors.join('\n'));
  // A preset's defaults apply only to the registers they fit: a coil in a preset whose defaults set a type loads.
  const dir = tempDir('gridedge-modbus-');
  const file = join(dir, 'bits.yaml');
  writeFileSync(file, 'manufacturer: Me\nmodel: M1\ndatasheet: x\ndefaults: { function: input, type: f32, order: CDAB }\nregisters:\n  - { field: p.total, address: 0 }\n  - { field: q1, function: coil, address: 0 }\n');
  t.same(loadPreset(file).registers[1], { field: 'q1', function: 'coil', address: 0, type: 'u16', order: 'ABCD', scale: 1, offset: 0 });
  writeFileSync(join(dir, 'badbits.yaml'), 'manufacturer: Me\nmodel: M1\ndatasheet: x\nregisters:\n  - { field: q1, function: coil, address: 0, scale: 10 }\n');
  t.throws(() => loadPreset(join(dir, 'badbits.yaml')), /registers\[0\]\.scale must be left out for a coil/);
});

t.test('an entry with a bad key still gets the rules across its well-formed keys', async (t) => {
  const overlap = [
    { field: 'a', function: 'input', address: 0, type: 'f32' },
    { field: 'b', function: 'input', address: 1, type: 'f32' },
  ];
  const errs = errors([
    { type: 'modbus', id: 'm0', tcp: '10.0.0.5:50x', registers: overlap },
    { type: 'modbus', id: 'm1', tcp: '10.0.0.5:502', registers: overlap },
  ]);
  const overlaps = /^drivers\[(\d)\]\.registers\[1\]: input 1\.\.2 \(b\) overlaps input 0\.\.1 \(a, registers\[0\]\)$/;
  t.same(
    errs.filter((e) => overlaps.test(e)).map((e) => overlaps.exec(e)![1]),
    ['0', '1'],
    `both entries' overlaps, once each: ${errs.join(' | ')}`,
  );
  t.equal(errs.filter((e) => e.startsWith('drivers[0].tcp:')).length, 1, 'the bad tcp once, and no "set exactly one of tcp and rtu.path" on top');
  t.equal(errs.length, 3, errs.join(' | '));

  // A bad register is left out of the rules; the others are still checked against each other.
  const partly = errors([
    {
      ...base,
      registers: [
        { field: 'a', function: 'input', address: 0, type: 'f33' },
        { field: 'b', function: 'input', address: 4, type: 'f32' },
        { field: 'c', function: 'input', address: 5 },
      ],
    },
  ]);
  t.same(
    partly,
    ['drivers[0].registers[0].type: must be one of u16, i16, u32, i32, f32, f64, got "f33"', 'drivers[0].registers[2]: input 5..5 (c) overlaps input 4..5 (b, registers[1])'],
    'the bad register once, the overlap of the good ones, nothing about the bad register overlapping',
  );
  // Nothing left to read because every register is bad: only the registers' own problems.
  const allBad = errors([{ ...base, registers: [{ field: 'a', address: -1 }] }]);
  t.same(allBad, ['drivers[0].registers[0].address: must be an integer between 0 and 65535 (the zero-based protocol address), got -1'], 'no "no registers to read"');
  // A bad group name or preset leaves out only the checks that read it.
  const group = errors([{ ...base, registers: [{ field: 'a', address: 0 }], groups: [{ name: 'bad name', interval: 100, registers: [{ field: 'a', address: 1 }] }] }]);
  t.ok(group.some((e) => e.startsWith('drivers[0].groups[0].name: must be 1-32')), group.join(' | '));
  t.ok(group.some((e) => e.startsWith('drivers[0].groups[0].registers[0].field: "a" is filled twice')), group.join(' | '));
});

t.test('a phase angle without its magnitude in the same polling group is refused (it would never be published)', async (t) => {
  const errs = errors([
    {
      ...base,
      registers: [
        { field: 'v.a.mag', function: 'input', address: 0, type: 'f32' },
        { field: 'i.b.ang', function: 'input', address: 2, type: 'f32' },
      ],
      groups: [{ name: 'fast', interval: 100, registers: [{ field: 'v.a.ang', function: 'input', address: 4, type: 'f32' }] }],
    },
  ]);
  t.same(errs, [
    'drivers[0].registers[1].field: "i.b.ang" has no "i.b.mag" in its polling group "default": a phasor is published with its magnitude, so the angle alone would never be published; read the magnitude in the same group',
    'drivers[0].groups[0].registers[0].field: "v.a.ang" has no "v.a.mag" in its polling group "fast": a phasor is published with its magnitude, so the angle alone would never be published; read the magnitude in the same group',
  ]);
  // The magnitude beside it: loads.
  const ok = load([{ ...base, registers: [{ field: 'v.a.mag', function: 'input', address: 0, type: 'f32' }, { field: 'v.a.ang', function: 'input', address: 2, type: 'f32' }] }]);
  t.ok(ok.ok, ok.ok ? 'loads' : ok.errors.join('\n'));
});
