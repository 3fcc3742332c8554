/** `gridedge se --network CASE --measurements FILE.json`: one WLS state estimate; prints JSON. */
import { EXIT, positiveNumber, type Command } from '../command.js';
import { inputFileProblem } from '../input-files.js';

export const seCommand: Command = {
  name: 'se',
  summary: 'Run the WLS state estimator once on a network and a measurement file; print JSON',
  options: {
    network: { type: 'string', valueName: 'CASE', required: true, description: 'The network: a .m or .json file, a CGMES folder, or CGMES .xml files separated by commas' },
    measurements: { type: 'string', valueName: 'FILE', required: true, description: 'The measurement file (JSON: { "baseMVA", "measurements": [ ... ] })' },
    alpha: { type: 'string', valueName: 'P', description: 'Significance level of the chi-square bad-data test (default 0.01)' },
    'rn-threshold': { type: 'string', valueName: 'X', description: 'Normalised residuals above this are bad data (default 3)' },
    'no-bad-data': { type: 'boolean', description: 'Skip bad-data detection and removal' },
    json: { type: 'boolean', description: 'JSON output (the default; accepted for symmetry with other commands)' },
  },
  positionals: [],
  details: [
    'Output: { "converged", "iterations", "buses": [ { "bus", "vm", "va_deg" } ], "J", "dof", "chi2_threshold",',
    '  "chi2_passed", "bad_data": [ { "index", "type", "rn" } ], "suspect_data": [ { "index", "type", "rn", "reason" } ],',
    '  "used", "warnings" } (index: 0-based position in the measurement file). bad_data: identified and removed, not',
    '  used. suspect_data: the largest normalised residual when removing it would leave the set unobservable: kept',
    '  and used, so the estimate carries its error. chi2_passed: J within chi2_threshold after removal.',
    'Exit codes: 0 estimated and the chi-square test passed (or --no-bad-data: the test is reported, not acted on);',
    '  1 bad input, an unobservable set, no convergence, or the chi-square test failed (bad data left in the',
    '  estimate; the JSON is still printed, the reason on stderr).',
    'Example:',
    '  gridedge se --network case14.m --measurements meas.json',
  ].join('\n'),
  async run({ values }, io) {
    const network = values['network'];
    const file = values['measurements'];
    if (typeof network !== 'string' || typeof file !== 'string') {
      io.err(`gridedge se: ${typeof network !== 'string' ? '--network' : '--measurements'} is required\n`);
      return EXIT.badInput;
    }
    const alpha = positiveNumber('alpha', values['alpha']);
    const rn = positiveNumber('rn-threshold', values['rn-threshold']);
    for (const e of [alpha, rn])
      if (typeof e === 'string') {
        io.err(`gridedge se: ${e}\n`);
        return EXIT.badInput;
      }
    if (typeof alpha === 'number' && alpha >= 1) {
      io.err(`gridedge se: --alpha: must be between 0 and 1, got ${alpha}\n`);
      return EXIT.badInput;
    }
    const parts = network.includes(',') ? network.split(',') : [network];
    // The files in the order they are read: the network's problems first, as before.
    const unreadable = (what: string | null): boolean => {
      if (what !== null) io.err(`gridedge se: ${what}\n`);
      return what !== null;
    };
    if (unreadable(parts.map((p) => inputFileProblem(p, { what: '--network', folder: true })).find((p) => p !== null) ?? null)) return EXIT.badInput;
    const { GridInputError, buildModel } = await import('../../../algorithms/grid/index.js');
    const { loadJson, loadNetwork } = await import('../../../algorithms/grid/load.js');
    const { measurementsFromJson } = await import('../../../algorithms/grid/measurements.js');
    const { estimateState, estimateSummary } = await import('../../../algorithms/grid/estimator.js');
    try {
      const net = loadNetwork(parts.length > 1 ? parts : network);
      if (unreadable(inputFileProblem(file, { what: '--measurements' }))) return EXIT.badInput;
      const doc = loadJson(file);
      const model = buildModel(net);
      const meas = measurementsFromJson(model, doc, file);
      const r = estimateState(model, meas, {
        ...(typeof alpha === 'number' ? { alpha } : {}),
        ...(typeof rn === 'number' ? { rnThreshold: rn } : {}),
        badData: values['no-bad-data'] !== true,
      });
      const out = { ...estimateSummary(r), warnings: net.warnings };
      io.out(`${JSON.stringify(out, null, 1)}\n`);
      if (!r.converged) {
        io.err(`gridedge se: the estimator did not converge after ${r.iterations} iterations\n`);
        return EXIT.badInput;
      }
      if (!r.chi2Passed && values['no-bad-data'] !== true) {
        const left = r.suspect_data.map((d) => `; measurement ${d.index} (${d.type}, normalised residual ${d.rn.toFixed(1)}) ${d.reason}`).join('');
        io.err(`gridedge se: ${file}: the chi-square test failed: J = ${r.J.toFixed(1)} above ${r.chi2Threshold.toFixed(1)} (${r.dof} degrees of freedom, alpha ${typeof alpha === 'number' ? alpha : 0.01})${left}\n`);
        return EXIT.badInput;
      }
      return EXIT.ok;
    } catch (e) {
      if (e instanceof GridInputError) {
        io.err(e.problems.map((p) => `gridedge se: ${p}\n`).join(''));
        return EXIT.badInput;
      }
      throw e;
    }
  },
};
