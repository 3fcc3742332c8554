import t from 'tap';
import { LogLimiter } from '../../agent/core/log-limiter.js';
import { waitFor } from '../helpers/wait.js';

t.test('at most `burst` lines per key per interval; the suppressed count is reported once', async (t) => {
  const l = new LogLimiter(2, 1000);
  t.same([l.take('a', 0).ok, l.take('a', 10).ok, l.take('a', 20).ok, l.take('a', 30).ok], [true, true, false, false]);
  t.ok(l.take('b', 30).ok, 'keys are independent');
  t.same(l.take('a', 1000), { ok: true, suppressed: 2 }, 'new interval: allowed, with what the last one suppressed');
  t.same(l.take('a', 1001), { ok: true, suppressed: 0 }, 'reported only once');
});

t.test('a wall clock stepped back does not silence a key for as long as the step', async (t) => {
  const realNow = Date.now;
  t.teardown(() => void (Date.now = realNow));
  const l = new LogLimiter(1, 50);
  t.ok(l.take('k').ok, 'the first line of the interval is logged');
  t.notOk(l.take('k').ok, 'the second is suppressed');
  Date.now = () => realNow() - 3600_000; // NTP steps the wall clock an hour back
  const again = await waitFor('the key to be allowed again after its 50 ms interval', () => {
    const d = l.take('k');
    return d.ok && d;
  }, { timeoutMs: 2000 });
  t.ok(again.suppressed >= 1, 'with the suppressed count');
});
