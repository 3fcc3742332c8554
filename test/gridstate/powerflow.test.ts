/**
 * Newton power flow against MATPOWER's own solutions (test/gridstate/fixtures: MATPOWER 8.1 case files
 * and runpf results, see fixtures/README.md), and the Ybus of a phase-shifting transformer worked by hand
 * from the π model (Grainger & Stevenson, "Power System Analysis", §2.6 / MATPOWER manual §3.2).
 */
import t from 'tap';
import { gridError } from './grid-error.js';
import { buildModel } from '../../algorithms/grid/model.js';
import { networkFromJson, networkToJson, type Network } from '../../algorithms/grid/network.js';
import { runPowerFlow } from '../../algorithms/grid/powerflow.js';
import { GridInputError } from '../../algorithms/grid/errors.js';
import { loadCase, reference } from './fixtures.js';

const CASES = ['case14', 'case30', 'case118', 'case300', 'case1354pegase', 'case_ACTIVSg2000'];

for (const name of CASES) {
  t.test(`${name}: bus voltages and branch flows match MATPOWER within 1e-6 pu / 1e-4 degrees`, async (t) => {
    const net = loadCase(name);
    const ref = reference(name);
    const r = runPowerFlow(net);
    t.ok(r.converged, 'converged');
    t.equal(r.iterations, ref.iterations, 'same Newton iteration count as MATPOWER from the same start');
    t.equal(r.buses.length, ref.buses.length);
    let dv = 0;
    let da = 0;
    r.buses.forEach((b, i) => {
      const q = ref.buses[i]!;
      if (b.bus !== q.bus) t.fail(`bus order differs at row ${i + 1}`);
      dv = Math.max(dv, Math.abs(b.vm - q.vm));
      da = Math.max(da, Math.abs(b.va_deg - q.va_deg));
    });
    t.ok(dv < 1e-6, `largest |vm - MATPOWER| = ${dv.toExponential(2)} pu`);
    t.ok(da < 1e-4, `largest |va - MATPOWER| = ${da.toExponential(2)} deg`);
    let df = 0;
    r.branches.forEach((b, i) => {
      const q = ref.branches[i]!;
      df = Math.max(df, Math.abs(b.pf_mw - q.pf_mw), Math.abs(b.qf_mvar - q.qf_mvar), Math.abs(b.pt_mw - q.pt_mw), Math.abs(b.qt_mvar - q.qt_mvar));
    });
    t.ok(df < 1e-4, `largest branch flow difference ${df.toExponential(2)} MW/MVAr`);
    let dg = 0;
    r.gens.forEach((g, i) => {
      const q = ref.gens[i]!;
      if (net.gens[i]!.status) dg = Math.max(dg, Math.abs(g.pg_mw - q.pg_mw));
    });
    t.ok(dg < 1e-4, `generator outputs match (${dg.toExponential(2)} MW)`);
    // Reactive output of every generator (out of service: 0), shared at multi-generator buses as
    // MATPOWER's pfsoln does.
    let dq = 0;
    let worst = -1;
    r.gens.forEach((g, i) => {
      const d = Math.abs(g.qg_mvar - ref.gens[i]!.qg_mvar);
      if (d > dq) [dq, worst] = [d, i];
    });
    t.ok(dq < 1e-5, `generator reactive outputs match (largest difference ${dq.toExponential(2)} MVAr${worst >= 0 ? `, generator row ${worst + 1}: ${r.gens[worst]!.qg_mvar.toFixed(4)} vs ${ref.gens[worst]!.qg_mvar.toFixed(4)}` : ''})`);
  });
}

