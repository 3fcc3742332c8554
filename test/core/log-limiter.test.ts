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

t.test('a flood of ever new keys: memory stays at maxKeys and the log at totalBurst lines an interval', async (t) => {
  // The broker's refusals are keyed by client id: a LAN device trying ever new ids must neither grow
  // the limiter without bound (each key kept a minute, 120 000 keys at 2 000 attempts/s) nor write
  // a journal line per attempt.
  const l = new LogLimiter(1, 60_000, { maxKeys: 100, totalBurst: 10 });
  let logged = 0;
  for (let k = 0; k < 5000; k++) if (l.take(`client-${k}`, k).ok) logged++;
  t.equal(l.size, 100, 'at most maxKeys keys are remembered while every one is in its interval');
  t.equal(logged, 10, 'totalBurst lines in the interval, over all keys together');
  const next = l.take('client-new', 60_000);
  t.same(next, { ok: true, suppressed: 4990 }, 'the next interval\'s first line reports every line held back');
  t.same(l.take('client-other', 60_001), { ok: true, suppressed: 0 }, 'reported once');
});

t.test('expired keys are forgotten first; a forgotten key\'s suppressed count is still reported', async (t) => {
  const l = new LogLimiter(1, 1000, { maxKeys: 3, totalBurst: 100 });
  t.ok(l.take('a', 0).ok);
  t.notOk(l.take('a', 1).ok, 'a: second line suppressed');
  t.ok(l.take('b', 500).ok);
  t.ok(l.take('c', 600).ok);
  // At the bound; 'a' expired at 1000: it goes, 'b' and 'c' (still in their interval) stay.
  t.same(l.take('d', 1200), { ok: true, suppressed: 1 }, "a's suppressed line is reported with the next line allowed");
  t.equal(l.size, 3, 'still at the bound');
  t.notOk(l.take('b', 1300).ok, 'b was kept: its interval still runs, its second line is suppressed');
  t.notOk(l.take('c', 1300).ok, 'c was kept too');
});

t.test('a key renewed for a new interval moves to the back (the oldest interval is forgotten first)', async (t) => {
  const l = new LogLimiter(1, 1000, { maxKeys: 2, totalBurst: 100 });
  t.ok(l.take('a', 0).ok);
  t.ok(l.take('b', 10).ok);
  t.ok(l.take('a', 1005).ok, 'a: new interval');
  // Live keys a (1005) and b (10, expired at 1010 but not yet): at the bound, the oldest interval (b) goes.
  t.ok(l.take('c', 1006).ok);
  t.notOk(l.take('a', 1007).ok, 'a was kept (its interval is the newer)');
  t.ok(l.take('b', 1008).ok, 'b was forgotten: its next line is allowed again');
});
