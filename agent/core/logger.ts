/** Structured logs: JSON lines on stdout (journald keeps them), one logger per agent, children per plugin. */
import { pino, type Logger, type DestinationStream } from 'pino';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export function createLogger(level: LogLevel, dest?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { name: 'gridedge' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    dest ?? pino.destination({ dest: 1, sync: false }),
  );
}
