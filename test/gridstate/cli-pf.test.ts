/**
 * `gridedge pf` through the real CLI process: JSON output equal to MATPOWER's solution of case14
 * (test/gridstate/fixtures, MATPOWER 8.1 runpf), and bad input exiting 1 with the reason on stderr.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from '../cli/run-cli.js';
import { casePath, reference } from './fixtures.js';

t.test('gridedge pf case14.m prints the solved bus voltages as JSON', async (t) => {
  const r = await runCli(['pf', casePath('case14')]);
  t.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { converged: boolean; iterations: number; buses: { bus: number; vm: number; va_deg: number }[]; warnings: string[] };
  t.equal(out.converged, true);
  t.equal(out.iterations, 2);
  const ref = reference('case14');
  t.equal(out.buses.length, 14);
  out.buses.forEach((b, i) => {
    t.equal(b.bus, ref.buses[i]!.bus);
    t.ok(Math.abs(b.vm - ref.buses[i]!.vm) < 1e-6 && Math.abs(b.va_deg - ref.buses[i]!.va_deg) < 1e-4, `bus ${b.bus}`);
  });
  t.same(out.warnings, []);
  const flows = JSON.parse((await runCli(['pf', casePath('case14'), '--flows'])).stdout) as { branches: { pf_mw: number }[] };
  t.ok(Math.abs(flows.branches[0]!.pf_mw - ref.branches[0]!.pf_mw) < 1e-4, 'branch 1-2 flow as MATPOWER');
});

t.test('gridedge pf: bad input exits 1 with the reason, no stack trace', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pf-'));
  const bad = join(dir, 'bad.m');
  writeFileSync(bad, "function mpc = bad\nmpc.baseMVA = 100;\nmpc.bus = [\n 1 3 0 0 0 0 1 1 0 0 1 1.1 0.9;\n 2 1 1O 0 0 0 1 1 0 0 1 1.1 0.9;\n];\n");
  let r = await runCli(['pf', bad]);
  t.equal(r.code, 1);
  t.match(r.stderr, /^gridedge pf: .*bad\.m:5:7: unexpected "O" after the number\n$/);
  r = await runCli(['pf', casePath('case300'), '--max-iter', '2']);
  t.equal(r.code, 1);
  t.match(r.stderr, /the power flow did not converge after 2 iterations \(largest mismatch \d\.\d+e[-+]\d+ pu\)/);
  t.equal((JSON.parse(r.stdout) as { converged: boolean }).converged, false);
  r = await runCli(['pf', casePath('case14'), '--tol=-1']);
  t.equal(r.code, 1);
  t.match(r.stderr, /--tol: must be a positive number, got "-1"/);
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
});
