/** A real logger (agent/core/logger.ts) whose JSON lines a test keeps and reads back. */
import { Writable } from 'node:stream';
import { createLogger } from '../../agent/core/logger.js';

export function capturingLogger(level: Parameters<typeof createLogger>[0] = 'info'): { log: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { log: createLogger(level, sink), lines };
}
