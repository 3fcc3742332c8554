/**
 * CGMES 2.4.15 import of the CIGRE MV benchmark network (CIGRE TF C6.04.02, 2014; the CGMES files of
 * SOGNO / CIMpy, test/gridstate/fixtures/cigre-mv): the power flow of the imported model, started flat,
 * reproduces the solved state in its SV profile (SvVoltage). Bad CIM input is reported by file, object
 * and what is wrong.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { gridError } from './grid-error.js';
import { parseCgmes } from '../../algorithms/grid/cgmes.js';
import { GridInputError } from '../../algorithms/grid/errors.js';
import { loadNetwork } from '../../algorithms/grid/load.js';
import { runPowerFlow } from '../../algorithms/grid/powerflow.js';
import { runCli } from '../cli/run-cli.js';
import { CIGRE } from './fixtures.js';

const files = readdirSync(CIGRE)
  .filter((f) => f.endsWith('.xml'))
  .sort()
  .map((f) => ({ file: f, text: readFileSync(join(CIGRE, f), 'utf8') }));
const profile = (name: string) => files.find((f) => f.file.includes(name))!;

/** SvVoltage per TopologicalNode name, read straight from the SV and TP files (kV, degrees). */
function svVoltages(): Map<string, { v: number; angle: number; kv: number }> {
  const tp = profile('Topology').text;
  const eq = profile('Equipment').text;
  const sv = profile('StateVariables').text;
  const base = new Map<string, number>();
  for (const m of eq.matchAll(/<cim:BaseVoltage rdf:ID="([^"]+)">[\s\S]*?<cim:BaseVoltage.nominalVoltage>([^<]+)</g)) base.set(m[1]!, Number(m[2]));
  const names = new Map<string, { name: string; kv: number }>();
  for (const m of tp.matchAll(/<cim:TopologicalNode rdf:ID="([^"]+)">\s*<cim:IdentifiedObject.name>([^<]+)<\/cim:IdentifiedObject.name>\s*<cim:TopologicalNode.BaseVoltage rdf:resource="#([^"]+)"/g))
    names.set(m[1]!, { name: m[2]!, kv: base.get(m[3]!)! });
  const out = new Map<string, { v: number; angle: number; kv: number }>();
  for (const m of sv.matchAll(/<cim:SvVoltage rdf:ID="[^"]+">([\s\S]*?)<\/cim:SvVoltage>/g)) {
    const node = /TopologicalNode rdf:resource="#([^"]+)"/.exec(m[1]!)![1]!;
    const angle = /<cim:SvVoltage.angle>([^<]+)</.exec(m[1]!);
    const v = Number(/<cim:SvVoltage.v>([^<]+)</.exec(m[1]!)![1]);
    const n = names.get(node)!;
    out.set(n.name, { v, angle: angle ? Number(angle[1]) : 0, kv: n.kv });
  }
  return out;
}

/** Largest |vm - SvVoltage.v / base| (pu) and |va - SvVoltage.angle| (deg) over the buses, in network order. */
function deviationFromSv(
  solved: readonly { vm: number; va_deg: number }[],
  buses: readonly { name?: string }[],
  sv: ReadonlyMap<string, { v: number; angle: number; kv: number }>,
): { dv: number; da: number } {
  let dv = 0;
  let da = 0;
  solved.forEach((b, i) => {
    const s = sv.get(buses[i]!.name!)!;
    dv = Math.max(dv, Math.abs(b.vm - s.v / s.kv));
    da = Math.max(da, Math.abs(b.va_deg - s.angle));
  });
  return { dv, da };
}

t.test('CIGRE MV: the imported model, solved from a flat start, matches the SvVoltage of the SV profile', async (t) => {
  const net = loadNetwork(CIGRE);
  t.equal(net.buses.length, 15, '15 topological nodes');
  t.equal(net.branches.length, 14, '12 lines and 2 transformers');
  t.same(net.buses.filter((b) => b.type === 'ref').map((b) => b.name), ['N0'], 'the external grid is the reference');
  t.ok(net.buses.every((b) => typeof b.x === 'number' && typeof b.y === 'number'), 'every bus has a diagram position');
  t.ok(net.warnings.some((w) => /TR1: the vector group phase shift/.test(w)));
  t.ok(net.warnings.some((w) => /Load7-I: p and q taken from the SV profile/.test(w)));
  const sv = svVoltages();
  t.equal(sv.size, 15);
  for (const b of net.buses) {
    b.vm = 1;
    b.va_deg = 0;
  }
  const r = runPowerFlow(net);
  t.ok(r.converged);
  const { dv, da } = deviationFromSv(r.buses, net.buses, sv);
  t.ok(dv < 1e-6, `largest |vm - SvVoltage.v / base| = ${dv.toExponential(2)} pu`);
  t.ok(da < 1e-4, `largest |va - SvVoltage.angle| = ${da.toExponential(2)} deg (SV gives 5 decimals)`);
});

