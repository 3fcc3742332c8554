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
    // A message that cannot be written (stderr on a full disk) must not turn into a crash that
    // changes the exit code: the code is what scripts look at.
    err: (t) => {
      try {
        process.stderr.write(t);
      } catch {
        // nowhere left to say it
      }
    },
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

/**
 * A password from standard input. On a terminal it is asked for on stderr (`prompt`) and read with
 * echo off (raw mode), so it appears neither on the screen nor in a shared or recorded session:
 * Enter ends it, Backspace and Ctrl-U edit it, Ctrl-C gives null (the caller exits 130), Ctrl-D on
 * an empty line gives ''. The terminal is put back as it was in every case. Otherwise (a pipe, a
 * file) it is the first line, as `firstLine` reads it.
 */
export async function readSecret(prompt: string, err: (text: string) => void, stdin: NodeJS.ReadStream = process.stdin): Promise<string | null> {
  if (!stdin.isTTY || typeof stdin.setRawMode !== 'function') return firstLine(stdin);
  // Echo off before the prompt shows: what is typed after it is never echoed.
  stdin.setRawMode(true);
  stdin.resume();
  err(prompt);
  return new Promise((resolve) => {
    let text = '';
    const done = (value: string | null): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      err('\n');
      resolve(value);
    };
    const onData = (chunk: Buffer | string): void => {
      for (const ch of String(chunk)) {
        if (ch === '\r' || ch === '\n') return done(text);
        if (ch === '\u0003') return done(null);
        if (ch === '\u0004') {
          if (text === '') return done('');
          continue;
        }
        if (ch === '\u007f' || ch === '\b') text = [...text].slice(0, -1).join('');
        else if (ch === '\u0015') text = '';
        else if (ch >= ' ') text += ch;
        if (text.length > 4096) return done(text);
      }
    };
    stdin.setEncoding('utf8');
    stdin.on('data', onData);
  });
}
