/**
 * `gridedge diag [--out FILE.tar.gz]`: what a technician sends home. Collects, each into its own
 * file of one folder, then packs the folder with the system's `tar` (gzip):
 *   version.txt   gridedge, Node.js, OS, architecture
 *   config.json   the config the agent runs with (--config, $GRIDEDGE_CONFIG, the installed
 *                 /etc/gridedge/gridedge.yaml if readable, or the embedded default; GRIDEDGE_*
 *                 applied), every secret masked; or the config's problems
 *   status.json   the running agent's status (health, plugins, counters, buffer stats), or why it
 *                 could not be read; an agent with http.users is read with --token / $GRIDEDGE_TOKEN,
 *                 one with http.tls trusting --ca
 *   logs.txt      the last --lines journal lines of the gridedge unit (journalctl), secrets in
 *                 them masked (maskSecretText: URL passwords, password/token/key values, Azure
 *                 SharedAccessKey, SAS signatures, bearer tokens), or why they could not be read
 *   disk.json     free and total space of the storage folder's file system
 *   summary.json  what was collected and what was not
 * Nothing in the bundle is fatal to collect: a part that cannot be had is written as the reason.
 * Exit 0 when the bundle was written (whatever it contains), 1 on bad options or when the output
 * cannot be written.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { arch, hostname, platform, release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { EXIT, interruptedExit, positiveInt, MAX_TIMEOUT_S, positiveNumber, TIMEOUT_SECONDS, type Command } from '../command.js';
import { configSource, resolveHttpUrl } from '../endpoints.js';
import { fetchStatus } from '../fetch-status.js';
import { packageVersion } from '../package-info.js';
import { maskSecretText, maskSecrets } from '../../core/secrets.js';
import { agentAccess, agentOptions } from './status.js';

/** Run a program to its end, `timeoutMs` at most; `signal` (Ctrl-C) kills it. */
function run(cmd: string, args: string[], timeoutMs: number, signal: AbortSignal): Promise<{ ok: boolean; out: string; err: string }> {
  return new Promise((done) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, signal }, (e, out, err) =>
      done({ ok: !e, out: String(out), err: e ? `${(e as NodeJS.ErrnoException).code ?? ''} ${String(err) || e.message}`.trim() : String(err) }),
    );
  });
}

function stamp(d = new Date()): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