t.test('Ybus of a phase shifter with tap, charging, a bus shunt and an out-of-service branch (worked by hand)', async (t) => {
  // Branch 1-2: r = 0, x = 0.1, ratio 1.05, shift 30°: Ys = -10j, t = 1.05∠30°.
  //   Yff = Ys/|t|² = -9.070295j; Ytt = Ys = -10j;
  //   Yft = -Ys/conj(t) = 10j/(1.05∠-30°) = 9.523810∠120° = -4.761905 + 8.247861j;
  //   Ytf = -Ys/t = 9.523810∠60° = 4.761905 + 8.247861j.
  // Branch 2-3 (b = 0.2) out of service: contributes nothing. Bus 2 shunt bs = 5 MVAr on 100 MVA: +0.05j.
  const net: Network = {
    name: 'hand',
    baseMVA: 100,
    buses: [1, 2, 3].map((bus) => ({ bus, type: bus === 1 ? 'ref' : 'pq', pd: 0, qd: 0, gs: 0, bs: bus === 2 ? 5 : 0, vm: 1, va_deg: 0, baseKV: 0 }) as const),
    gens: [],
    branches: [
      { from: 1, to: 2, r: 0, x: 0.1, b: 0, ratio: 1.05, angle_deg: 30, status: true },
      { from: 2, to: 3, r: 0.01, x: 0.1, b: 0.2, ratio: 0, angle_deg: 0, status: false },
    ],
    warnings: [],
  };
  const m = buildModel(net);
  const y = (i: number, j: number): [number, number] => {
    for (let k = m.yRow[i]!; k < m.yRow[i + 1]!; k++) if (m.yCol[k] === j) return [m.yRe[k]!, m.yIm[k]!];
    return [0, 0];
  };
  const close = (a: [number, number], b: [number, number], what: string) =>
    t.ok(Math.abs(a[0] - b[0]) < 1e-6 && Math.abs(a[1] - b[1]) < 1e-6, `${what}: ${a} vs ${b}`);
  close(y(0, 0), [0, -9.070295], 'Y11');
  close(y(0, 1), [-4.761905, 8.247861], 'Y12');
  close(y(1, 0), [4.761905, 8.247861], 'Y21');
  close(y(1, 1), [0, -10 + 0.05], 'Y22 (with the shunt, without the open branch)');
  close(y(2, 2), [0, 0], 'Y33: the open branch adds no charging');
  t.equal(m.yRow[3]! - m.yRow[2]!, 1, 'bus 3 only has its (empty) diagonal');
});

t.test('the JSON network format carries a case unchanged (same power flow as MATPOWER)', async (t) => {
  const doc = JSON.parse(JSON.stringify(networkToJson(loadCase('case30')))) as unknown;
  const net = networkFromJson(doc, 'case30.json');
  const r = runPowerFlow(net);
  const ref = reference('case30');
  t.ok(r.converged);
  t.ok(r.buses.every((b, i) => Math.abs(b.vm - ref.buses[i]!.vm) < 1e-6 && Math.abs(b.va_deg - ref.buses[i]!.va_deg) < 1e-4));
});

t.test('reactive limits: PV buses beyond their limits become PQ at the limit (case118)', async (t) => {
  const net = loadCase('case118');
  const busQ = (r: ReturnType<typeof runPowerFlow>, bus: number) => r.gens.filter((g, i) => g.bus === bus && net.gens[i]!.status).reduce((s, g) => s + g.qg_mvar, 0);
  const lim = (bus: number, k: 'qmax' | 'qmin') => net.gens.filter((g) => g.bus === bus && g.status).reduce((s, g) => s + g[k], 0);
  const pvBuses = [...new Set(net.gens.filter((g) => g.status).map((g) => g.bus))].filter((b) => net.buses.find((x) => x.bus === b)!.type === 'pv');
  const free = runPowerFlow(net);
  const outside = pvBuses.filter((b) => busQ(free, b) > lim(b, 'qmax') + 1e-6 || busQ(free, b) < lim(b, 'qmin') - 1e-6);
  t.ok(outside.length > 0, `without limits some PV buses violate them: ${outside.join(',')}`);
  const r = runPowerFlow(net, { enforceQLimits: true });
  t.ok(r.converged);
  for (const b of outside) t.ok(r.qLimited.includes(b), `bus ${b} was switched to PQ`);
  for (const b of pvBuses) {
    const q = busQ(r, b);
    t.ok(q <= lim(b, 'qmax') + 1e-6 && q >= lim(b, 'qmin') - 1e-6, `bus ${b}: ${q.toFixed(3)} MVAr within [${lim(b, 'qmin')}, ${lim(b, 'qmax')}]`);
  }
});

