/**
 * The MATPOWER case reader: the format of MATPOWER's CASEFORMAT (version 2: baseMVA, bus, gen, branch
 * tables, `%` comments, `...` continuations, cell arrays), files read as data and never run, and bad
 * files reported with their line and column. Fixture: MATPOWER 8.1 case14.m (test/gridstate/fixtures).
 */
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { gridError } from './grid-error.js';
import { GridInputError } from '../../algorithms/grid/errors.js';
import { loadNetwork } from '../../algorithms/grid/load.js';
import { parseMatpower } from '../../algorithms/grid/matpower.js';
import { runPowerFlow } from '../../algorithms/grid/powerflow.js';
import { casePath, reference } from './fixtures.js';

const SMALL = `function mpc = tiny
%% a three-bus case
mpc.version = '2';
mpc.baseMVA = 100;
mpc.bus = [
\t1\t3\t0\t0\t0\t0\t1\t1\t0\t230\t1\t1.1\t0.9;
\t2, 1, 50, 10, 0, 0, 1, 1, 0, 230, 1, 1.1, 0.9 % comma separated
\t3\t1\t40\t5\t0\t0\t1\t1\t0\t230\t1\t1.1\t0.9;
];
mpc.gen = [ 1 0 0 300 -300 1.02 100 1 250 10 ];
mpc.branch = [
\t1\t2\t0.01\t0.1\t0.02\t0\t0\t0\t0\t0\t1\t-360\t360;
\t2\t3\t0.01\t0.1 ...
\t  0.02\t0\t0\t0\t0\t0\t1\t-360\t360;
\t1\t3\t0.01\t0.1\t0.02\t0\t0\t0\t0\t0\t1\t-360\t360;
];
mpc.bus_name = { 'One'; 'Two'; 'It''s three' };
`;

t.test('reads a small case: comments, commas, continuation lines, cell arrays of names', async (t) => {
  const net = parseMatpower(SMALL, 'tiny.m');
  t.equal(net.name, 'tiny');
  t.equal(net.baseMVA, 100);
  t.same(net.buses.map((b) => [b.bus, b.type, b.pd, b.name]), [[1, 'ref', 0, 'One'], [2, 'pq', 50, 'Two'], [3, 'pq', 40, "It's three"]]);
  t.equal(net.branches.length, 3);
  t.same(net.branches[1], { from: 2, to: 3, r: 0.01, x: 0.1, b: 0.02, ratio: 0, angle_deg: 0, status: true });
  t.same(net.gens[0], { bus: 1, pg: 0, qg: 0, qmax: 300, qmin: -300, vg: 1.02, status: true });
  t.same(net.warnings, []);
  t.ok(runPowerFlow(net).converged);
});

t.test('code after the tables is not run: each statement is reported with its line, the data stays as written', async (t) => {
  const text = `${SMALL}%% convert branch impedances from Ohms to p.u.
[PQ, PV, REF, NONE, BUS_I] = idx_bus;
mpc.branch(:, 3) = mpc.branch(:, 3) / 100;
system('rm -rf /');
`;
  const net = parseMatpower(text, 'tiny.m');
  t.equal(net.warnings.length, 3);
  t.match(net.warnings[0], /^tiny\.m:19:1: statement not evaluated .*\[PQ, PV, REF, NONE, BUS_I\] = idx_bus$/);
  t.match(net.warnings[1], /^tiny\.m:20:1: statement not evaluated .*mpc\.branch\(:, 3\) = mpc\.branch\(:, 3\) \/ 100$/);
  t.match(net.warnings[2], /^tiny\.m:21:1: .*system\(.rm -rf \/.\)$/);
  t.equal(net.branches[0]!.r, 0.01, 'the division was not applied');
});

