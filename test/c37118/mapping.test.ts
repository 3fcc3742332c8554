/**
 * From configuration to measurement: device names (one block, several, duplicate IDCODEs), phasor
 * mapping precedence (CFG-3 type, then name, then the explicit map; a taken target goes to phasor.*),
 * member names from channel names, the per-message name budget, field_quality from CFG-3
 * modification flags, absent values; every result passes the pipeline validation.
 */
import t from 'tap';
import { checkMeasurement } from '../../agent/pipeline/validate.js';
import { deviceNames, planFor, toMeasurement, valueKey, KEY_BUDGET } from '../../drivers/c37118/mapping.js';
import type { ConfigFrame, PmuConfig, PmuData } from '../../drivers/c37118/codec/index.js';

const limits = { maxPayloadBytes: 1 << 20, nowUs: 1_764_000_000_000_000, futureToleranceUs: 3.6e9, pastToleranceUs: 3.6e9 };
const TS = 1_764_000_000_020_000;

function pmu(idcode: number, phasors: PmuConfig['phasors'], extra: Partial<PmuConfig> = {}): PmuConfig {
  return { station: 'S', idcode, format: { polar: true, phasorFloat: true, analogFloat: true, freqFloat: true }, phasors, analogs: [], digitals: [], fnom: 50, cfgcnt: 1, ...extra };
}
function cfg(pmus: PmuConfig[]): ConfigFrame {
  return { kind: 'cfg3', version: 2, size: 0, idcode: 1, soc: 0, fracsec: 0, timeQuality: 0, timeBase: 1e6, timeBaseFlags: 0, pmus, dataRate: 50 };
}
function data(n: number, extra: Partial<PmuData> = {}): PmuData {
  return { stat: 0, mag: Array.from({ length: n }, () => 230), ang: Array.from({ length: n }, (_, k) => k), freq: 50, rocof: 0, analogs: [], digitals: [], ...extra };
}

t.test('device names', async (t) => {
  t.same(deviceNames('pdc', cfg([pmu(7, [])])), ['pdc']);
  t.same(deviceNames('pdc', cfg([pmu(7, []), pmu(8, [])])), ['pdc-7', 'pdc-8']);
  t.same(deviceNames('pdc', cfg([pmu(7, []), pmu(7, []), pmu(9, [])])), ['pdc-7-1', 'pdc-7-2', 'pdc-9'], 'duplicate block IDCODEs kept apart');
  // blockNames: idcode keeps a PDC's names when its block count drops to one (a PMU taken out).
  t.same(deviceNames('pdc', cfg([pmu(7, [])]), 'idcode'), ['pdc-7'], 'idcode: one block is still <id>-<IDCODE>');
  t.same(deviceNames('pdc', cfg([pmu(7, []), pmu(8, [])]), 'idcode'), ['pdc-7', 'pdc-8'], 'idcode: several as in auto');
  t.same(planFor('pdc', cfg([pmu(7, [])]), {}, 'idcode').map((p) => p.device), ['pdc-7'], 'the block plan uses it');
});

t.test('phasor mapping precedence', async (t) => {
  const ph = (name: string, kind: 'voltage' | 'current', component?: 'a' | 'b' | 'c' | 'pos'): PmuConfig['phasors'][0] => ({ name, kind, scale: 1, ...(component ? { component } : {}) });
  const c = cfg([pmu(1, [ph('X1', 'voltage', 'b'), ph('VA', 'voltage'), ph('vb', 'voltage'), ph('U3', 'voltage'), ph('IA', 'current', 'pos'), ph('Odd.Name', 'current')])]);
  const plan = planFor('d', c, { U3: 'v.c', 'Odd.Name': 'i.b', VA: 'v.c' })[0]!;
  t.same(
    plan.phasors.map((s) => s.path),
    ['v.b', 'v.a', 'phasor.vb', 'v.c', 'i.a', 'i.b'],
    'CFG-3 type first (X1 → v.b), then names (VA → v.a; vb → v.b is taken), then the explicit map',
  );
  const m = toMeasurement(plan, data(6), TS, 0, 1000);
  t.ok(checkMeasurement(structuredClone(m), null, limits).ok, 'valid');
  t.same(Object.keys(m.phasor as object), ['vb']);
});

t.test('value names, budget, field quality, absent values', async (t) => {
  const used = new Set<string>();
  t.equal(valueKey(' TEMP C ', 'ch1', used), 'TEMP_C');
  t.equal(valueKey('TEMP.C', 'ch2', used), 'TEMP_C_2', 'dots replaced, duplicates numbered');
  t.equal(valueKey('__proto__', 'ch3', used), 'proto', 'leading underscores trimmed');
  t.equal(valueKey('constructor', 'ch4', used), 'ch4', 'forbidden names fall back');
  t.equal(valueKey('', 'ch5', used), 'ch5');

  const many = pmu(1, [], { analogs: Array.from({ length: 500 }, (_, k) => ({ name: `A${k}`, scale: 1, offset: 0 })) });
  const plan = planFor('d', cfg([many]))[0]!;
  t.equal(plan.analogs.length, KEY_BUDGET, 'channels beyond the budget are left out');
  t.equal(plan.dropped, 500 - KEY_BUDGET, 'and counted');
  const big = toMeasurement(plan, data(0, { analogs: Array.from({ length: 500 }, (_, k) => k) }), TS, 0, 1000);
  const r = checkMeasurement(structuredClone(big), null, limits);
  t.ok(r.ok, `a message at the budget passes validation${r.ok ? '' : `: ${r.detail}`}`);

  const flagged = pmu(1, [
    { name: 'VA', kind: 'voltage', scale: 1, component: 'a', modification: 1 << 2 },
    { name: 'VB', kind: 'voltage', scale: 1, component: 'b', modification: 1 << 10 },
    { name: 'VC', kind: 'voltage', scale: 1, component: 'c', modification: 1 << 6 },
  ]);
  const fp = planFor('d', cfg([flagged]))[0]!;
  const fm = toMeasurement(fp, data(3), TS, 0, 1000);
  t.same(fm.field_quality, { 'v.a': 'questionable', 'v.b': 'questionable' }, 'extrapolated and pseudo-phasors are questionable; filtered is not');
  t.equal(fm.quality, 'questionable', 'the message takes the worst field quality');
  t.ok(checkMeasurement(structuredClone(fm), null, limits).ok);

  const absent = toMeasurement(fp, data(3, { mag: [230, NaN, 230], ang: [0, NaN, 120], freq: NaN }), TS, 0, 1000);
  t.notOk(absent.v?.b, 'an absent phasor is left out');
  t.notOk('freq' in absent, 'an absent frequency is left out');
  t.ok(absent.reasons?.includes('absent_values'));
  t.ok(checkMeasurement(structuredClone(absent), null, limits).ok, 'valid without the absent field (field_quality names only present fields)');
  const neg = toMeasurement(fp, data(3, { freq: -1 }), TS, 0, 1000);
  t.notOk('freq' in neg, 'a frequency that is not positive is left out');
});
