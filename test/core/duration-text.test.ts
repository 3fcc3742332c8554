/** The one duration formatter (CLI and page): carries move up a unit, never "3 min 60 s". */
import t from 'tap';
import { formatDuration } from '../../agent/core/duration-text.js';
import { duration } from '../../agent/cli/format.js';
import { fmtDuration } from '../../agent/http/page/format.js';

t.test('units, rounding and carries', async (t) => {
  const cases: [number, string][] = [
    [0, '0 s'],
    [0.04, '0 s'],
    [0.4, '0.4 s'],
    [9.94, '9.9 s'],
    [9.96, '10 s'],
    [12.4, '12 s'],
    [59.4, '59 s'],
    [59.6, '1 min'],
    [60, '1 min'],
    [192, '3 min 12 s'],
    [239.4, '3 min 59 s'],
    [239.6, '4 min'],
    [3599.4, '59 min 59 s'],
    [3599.7, '1 h'],
    [7980, '2 h 13 min'],
    [86369, '23 h 59 min'],
    [86399, '1 d'],
    [3 * 86400 + 4 * 3600, '3 d 4 h'],
    [3 * 86400 + 23.6 * 3600, '4 d'],
    [-5, '0 s'],
    [Number.NaN, '?'],
  ];
  for (const [s, want] of cases) t.equal(formatDuration(s), want, `${s} s`);
});

t.test('the CLI and the page use it', async (t) => {
  t.equal(duration(239.6), '4 min');
  t.equal(fmtDuration(239.6), '4 min');
  t.equal(fmtDuration('x'), '—', 'the page shows a dash for a missing value');
});
