/**
 * Structured logs: JSON lines on stdout (journald keeps them), one logger per agent, children per
 * plugin. When stdout is the journal's stream (systemd's JOURNAL_STREAM names it), each line starts
 * with its syslog priority `<N>`, which journald strips and stores as the entry's PRIORITY
 * (SyslogLevelPrefix=yes, the default), so `journalctl -u gridedge -p err` filters by level.
 */
import { fstatSync } from 'node:fs';
import { pino, type Logger, type DestinationStream } from 'pino';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/**
 * The syslog priority of a pino level number: fatal (60) 2 crit, error (50) 3 err, warn (40)
 * 4 warning, info (30) 6 info, debug (20) and trace (10) 7 debug.
 */
export function syslogPriority(level: number): number {
  if (level >= 60) return 2;
  if (level >= 50) return 3;
  if (level >= 40) return 4;
  if (level >= 30) return 6;
  return 7;
}

/**
 * True when file descriptor `fd` is the stream systemd connected to the journal: JOURNAL_STREAM is
 * `<device>:<inode>` of that stream, and fstat(fd) has the same device and inode (as
 * sd_journal_stream_fd(3) and systemd.exec(5) describe). A process started from a service with its
 * output redirected elsewhere inherits JOURNAL_STREAM, but its fd no longer matches.
 */
export function isJournalStream(fd: number, env: NodeJS.ProcessEnv = process.env): boolean {
  const m = /^(\d+):(\d+)$/.exec(env['JOURNAL_STREAM'] ?? '');
  if (!m) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(m[1]!) && st.ino === BigInt(m[2]!);
  } catch {
    return false;
  }
}

/** `text` with `<priority>` at the start of each of its lines. */
export function withPriority(text: string, priority: number): string {
  return text.replace(/^(?=.)/gm, `<${priority}>`);
}

type Flushable = DestinationStream & { flush?: (cb?: (err?: Error) => void) => void; flushSync?: () => void };

/**
 * A destination writing each log line to `inner` with the `<N>` prefix of its level. pino sets
 * `lastLevel` on a stream marked with the metadata symbol before each write.
 */
export function journalDestination(inner: Flushable): DestinationStream {
  const dest = {
    [Symbol.for('pino.metadata')]: true,
    lastLevel: 30,
    write(line: string): void {
      inner.write(`<${syslogPriority(dest.lastLevel)}>${line}`);
    },
    flush(cb?: (err?: Error) => void): void {
      if (inner.flush) inner.flush(cb);
      else cb?.();
    },
    flushSync(): void {
      inner.flushSync?.();
    },
  };
  return dest;
}

/**
 * The agent's logger. Without `dest`: stdout, with `<N>` priority prefixes when stdout is the
 * journal's stream (`isJournalStream(1)`). `opts.journal` forces the prefixes on or off.
 */
export function createLogger(level: LogLevel, dest?: DestinationStream, opts: { journal?: boolean } = {}): Logger {
  const out: Flushable = dest ?? pino.destination({ dest: 1, sync: false });
  const journal = opts.journal ?? (dest === undefined && isJournalStream(1));
  return pino(
    {
      level,
      base: { name: 'gridedge' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    journal ? journalDestination(out) : out,
  );
}
