/** `gridedge pf CASE`: one Newton power flow on a network file; prints the result as JSON. */
import { EXIT, positiveInt, positiveNumber, type Command } from '../command.js';
import { inputFileProblem } from '../input-files.js';

export const pfCommand: Command = {
  name: 'pf',
  summary: 'Run a Newton power flow on a MATPOWER case (.m), a JSON network or CGMES profiles; print JSON',
  options: {
    'q-limits': { type: 'boolean', description: 'Enforce generator reactive limits (PV buses at a limit become PQ)' },
    tol: { type: 'string', valueName: 'PU', description: 'Largest mismatch accepted, per unit (default 1e-8)' },
    'max-iter': { type: 'string', valueName: 'N', description: 'Newton iterations at most (default 30)' },
    flows: { type: 'boolean', description: 'Also print generator outputs and branch flows (MW, MVAr)' },
    json: { type: 'boolean', description: 'JSON output (the default; accepted for symmetry with other commands)' },
  },
  positionals: [{ name: 'CASE', description: 'The network: a .m or .json file, a CGMES folder, or CGMES .xml files separated by commas' }],
  details: [
    'Output: { "converged", "iterations", "mismatch", "buses": [ { "bus", "vm", "va_deg" } ], "warnings" }.',
    'Exit codes: 0 converged, 1 bad input or no convergence (the reason on stderr).',
    'Example:',
    '  gridedge pf case14.m',
  ].join('\n'),
  async run({ values, positionals }, io) {
    const tol = positiveNumber('tol', values['tol']);
    const maxIter = positiveInt('max-iter', values['max-iter']);
    for (const e of [tol, maxIter])
      if (typeof e === 'string') {
        io.err(`gridedge pf: ${e}\n`);
        return EXIT.badInput;
      }
    const input = positionals[0]!;
    const parts = input.includes(',') ? input.split(',') : [input];
    const unreadable = parts.map((p) => inputFileProblem(p, { folder: true })).find((p) => p !== null);
    if (unreadable) {
      io.err(`gridedge pf: ${unreadable}\n`);
      return EXIT.badInput;
    }
    const { GridInputError, runPowerFlow } = await import('../../../algorithms/grid/index.js');
    const { loadNetwork } = await import('../../../algorithms/grid/load.js');
    try {
      const net = loadNetwork(parts.length > 1 ? parts : input);
      const r = runPowerFlow(net, { file: input, enforceQLimits: values['q-limits'] === true, ...(tol !== undefined ? { tol: tol as number } : {}), ...(maxIter !== undefined ? { maxIter: maxIter as number } : {}) });
      const out: Record<string, unknown> = { converged: r.converged, iterations: r.iterations, mismatch: r.mismatch, buses: r.buses };
      if (values['flows']) {
        out['gens'] = r.gens;
        out['branches'] = r.branches;
      }
      if (r.qLimited.length) out['q_limited'] = r.qLimited;
      out['warnings'] = net.warnings;
      io.out(`${JSON.stringify(out, null, 1)}\n`);
      if (!r.converged) {
        io.err(`gridedge pf: ${input}: the power flow did not converge after ${r.iterations} iterations (largest mismatch ${r.mismatch.toExponential(3)} pu)\n`);
        return EXIT.badInput;
      }
      return EXIT.ok;
    } catch (e) {
      if (e instanceof GridInputError) {
        io.err(e.problems.map((p) => `gridedge pf: ${p}\n`).join(''));
        return EXIT.badInput;
      }
      throw e;
    }
  },
};
