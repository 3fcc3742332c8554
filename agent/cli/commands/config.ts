/** `gridedge config check FILE` and `gridedge config schema [--json]`. */
import { readFileSync } from 'node:fs';
import { EXIT, type Command } from '../command.js';
import { escapeControls } from '../format.js';

/**
 * Whether a config file that loaded holds no option at all: empty, blank, only YAML comments and
 * document markers, or `null`. Such a file is valid (every default) but rarely what was meant.
 */
function holdsNothing(file: string): boolean {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return false;
  }
  const rest = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#') && l !== '---' && l !== '...');
  return rest.length === 0 || (rest.length === 1 && ['null', '~'].includes(rest[0]!));
}

export const configCheck: Command = {
  name: 'config check',
  summary: 'Validate a config file (YAML or JSON); print every problem, one a line, each with its path',
  options: {
    env: { type: 'boolean', description: 'Also apply GRIDEDGE_* environment variables, as `gridedge run` does' },
  },
  positionals: [{ name: 'FILE', description: 'The config file (.yaml, .yml or .json)' }],
  details: [
    'Exit codes: 0 valid ("FILE: ok"; a TLS certificate expired, not yet valid or ending within 14 days, a file that holds no option,',
    'or an estimator whose measurements cannot make its network observable, is a warning on stderr), 1 invalid (every problem on stderr, one a line).',
    'Example:',
    '  gridedge config check /etc/gridedge/gridedge.yaml',
    '  drivers[1].port: must be an integer between 1 and 65535, got "50x"',
  ].join('\n'),
  async run({ values, positionals }, io) {
    const file = positionals[0]!;
    const { loadConfig } = await import('../../config/index.js');
    const r = loadConfig({ file, env: values['env'] ? io.env : {} });
    if (r.ok) {
      // Valid, but worth saying: TLS certificates expired, not yet valid, or ending within 14 days.
      const { certificateWarning, crlWarnings } = await import('../../core/tls-files.js');
      const c = r.config;
      const warnings = [
        c.mqtt.tls?.cert && c.mqtt.tls.key ? certificateWarning('mqtt.tls', c.mqtt.tls.cert, Date.now()) : null,
        c.http.tls?.cert && c.http.tls.key ? certificateWarning('http.tls', c.http.tls.cert, Date.now()) : null,
        ...(c.mqtt.tls?.cert && c.mqtt.tls.ca && c.mqtt.tls.crl ? crlWarnings('mqtt.tls', c.mqtt.tls.crl, Date.now(), c.mqtt.tls.ca) : []),
        holdsNothing(file) ? `${file} holds no options (it is empty, or comments only): every option takes its default, with no drivers (is it the file you meant, or was it truncated?)` : null,
      ].filter((w): w is string => w !== null);
      // An estimator whose measurements can never make its network observable: valid (the mapping may
      // be completed later), but it will never estimate.
      const estimators = c.analyzers.filter((a) => a.type === 'estimator');
      if (estimators.length) {
        const { observabilityWarning } = await import('../../analyzers/estimator/index.js');
        const section = (c as unknown as { estimator?: { network?: string } }).estimator?.network;
        c.analyzers.forEach((a, k) => {
          if (a.type !== 'estimator') return;
          const w = observabilityWarning(a as unknown as Parameters<typeof observabilityWarning>[0]);
          const at = section && a.id === 'estimator' ? 'estimator.measurements' : `analyzers[${k}].measurements`;
          if (w) warnings.push(`${at}: ${w}`);
        });
      }
      // A warning quotes the TLS files' names (a CRL's issuer, a CA's subject): escaped like the problems below.
      io.err(warnings.map((w) => `warning: ${escapeControls(w)}\n`).join(''));
      io.out(`${file}: ok${warnings.length ? ` (${warnings.length} warning${warnings.length > 1 ? 's' : ''} above)` : ''}\n`);
      return EXIT.ok;
    }
    // A syntax error may quote a control byte of a binary or damaged file: escaped, not sent to the terminal.
    io.err(r.errors.map((e) => `${escapeControls(e)}\n`).join(''));
    return EXIT.badInput;
  },
};

export const configSchema: Command = {
  name: 'config schema',
  summary: 'Print every option with its default, accepted values, environment variable and doc',
  options: { json: { type: 'boolean', description: 'JSON instead of Markdown' } },
  positionals: [],
  details: 'Examples:\n  gridedge config schema > CONFIG.md\n  gridedge config schema --json | jq \'.options[] | select(.path == "http.port")\'',
  async run({ values }, io) {
    const { describeSchema, schemaMarkdown } = await import('../../config/index.js');
    const d = describeSchema();
    io.out(values['json'] ? `${JSON.stringify(d, null, 2)}\n` : `${schemaMarkdown(d)}\n`);
    return EXIT.ok;
  },
};
