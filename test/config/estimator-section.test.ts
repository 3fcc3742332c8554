/**
 * The estimator's config, as a careless config gives it:
 *  - the top-level `estimator` section with one malformed measurement and another naming a bus or
 *    branch the network lacks: every problem is named at once (the network check was skipped while
 *    any entry was malformed, so the unknown bus surfaced only on the next try);
 *  - `gridedge config check` of a measurement set that can never make the network observable (the
 *    estimator then never estimates) says so as a warning naming the unobservable buses, exit 0 still;
 *    an observable set gives no warning. Both for the section and for an analyzers[] entry.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../../agent/config/load.js';
import { tempDir } from '../helpers/agent-process.js';
import { lines, runCli } from '../cli/run-cli.js';
import { casePath } from '../gridstate/fixtures.js';
import { scadaMapping } from '../gridstate/estimator-agent.js';

t.test('estimator section: a malformed measurement does not hide the network problems of the others', async (t) => {
  const r = loadConfig({
    document: {
      estimator: {
        network: casePath('case14'),
        measurements: [
          { device: 'x', field: 'a', type: 'vm', bus: 1, sigma: -1 },
          { device: 'x', field: 'b', type: 'vm', bus: 15, sigma: 0.1 },
          { device: 'x', field: 'c', type: 'q_flow', branch: 21, sigma: 0.1 },
          { device: 'x', field: 'd', type: 'p_flow', branch: 1, sigma: 0.1 },
        ],
      },
    },
  });
  t.same(!r.ok && r.errors, [
    'estimator.measurements[0].sigma: must be a positive number, got -1',
    'estimator.measurements[1].bus: no bus 15 in the network',
    'estimator.measurements[2].branch: no branch 21 in the network (rows 1 to 20)',
  ]);
  // A bad network is named beside a malformed measurement too.
  const missing = loadConfig({ document: { estimator: { network: '/nonexistent/net.m', intervalS: 0, measurements: [{ device: 'x', field: 'a', type: 'vm', bus: 1, sigma: -1 }] } } });
  t.same(!missing.ok && missing.errors, [
    'estimator.intervalS: must be a number between 0.1 and 86400, got 0',
    'estimator.measurements[0].sigma: must be a positive number, got -1',
    'estimator.network: cannot read /nonexistent/net.m: no such file (ENOENT)',
  ]);
});

t.test('config check: measurements that cannot make the network observable are a warning naming the buses, exit 0', async (t) => {
  const dir = tempDir('est-check');
  const few = [
    { device: 'x', field: 'v', type: 'vm', bus: 1, sigma: 0.004 },
    { device: 'x', field: 'p', type: 'p_flow', branch: 1, sigma: 0.008 },
    { device: 'x', field: 'q', type: 'q_flow', branch: 1, sigma: 0.008 },
  ];
  const write = (name: string, doc: unknown): string => {
    const file = join(dir, name);
    writeFileSync(file, JSON.stringify(doc));
    return file;
  };

  const ok = write('observable.json', { estimator: { network: casePath('case14'), measurements: scadaMapping } });
  t.same(await runCli(['config', 'check', ok]), { code: 0, stdout: `${ok}: ok\n`, stderr: '' }, 'the full mapping: no warning');

  const bad = write('unobservable.json', {
    estimator: { network: casePath('case14'), measurements: few },
    analyzers: [{ type: 'estimator', id: 'feeder', network: casePath('case14'), measurements: [] }],
  });
  const r = await runCli(['config', 'check', bad]);
  t.equal(r.code, 0, 'still valid');
  t.equal(r.stdout, `${bad}: ok (2 warnings above)\n`);
  const w = lines(r.stderr);
  t.equal(w.length, 2, r.stderr);
  const section = w.find((l) => l.startsWith('warning: estimator.measurements: '));
  t.match(section, /the 3 measurements cannot make the network observable \(buses 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14 of 14 unobservable/, 'names the buses');
  t.match(section, /the estimator will not estimate/);
  const entry = w.find((l) => l.startsWith('warning: analyzers[0].measurements: '));
  t.match(entry, /the 0 measurements cannot make the network observable \(buses 1, 2, 3, .* of 14 unobservable/, 'the analyzers[] entry named by its path');
});