export const diagCommand: Command = {
  name: 'diag',
  summary: 'Collect a diagnostics bundle (version, masked config, status, counters, buffer, logs, disk) as .tar.gz',
  options: {
    out: { type: 'string', short: 'o', valueName: 'FILE.tar.gz', description: 'Write the bundle here, or into this folder (default: ./gridedge-diag-HOST-TIME.tar.gz)' },
    config: agentOptions.config,
    url: agentOptions.url,
    ca: agentOptions.ca,
    lines: { type: 'string', valueName: 'N', description: 'Journal lines to include (default 2000)' },
    timeout: { type: 'string', valueName: 'DURATION', duration: TIMEOUT_SECONDS, description: 'How long to wait for the agent and journalctl (default 5s)' },
    token: agentOptions.token,
    json: { type: 'boolean', description: 'Also print the summary as JSON on stdout' },
  },
  positionals: [],
  handlesSignals: true,
  details: [
    'Secrets (passwords, password hashes, tokens, keys, passwords in URLs) are replaced by "***".',
    'An agent with http.users needs a bearer token for its status: --token or $GRIDEDGE_TOKEN, as for gridedge status.',
    'Parts that cannot be collected (agent not running, no journal) are recorded with the reason;',
    'the bundle is written anyway. Exit 0 when written, 1 on bad options or an unwritable --out;',
    'Ctrl-C stops it, removes what it had collected (no half bundle) and exits 130.',
    'Examples:',
    '  sudo gridedge diag --out /tmp/gw-7.tar.gz   (the installed /etc/gridedge/gridedge.yaml)',
    '  sudo gridedge diag --token "$TOKEN" --out /tmp/gw-7.tar.gz   (an agent with http.users)',
    '  tar -tzf /tmp/gw-7.tar.gz',
  ].join('\n'),
  async run({ values }, io) {
    const timeout = positiveNumber('timeout', values['timeout'], MAX_TIMEOUT_S);
    const lines = positiveInt('lines', values['lines']);
    for (const e of [timeout, lines]) {
      if (typeof e === 'string') {
        io.err(`gridedge diag: ${e}\n`);
        return EXIT.badInput;
      }
    }
    const access = agentAccess(values, io.env);
    if (!access.ok) {
      io.err(`gridedge diag: ${access.error}\n`);
      return EXIT.badInput;
    }
    const timeoutS = (timeout as number | undefined) ?? 5;
    // --out: a file name ending in .tar.gz or .tgz (so that a slip such as `-o gridedge.yaml` cannot
    // overwrite a config with the bundle), or an existing folder to write the default name into.
    const defaultName = `gridedge-diag-${hostname()}-${stamp()}.tar.gz`;
    const outFlag = typeof values['out'] === 'string' ? values['out'] : undefined;
    const outIsFolder = outFlag !== undefined && existsSync(outFlag) && statSync(outFlag).isDirectory();
    const out = resolve(outFlag === undefined ? defaultName : outIsFolder ? join(outFlag, defaultName) : outFlag);
    if (outFlag !== undefined && !outIsFolder && !/\.(tar\.gz|tgz)$/.test(outFlag)) {
      io.err(`gridedge diag: --out: must name a .tar.gz or .tgz file (the bundle is a gzip tar) or a folder, got ${JSON.stringify(outFlag)}\n`);
      return EXIT.badInput;
    }
    if (!existsSync(dirname(out))) {
      io.err(`gridedge diag: --out: the folder ${dirname(out)} does not exist\n`);
      return EXIT.badInput;
    }
    if (existsSync(out) && !statSync(out).isFile()) {
      io.err(`gridedge diag: --out: ${out} exists and is not a file\n`);
      return EXIT.badInput;
    }

    const partial = `${out}.partial-${process.pid}`;
    const interrupted = (): number => {
      io.err(`gridedge diag: interrupted; no bundle written\n`);
      return interruptedExit(io.signal);
    };
    const work = mkdtempSync(join(tmpdir(), 'gridedge-diag-'));
    const name = `gridedge-diag-${stamp()}`;
    const folder = join(work, name);
    const summary: Record<string, string> = {};
    const put = (file: string, body: string, what: string): void => {
      writeFileSync(join(folder, file), body.endsWith('\n') ? body : body + '\n', { mode: 0o600 });
      summary[file] = what;
    };
    try {
      mkdirSync(folder, { mode: 0o700 });
      put(
        'version.txt',
        [`gridedge ${packageVersion()}`, `node ${process.version}`, `os ${platform()} ${release()} ${arch()}`, `host ${hostname()}`, `collected ${new Date().toISOString()}`].join('\n'),
        'ok',
      );

      // The config, masked. Loaded on demand: the config module pulls in every plugin's schema.
      const configFlag = typeof values['config'] === 'string' ? values['config'] : undefined;
      const source = configSource(configFlag, io.env);
      const { loadConfig } = await import('../../config/index.js');
      const loaded = loadConfig(source.file !== undefined ? { file: source.file, env: io.env } : { embeddedDefault: true, env: io.env });
      let storageDir = '.';
      if (loaded.ok) {
        storageDir = loaded.config.storage.dir;
        put('config.json', JSON.stringify({ source: source.file ?? 'embedded default', chosen: source.what, config: maskSecrets(loaded.config) }, null, 2), 'ok');
      } else {
        put(
          'config.json',
          JSON.stringify({ source: source.file ?? 'embedded default', chosen: source.what, problems: maskSecrets(loaded.errors) }, null, 2),
          `invalid: ${loaded.errors.length} problem(s)`,
        );
      }

      // The running agent's status: health, plugins, counters, buffer stats.
      const where = await resolveHttpUrl(values['url'] as string | undefined, configFlag, io.env);
      // The reasons may quote the config's problems: their URL passwords are masked too.
      if (!where.ok) put('status.json', JSON.stringify({ error: maskSecrets(where.errors) }, null, 2), `not read: ${maskSecretText(where.errors[0] ?? '')}`);
      else {
        const st = await fetchStatus(where.url, timeoutS, { ...access.access, signal: io.signal });
        if (io.signal.aborted) return interrupted();
        if (st.ok) put('status.json', JSON.stringify(maskSecrets(st.raw), null, 2), `ok (${st.status.health})`);
        else {
          const from = where.from ? ` (the address from ${where.from})` : '';
          put('status.json', JSON.stringify(maskSecrets({ url: st.url, addressFrom: where.from, error: st.reason }), null, 2), `not read${from}: ${maskSecretText(st.reason)}`);
        }
      }

      // Recent logs from the journal (the unit logs JSON lines to journald).
      const n = (lines as number | undefined) ?? 2000;
      const j = await run('journalctl', ['-u', 'gridedge', '-n', String(n), '--no-pager', '-o', 'short-iso'], timeoutS * 1000, io.signal);
      if (io.signal.aborted) return interrupted();
      put('logs.txt', j.ok ? maskSecretText(j.out) : `journalctl -u gridedge could not be read: ${j.err}`, j.ok ? 'ok' : `not read: ${j.err.split('\n')[0]}`);

      // Disk space where the buffer lives.
      try {
        const s = statfsSync(existsSync(storageDir) ? storageDir : '.');
        put(
          'disk.json',
          JSON.stringify({ path: resolve(existsSync(storageDir) ? storageDir : '.'), totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize }, null, 2),
          'ok',
        );
      } catch (e) {
        put('disk.json', JSON.stringify({ error: (e as Error).message }), `not read: ${(e as Error).message}`);
      }
      put('summary.json', JSON.stringify(summary, null, 2), 'ok');

      // Packed beside --out under another name and renamed when complete: an interrupted or
      // failed tar leaves no half bundle under the name a technician would send.
      const tar = await run('tar', ['-czf', partial, '-C', work, name], 60_000, io.signal);
      if (io.signal.aborted) return interrupted();
      if (!tar.ok) {
        io.err(`gridedge diag: cannot write ${out}: ${tar.err}\n`);
        return EXIT.badInput;
      }
      renameSync(partial, out);
    } finally {
      rmSync(work, { recursive: true, force: true });
      rmSync(partial, { force: true });
    }
    if (values['json']) io.out(`${JSON.stringify({ out, parts: summary }, null, 2)}\n`);
    else io.out(`${out}\n${Object.entries(summary).map(([f, w]) => `  ${f.padEnd(13)} ${w}\n`).join('')}`);
    return EXIT.ok;
  },
};
