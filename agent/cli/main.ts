/**
 * The `gridedge` entry (agent/cli/gridedge.js imports the compiled dist/agent/cli/main.js): runs
 * the command line on process.argv and sets the exit code.
 *
 * Signals: a command that ends itself cleanly on SIGINT/SIGTERM (`handlesSignals`: tail, pmu probe,
 * diag) gets them as `io.signal`, aborted with the signal's name; once it has returned, the process
 * exits at once (a connection still closing does not hold it). A second signal ends the process by
 * the default action. Every other command installs no handler, so Ctrl-C ends it at once, also while
 * it computes or waits for a peer (`run` installs the agent's own handlers).
 */
import { cli, findCommand } from './cli.js';
import { EXIT } from './command.js';
import { COMMANDS } from './commands/index.js';
import { processIo } from './io.js';

const argv = process.argv.slice(2);
const stop = new AbortController();
const onSignal = (signal: NodeJS.Signals): void => stop.abort(signal);

// The reader of our output went away (`gridedge tail ... | head`): stop the command quietly, as
// Unix tools do, instead of dying on an EPIPE stack trace.
// Output that cannot be written at all (`> file` on a full disk, a closed or read-only target): one
// line naming why, exit 1, instead of an ENOSPC stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') {
    stop.abort('EPIPE');
    process.exit(process.exitCode ?? 0);
  }
  const words: Record<string, string> = { ENOSPC: 'no space left on the device', EDQUOT: 'disk quota exceeded', EIO: 'input/output error', EBADF: 'it is closed', EROFS: 'read-only file system' };
  process.stderr.write(`gridedge: cannot write the output: ${words[err.code ?? ''] ?? err.message} (${err.code ?? 'error'})\n`);
  process.exit(EXIT.badInput);
});
process.stderr.on('error', () => undefined); // see processIo's err
if (findCommand(argv, COMMANDS)?.cmd.handlesSignals) {
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}

let code: number;
try {
  code = await cli(argv, processIo(stop.signal));
} catch (e) {
  // A bug, not a bad input: one line saying so; the stack trace only when asked for.
  const err = e as Error;
  const trace = process.env['GRIDEDGE_DEBUG'] ? `\n${err.stack ?? String(e)}` : ' (set GRIDEDGE_DEBUG=1 for the stack trace)';
  process.stderr.write(`gridedge: internal error, please report it with the command line: ${err?.message ?? String(e)}${trace}\n`);
  code = EXIT.internal;
}
process.exitCode = code;
process.off('SIGINT', onSignal);
process.off('SIGTERM', onSignal);
// Interrupted: nothing more is wanted (stdout and stderr are written synchronously to files, pipes
// and terminals on Linux, so nothing printed is lost).
if (stop.signal.aborted) process.exit(code);
// Let pending writes drain and handles close; should something keep the loop alive, still exit.
setTimeout(() => process.exit(code), 3000).unref();
