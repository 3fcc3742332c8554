/** `gridedge schedule --input FILE.json [--model pymfm|physical]`: one offline battery schedule; prints JSON. */
import { readFile } from 'node:fs/promises';
import { parseJsonText } from '../../../algorithms/common/json-syntax.js';
import { EXIT, MAX_TIMEOUT_S, positiveNumber, TIMEOUT_SECONDS, type Command } from '../command.js';
import { fileErrorText } from '../format.js';

export const scheduleCommand: Command = {
  name: 'schedule',
  summary: 'Run the battery scheduler once on a job file (pymfm service, pymfm 0.5 or Platone dialect); print JSON',
  options: {
    input: { type: 'string', valueName: 'FILE.json', required: true, description: 'The job (required)' },
    model: { type: 'string', valueName: 'pymfm|physical', description: 'Optimisation model variant (default physical); rule-based jobs ignore it' },
    'time-limit': { type: 'string', valueName: 'DURATION', duration: TIMEOUT_SECONDS, description: 'Solver time limit (default 60s); the best schedule found by then is printed' },
    json: { type: 'boolean', description: 'JSON output (the default; accepted for symmetry with other commands)' },
  },
  positionals: [],
  details: [
    'Output: { "status", "objective", "peak_imp_kW", "peak_exp_kW", "mip_gap", "schedule": [ { "timestamp",',
    '  "P_net_before_kW", "P_net_after_kW", "batteries": { "<id>": { "P_bat_kW", "SoC" } } } ] }',
    '  (P_bat_kW positive = charging; SoC a fraction, at the end of each step for rule-based jobs and at its start',
    '  for optimised ones, as "soc_at" says).',
    'Exit codes: 0 success, optimal, or time limit with a schedule (reason on stderr); 1 bad input, an infeasible',
    'job (the constraint families on stderr) or no schedule within the time limit.',
    'Example:',
    '  gridedge schedule --input scheduling_optimization_based.json --model pymfm',
  ].join('\n'),
  async run({ values }, io) {
    const file = values['input'];
    if (typeof file !== 'string') {
      io.err('gridedge schedule: --input FILE.json is required\n');
      return EXIT.badInput;
    }
    const model = values['model'] ?? 'physical';
    if (model !== 'pymfm' && model !== 'physical') {
      io.err(`gridedge schedule: --model must be pymfm or physical, got ${JSON.stringify(model)}\n`);
      return EXIT.badInput;
    }
    const limit = positiveNumber('time-limit', values['time-limit'], MAX_TIMEOUT_S);
    if (typeof limit === 'string') {
      io.err(`gridedge schedule: ${limit}\n`);
      return EXIT.badInput;
    }
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      io.err(`gridedge schedule: --input: cannot read ${file}: ${fileErrorText(e)}\n`);
      return EXIT.badInput;
    }
    const parsed = parseJsonText(text, file);
    if (!parsed.ok) {
      io.err(`gridedge schedule: ${parsed.message}\n`);
      return EXIT.badInput;
    }
    const raw = parsed.value;
    const { normaliseJob, runJob, SchedulerInputError } = await import('../../../algorithms/scheduler/index.js');
    let job;
    try {
      job = normaliseJob(raw);
    } catch (e) {
      if (e instanceof SchedulerInputError) {
        io.err(e.problems.map((p) => `gridedge schedule: ${file}: ${p}\n`).join(''));
        return EXIT.badInput;
      }
      throw e;
    }
    const result = await runJob(job, model, limit !== undefined ? { timeLimitS: limit } : {});
    const { status, objective, peak_imp_kW, peak_exp_kW, mip_gap, schedule, ...rest } = result;
    io.out(`${JSON.stringify({ id: job.id, status, objective, peak_imp_kW, peak_exp_kW, mip_gap, ...rest, schedule }, null, 1)}\n`);
    if (result.status === 'success' || result.status === 'optimal') return EXIT.ok;
    io.err(`gridedge schedule: ${file}: ${result.status}: ${result.reason ?? ''}\n`);
    return result.status === 'time_limit' && result.schedule.length ? EXIT.ok : EXIT.badInput;
  },
};
