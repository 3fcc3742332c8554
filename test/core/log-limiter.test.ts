import t from 'tap';
import { LogLimiter } from '../../agent/core/log-limiter.js';

t.test('at most `burst` lines per key per interval; the suppressed count is reported once', async (t) => {
  const l = new LogLimiter(2, 1000);
  t.same([l.take('a', 0).ok, l.take('a', 10).ok, l.take('a', 20).ok, l.take('a', 30).ok], [true, true, false, false]);
  t.ok(l.take('b', 30).ok, 'keys are independent');
  t.same(l.take('a', 1000), { ok: true, suppressed: 2 }, 'new interval: allowed, with what the last one suppressed');
  t.same(l.take('a', 1001), { ok: true, suppressed: 0 }, 'reported only once');
});
