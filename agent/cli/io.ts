import { colourWanted } from './colour.js';
/** Where a command writes and what it reads from its environment (process by default). */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
  /** Aborted on SIGINT/SIGTERM (long-running commands stop cleanly). */
  signal: AbortSignal;
  /** Whether `out` may carry colour (a TTY, see colour.ts); absent means no. */
  colour?: boolean;
}

export function processIo(signal: AbortSignal): Io {
  return {
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    env: process.env,
    signal,
    colour: colourWanted(process.stdout.isTTY === true, process.env),
  };
}