t.test('switches: a closed breaker joins two nodes into one bus, an open one does not', async (t) => {
  const extra = (open: boolean) => `
<cim:Breaker rdf:ID="BRK1"><cim:IdentifiedObject.name>S1</cim:IdentifiedObject.name><cim:Switch.open>${open}</cim:Switch.open></cim:Breaker>
<cim:Terminal rdf:ID="BT1"><cim:ACDCTerminal.sequenceNumber>1</cim:ACDCTerminal.sequenceNumber><cim:Terminal.ConductingEquipment rdf:resource="#BRK1"/><cim:Terminal.TopologicalNode rdf:resource="#N14"/></cim:Terminal>
<cim:Terminal rdf:ID="BT2"><cim:ACDCTerminal.sequenceNumber>2</cim:ACDCTerminal.sequenceNumber><cim:Terminal.ConductingEquipment rdf:resource="#BRK1"/><cim:Terminal.TopologicalNode rdf:resource="#N8"/></cim:Terminal>
</rdf:RDF>`;
  const withSwitch = (open: boolean) => files.map((f) => (f.file.includes('Equipment') ? { ...f, text: f.text.replace('</rdf:RDF>', extra(open)) } : f));
  t.equal(parseCgmes(withSwitch(true)).buses.length, 15, 'open: 15 buses');
  const closed = parseCgmes(withSwitch(false));
  t.equal(closed.buses.length, 14, 'closed: N8 and N14 are one bus');
  t.ok(runPowerFlow(closed).converged, 'the meshed network still solves');
});

