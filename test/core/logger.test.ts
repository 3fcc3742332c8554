/** The logger's `<N>` syslog priority prefixes (for journald), in-process with a collecting destination. */
import t from 'tap';
import { createLogger, isJournalStream, syslogPriority, withPriority } from '../../agent/core/logger.js';

function collect(): { lines: string[]; write(s: string): void } {
  const lines: string[] = [];
  return { lines, write: (s: string) => void lines.push(s) };
}

t.test('journal: every level with its syslog priority; off: plain JSON', async (t) => {
  const on = collect();
  const log = createLogger('trace', on, { journal: true });
  const child = log.child({ plugin: 'x' });
  child.fatal('f');
  log.error('e');
  child.warn('w');
  log.info('i');
  child.debug('d');
  log.trace('t');
  t.same(
    on.lines.map((l) => [l.slice(0, 3), (JSON.parse(l.slice(3)) as { level: string }).level]),
    [['<2>', 'fatal'], ['<3>', 'error'], ['<4>', 'warn'], ['<6>', 'info'], ['<7>', 'debug'], ['<7>', 'trace']],
  );
  t.ok(on.lines.every((l) => l.endsWith('}\n') && l.indexOf('\n') === l.length - 1), 'one line each');

  const off = collect();
  createLogger('info', off).error({ a: 1 }, 'e');
  t.match(off.lines[0], /^\{"level":"error",/, 'a given destination has no prefix unless asked');
});

t.test('syslogPriority, withPriority, isJournalStream', async (t) => {
  t.same([60, 50, 40, 30, 20, 10].map(syslogPriority), [2, 3, 4, 6, 7, 7]);
  t.equal(withPriority('a\nb\n', 3), '<3>a\n<3>b\n');
  t.equal(withPriority('', 3), '');
  t.equal(isJournalStream(1, {}), false, 'no JOURNAL_STREAM');
  t.equal(isJournalStream(1, { JOURNAL_STREAM: 'x:y' }), false, 'malformed');
  t.equal(isJournalStream(12345, { JOURNAL_STREAM: '1:2' }), false, 'a closed fd');
});