t.test('syntax errors name the file, line and column', async (t) => {
  const bad: [string, RegExp][] = [
    [SMALL.replace('\t3\t1\t40\t5', '\t3\t1\t4x0\t5'), /^bad\.m:8:7: unexpected "x" after the number/],
    [SMALL.replace('\t3\t1\t40\t5', '\t3\t1\tabc\t5'), /^bad\.m:8:6: expected a number in the matrix, found "abc"/],
    [SMALL.replace('2, 1, 50, 10, 0, 0, 1, 1, 0, 230, 1, 1.1, 0.9', '2, 1, 50, 10, 0, 0, 1, 1, 0, 230, 1, 1.1'), /^bad\.m:7:1: matrix row has 12 columns, the first row has 13/],
    [SMALL.replace("mpc.bus_name = { 'One'; 'Two'; 'It''s three' };", "mpc.bus_name = { 'One; 'Two' };"), /^bad\.m:17:25: expected a quoted string or a number in the cell array, found "T"/],
    [SMALL.replace(/\];\nmpc\.gen/, 'mpc.gen'), /^bad\.m:9:1: expected a number in the matrix, found "mpc.gen"/],
    [SMALL.replace('mpc.baseMVA = 100;', 'mpc.baseMVA = hundred;'), /^bad\.m:4:15: cannot read the value of mpc\.baseMVA/],
    [SMALL.replace(/\];\nmpc\.bus_name[^\n]*\n$/, '\n'), /^bad\.m:11:14: matrix not closed \(missing '\]'\)/],
  ];
  for (const [text, re] of bad) {
    const e = gridError(() => parseMatpower(text, 'bad.m'));
    t.match(e.message, re);
  }
});

t.test('table errors: unknown bus, bad bus type, missing table, version 1', async (t) => {
  t.match(gridError(() => parseMatpower(SMALL.replace('mpc.gen = [ 1 0', 'mpc.gen = [ 9 0'), 't.m')).message, /^t\.m:10: generator row 1: unknown bus 9/);
  t.match(gridError(() => parseMatpower(SMALL.replace('\t1\t3\t0\t0\t0\t0\t1\t1\t0\t230', '\t1\t7\t0\t0\t0\t0\t1\t1\t0\t230'), 't.m')).message, /t\.m:6: bus 1: type must be 1 \(PQ\), 2 \(PV\), 3 \(reference\) or 4 \(isolated\), got 7/);
  t.match(gridError(() => parseMatpower(SMALL.replace('\t2\t3\t0.01', '\t2\t33\t0.01'), 't.m')).message, /t\.m:13: branch row 2: unknown to bus 33/);
  t.match(gridError(() => parseMatpower(SMALL.replace(/mpc\.gen = [^\n]*\n/, ''), 't.m')).message, /^t\.m: mpc\.gen is missing/);
  t.match(gridError(() => parseMatpower(SMALL.replace("mpc.version = '2'", "mpc.version = '1'"), 't.m')).message, /t\.m:3: only MATPOWER case format version 2 is read/);
});

t.test('loadNetwork: by extension, with a clear error for unreadable or unknown files', async (t) => {
  const net = loadNetwork(casePath('case14'));
  t.equal(net.buses.length, 14);
  t.equal(net.buses[0]!.name, 'Bus 1     HV'.trim());
  const dir = mkdtempSync(join(tmpdir(), 'grid-'));
  t.match(gridError(() => loadNetwork(join(dir, 'none.m'))).message, /cannot read .*none\.m: no such file \(ENOENT\)/);
  writeFileSync(join(dir, 'x.csv'), 'a,b');
  t.match(gridError(() => loadNetwork(join(dir, 'x.csv'))).message, /x\.csv: unknown network format/);
  writeFileSync(join(dir, 'n.json'), '{ "format": "gridedge-network", ');
  t.match(gridError(() => loadNetwork(join(dir, 'n.json'))).message, /n\.json:1:33: not valid JSON: expected a property name in double quotes, found end of file$/);
  // A JSON network's syntax error names its line and column, as the .m parser does.
  writeFileSync(join(dir, 'n.json'), '{ "format": "gridedge-network",\n  "buses": [ { "bus": 1 } ]\n  "gens": [] }');
  const syn = gridError(() => loadNetwork(join(dir, 'n.json')));
  t.equal(syn.reason, 'syntax');
  t.match(syn.message, /n\.json:3:3: not valid JSON: expected ',' or '}', found '"'$/);
  writeFileSync(join(dir, 'n.json'), JSON.stringify({ format: 'gridedge-network', baseMVA: 100, buses: [{ bus: 1, type: 'slack' }], gens: [], branches: [{ from: 1, to: 2, x: 'a' }] }));
  const e = gridError(() => loadNetwork(join(dir, 'n.json')));
  t.match(e.problems, [/buses\[0\]\.type: must be pq, pv, ref or isolated, got "slack"/, /branches\[0\]\.x: must be a finite number, got "a"/]);
  // Sanity: the reference solution file belongs to the same case.
  t.equal(reference('case14').buses.length, net.buses.length);
  t.ok(readFileSync(casePath('case14'), 'utf8').startsWith('function mpc = case14'));
});