t.test('bad CIM input: missing profile, missing reference, unsupported class, malformed XML', async (t) => {
  let e = gridError(() => parseCgmes([profile('Equipment')]));
  t.match(e.message, /no TopologicalNode \(is the TP profile among the files\?\)/);
  const noNode = files.map((f) => (f.file.includes('Topology') ? { ...f, text: f.text.replace('<cim:Terminal.TopologicalNode rdf:resource="#N7"/>', '<cim:Terminal.TopologicalNode rdf:resource="#N77"/>') } : f));
  e = gridError(() => parseCgmes(noNode));
  t.match(e.message, /Topology\.xml:\d+: Terminal .*: Terminal\.TopologicalNode refers to #N77, which is not a described TopologicalNode/);
  const noEq = files.map((f) => (f.file.includes('Equipment') ? { ...f, text: f.text.replace('<cim:Terminal.ConductingEquipment rdf:resource="#Load7-I"/>', '<cim:Terminal.ConductingEquipment rdf:resource="#Load77"/>') } : f));
  e = gridError(() => parseCgmes(noEq));
  t.match(e.message, /Equipment\.xml:\d+: Terminal Load7-I_0: Terminal\.ConductingEquipment refers to #Load77, which no profile describes/);
  const sc = files.map((f) => (f.file.includes('Equipment') ? { ...f, text: f.text.replace('</rdf:RDF>', '<cim:SeriesCompensator rdf:ID="SC1"><cim:IdentifiedObject.name>SC1</cim:IdentifiedObject.name></cim:SeriesCompensator>\n</rdf:RDF>') } : f));
  e = gridError(() => parseCgmes(sc));
  t.equal(e.reason, 'unsupported');
  t.match(e.message, /Equipment\.xml:\d+: SeriesCompensator SC1: unsupported class SeriesCompensator/);
  const broken = files.map((f) => (f.file.includes('Topology') ? { ...f, text: f.text.replace('</cim:TopologicalNode>', '</cim:TopologicalNod>') } : f));
  e = gridError(() => parseCgmes(broken));
  t.equal(e.reason, 'syntax');
  t.match(e.message, /Topology\.xml:\d+: <\/cim:TopologicalNod> does not close <cim:TopologicalNode> of line \d+/);
});

t.test('gridedge pf and se read CGMES as a folder or as comma-separated files', async (t) => {
  const r = await runCli(['pf', CIGRE]);
  t.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { converged: boolean; buses: { bus: number; vm: number }[]; warnings: string[] };
  t.ok(out.converged);
  t.equal(out.buses.length, 15);
  t.ok(out.warnings.length > 0, 'import warnings are printed');
  const list = ['Equipment', 'Topology', 'SteadyStateHypothesis', 'StateVariables'].map((p) => join(CIGRE, profile(p).file)).join(',');
  const r2 = await runCli(['pf', list]);
  t.equal(r2.code, 0, r2.stderr);
  t.same((JSON.parse(r2.stdout) as typeof out).buses, out.buses, 'same result without the diagram profile');
});

t.test('gridedge se on the CGMES folder: SV magnitudes and the loads as injections give back the SV state', async (t) => {
  const net = loadNetwork(CIGRE);
  const sv = svVoltages();
  const measurements = net.buses.flatMap((b) => {
    const s = sv.get(b.name!)!;
    const vm = { type: 'vm', bus: b.bus, value: s.v / s.kv, sigma: 0.001 };
    if (b.type === 'ref') return [vm];
    return [vm, { type: 'p_inj', bus: b.bus, value: -b.pd / net.baseMVA, sigma: 0.0001 }, { type: 'q_inj', bus: b.bus, value: -b.qd / net.baseMVA, sigma: 0.0001 }];
  });
  const file = join(mkdtempSync(join(tmpdir(), 'cgmes-se-')), 'm.json');
  writeFileSync(file, JSON.stringify({ baseMVA: net.baseMVA, measurements }));
  const r = await runCli(['se', '--network', CIGRE, '--measurements', file]);
  t.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { converged: boolean; buses: { bus: number; vm: number; va_deg: number }[]; bad_data: unknown[] };
  t.ok(out.converged);
  t.same(out.bad_data, []);
  const { dv, da } = deviationFromSv(out.buses, net.buses, sv);
  t.ok(dv < 1e-5, `largest vm difference ${dv.toExponential(2)} pu`);
  t.ok(da < 1e-3, `largest angle difference ${da.toExponential(2)} deg`);
});

t.test('machines, tap changers and shunts: a regulating machine makes a PV bus, a tap step changes the ratio, a shunt adds susceptance', async (t) => {
  const eq = `
<cim:SynchronousMachine rdf:ID="SM1"><cim:IdentifiedObject.name>G12</cim:IdentifiedObject.name><cim:RegulatingCondEq.RegulatingControl rdf:resource="#RC1"/></cim:SynchronousMachine>
<cim:RegulatingControl rdf:ID="RC1"><cim:IdentifiedObject.name>RC1</cim:IdentifiedObject.name></cim:RegulatingControl>
<cim:Terminal rdf:ID="SMT"><cim:ACDCTerminal.sequenceNumber>1</cim:ACDCTerminal.sequenceNumber><cim:Terminal.ConductingEquipment rdf:resource="#SM1"/><cim:Terminal.TopologicalNode rdf:resource="#N12"/></cim:Terminal>
<cim:RatioTapChanger rdf:ID="TC1"><cim:RatioTapChanger.TransformerEnd rdf:resource="#_c59c2fea-3ad9-4cdf-bbc9-aad9e88d1b8a"/><cim:TapChanger.neutralStep>0</cim:TapChanger.neutralStep><cim:RatioTapChanger.stepVoltageIncrement>1.25</cim:RatioTapChanger.stepVoltageIncrement></cim:RatioTapChanger>
<cim:LinearShuntCompensator rdf:ID="SH1"><cim:IdentifiedObject.name>C5</cim:IdentifiedObject.name><cim:LinearShuntCompensator.bPerSection>0.0001</cim:LinearShuntCompensator.bPerSection><cim:ShuntCompensator.normalSections>1</cim:ShuntCompensator.normalSections></cim:LinearShuntCompensator>
<cim:Terminal rdf:ID="SHT"><cim:ACDCTerminal.sequenceNumber>1</cim:ACDCTerminal.sequenceNumber><cim:Terminal.ConductingEquipment rdf:resource="#SH1"/><cim:Terminal.TopologicalNode rdf:resource="#N5"/></cim:Terminal>
</rdf:RDF>`;
  // SSH: the machine generates 5 MW (load sign convention: p = -5) and holds 20.2 kV; tap at step 2; two shunt sections.
  const ssh = `
<cim:SynchronousMachine rdf:about="#SM1"><cim:RotatingMachine.p>-5</cim:RotatingMachine.p><cim:RotatingMachine.q>0</cim:RotatingMachine.q><cim:RegulatingCondEq.controlEnabled>true</cim:RegulatingCondEq.controlEnabled></cim:SynchronousMachine>
<cim:RegulatingControl rdf:about="#RC1"><cim:RegulatingControl.enabled>true</cim:RegulatingControl.enabled><cim:RegulatingControl.targetValue>20.2</cim:RegulatingControl.targetValue></cim:RegulatingControl>
<cim:RatioTapChanger rdf:about="#TC1"><cim:TapChanger.step>2</cim:TapChanger.step></cim:RatioTapChanger>
<cim:LinearShuntCompensator rdf:about="#SH1"><cim:ShuntCompensator.sections>2</cim:ShuntCompensator.sections></cim:LinearShuntCompensator>
</rdf:RDF>`;
  const net = parseCgmes(files.map((f) => (f.file.includes('Equipment') ? { ...f, text: f.text.replace('</rdf:RDF>', eq) } : f.file.includes('SteadyState') ? { ...f, text: f.text.replace('</rdf:RDF>', ssh) } : f)));
  const n12 = net.buses.find((b) => b.name === 'N12')!;
  t.equal(n12.type, 'pv', 'the regulating machine makes N12 a PV bus');
  t.match(net.gens.find((g) => g.name === 'G12'), { bus: n12.bus, pg: 5, vg: 20.2 / 20 });
  t.ok(Math.abs(net.branches.find((b) => b.name === 'TR1')!.ratio - 1.025) < 1e-12, 'TR1 ratio 1 + 2 × 1.25 %');
  t.ok(Math.abs(net.buses.find((b) => b.name === 'N5')!.bs - 2 * 1e-4 * 20 * 20) < 1e-12, 'N5 shunt: 2 sections × 1e-4 S at 20 kV = 0.08 MVAr');
  const r = runPowerFlow(net);
  t.ok(r.converged);
  t.ok(Math.abs(r.buses.find((b) => b.bus === n12.bus)!.vm - 1.01) < 1e-9, 'N12 held at 20.2 kV');
});
