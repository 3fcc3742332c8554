/** `gridedge run [--config FILE]`: the agent in the foreground. */
import { isJournalStream, withPriority } from '../../core/logger.js';
import { EXIT, type Command } from '../command.js';
import { escapeControls } from '../format.js';

export const runCommand: Command = {
  name: 'run',
  summary: 'Run the agent in the foreground (no --config and no GRIDEDGE_CONFIG: the embedded default)',
  options: {
    config: { type: 'string', short: 'c', valueName: 'FILE', description: 'Config file (.yaml, .yml or .json); default: $GRIDEDGE_CONFIG' },
  },
  positionals: [],
  details: [
    'Without a config file the agent runs the embedded default: the broker on 127.0.0.1:1883, one simulated',
    'PMU (pmu1, 50/s), processing, the buffer in ./gridedge-data and the status page on http://127.0.0.1:8080/.',
    'GRIDEDGE_* environment variables override options (see `gridedge config schema`).',
    'SIGTERM or SIGINT stops it cleanly (exit 0). An invalid config prints every problem and exits 1.',
    'A valid config the agent cannot start with (a port in use, a file or folder it cannot read or write) exits 2,',
    'naming what failed; under systemd both are restarted after RestartSec.',
    'Examples:',
    '  gridedge run',
    '  gridedge run --config /etc/gridedge/gridedge.yaml',
    '  GRIDEDGE_HTTP_PORT=8081 gridedge run',
  ].join('\n'),
  async run({ values }, io) {
    const flag = values['config'];
    const file = typeof flag === 'string' ? flag : io.env['GRIDEDGE_CONFIG'] || undefined;
    const { loadConfig } = await import('../../config/index.js');
    const r = loadConfig(file !== undefined ? { file, env: io.env } : { embeddedDefault: true, env: io.env });
    // Under systemd, stderr is the journal's stream too: these lines are stored at priority err (3).
    const onJournal = isJournalStream(2, io.env);
    const err = (text: string): void => io.err(onJournal ? withPriority(text, 3) : text);
    if (!r.ok) {
      err(`gridedge run: the config ${file ?? '(embedded default)'} is invalid; the agent does not start:\n`);
      err(r.errors.map((e) => `${escapeControls(e)}\n`).join(''));
      return EXIT.badInput;
    }
    const { runAgent } = await import('../../agent.js');
    try {
      return await runAgent(r.config, file !== undefined ? { configFile: file } : {});
    } catch (e) {
      err(`gridedge run: the agent could not start: ${(e as Error).message}\n`);
      return EXIT.badInput;
    }
  },
};
