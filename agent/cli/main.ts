/**
 * The `gridedge` entry (agent/cli/gridedge.js imports the compiled dist/agent/cli/main.js): runs
 * the command line on process.argv and sets the exit code.
 */
import { cli } from './cli.js';
import { processIo } from './io.js';

const stop = new AbortController();
const onSignal = (): void => stop.abort();

// The reader of our output went away (`gridedge tail ... | head`): stop the command quietly, as
// Unix tools do, instead of dying on an EPIPE stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') {
    stop.abort();
    process.exit(process.exitCode ?? 0);
  }
  throw err;
});
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

let code: number;
try {
  code = await cli(process.argv.slice(2), processIo(stop.signal));
} catch (e) {
  process.stderr.write(`gridedge: unexpected error: ${(e as Error).stack ?? String(e)}\n`);
  code = 70;
}
process.exitCode = code;
process.off('SIGINT', onSignal);
process.off('SIGTERM', onSignal);
// Let pending writes drain and handles close; should something keep the loop alive, still exit.
setTimeout(() => process.exit(code), 3000).unref();
