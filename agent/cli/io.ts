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

/**
 * The first line of `stream` (a password on standard input: neither in the shell history nor in the
 * process list); reading stops at the first newline or after 4 096 characters.
 */
export async function firstLine(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) {
    text += String(chunk);
    if (text.includes('\n') || text.length > 4096) break;
  }
  return text.split(/\r?\n/)[0] ?? '';
}