t.test('bad input: an island without a slack, and a flow that does not converge', async (t) => {
  const net = loadCase('case14');
  // Bus 8 hangs on branch 7-8 (row 14) only: opening it leaves bus 8 alone.
  const row = net.branches.findIndex((b) => b.from === 7 && b.to === 8);
  net.branches[row]!.status = false;
  const e = gridError(() => runPowerFlow(net, { file: 'case14.m' }));
  t.equal(e.reason, 'island');
  t.match(e.message, /case14\.m: the network is split into 2 islands; the island of buses 8 has no reference \(slack\) bus/);
  const heavy = loadCase('case14');
  for (const b of heavy.buses) {
    b.pd *= 8;
    b.qd *= 8;
  }
  const r = runPowerFlow(heavy, { maxIter: 10 });
  t.notOk(r.converged, 'eight times the load has no solution');
  t.equal(r.iterations, 10, 'stopped at the iteration limit');
  t.ok(r.mismatch > 1e-8, `mismatch reported: ${r.mismatch}`);
});

// MATPOWER's pfsoln rules for sharing a bus's reactive output (MATPOWER 8.1 lib/pfsoln.m), worked by
// hand on case14's bus 2, whose total is MATPOWER's solved qg of its one generator (case14.pf.json),
// with a second generator added (pg 0, so the flow itself is unchanged).
t.test('reactive output shared at a bus: infinite limits by the proxy M, equal limits equally, PQ buses as scheduled', async (t) => {
  const ref = reference('case14');
  const total = ref.gens.find((g) => g.bus === 2)!.qg_mvar;
  const withSecond = (qmax: number, qmin: number, first?: { qmax: number; qmin: number }): number[] => {
    const net = loadCase('case14');
    const g2 = net.gens.find((g) => g.bus === 2)!;
    if (first) Object.assign(g2, first);
    net.gens.push({ ...g2, pg: 0, qg: 0, qmax, qmin });
    const r = runPowerFlow(net);
    t.ok(Math.abs(r.buses[1]!.vm - ref.buses[1]!.vm) < 1e-9, 'the flow is unchanged');
    return r.gens.filter((g) => g.bus === 2).map((g) => g.qg_mvar);
  };
  // Generator 2: [-40, 50]; the added one unlimited: M = |Qtot| + 50 + 40 stands for its infinity.
  const M = Math.abs(total) + 90;
  const frac = (total - (-40 - M)) / (50 + M - (-40 - M));
  let q = withSecond(Infinity, -Infinity);
  t.ok(Math.abs(q[0]! - (-40 + frac * 90)) < 1e-9 && Math.abs(q[1]! - (-M + frac * 2 * M)) < 1e-9, `${q.map((v) => v.toFixed(4)).join(', ')} MVAr`);
  t.ok(Math.abs(q[0]! + q[1]! - total) < 1e-9, 'the shares add up to the bus total');
  // Both at qmin = qmax = 10: no range, each gets 10 + (Qtot - 20) / 2.
  q = withSecond(10, 10, { qmax: 10, qmin: 10 });
  t.ok(Math.abs(q[0]! - (10 + (total - 20) / 2)) < 1e-9 && Math.abs(q[1]! - q[0]!) < 1e-12, `${q.map((v) => v.toFixed(4)).join(', ')} MVAr`);
  // A bus typed PQ: each generator keeps its scheduled qg.
  const net = loadCase('case14');
  net.buses[1]!.type = 'pq';
  const g2 = net.gens.find((g) => g.bus === 2)!;
  net.gens.push({ ...g2, pg: 0, qg: 5 });
  g2.qg = 30;
  t.same(runPowerFlow(net).gens.filter((g) => g.bus === 2).map((g) => g.qg_mvar), [30, 5]);
});
