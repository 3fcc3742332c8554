/**
 * loadOnce (algorithms/common/load-once.ts): concurrent callers share one load; a failed load is
 * forgotten, so the next call tries again (a module that failed to load once, e.g. for want of
 * memory, is not broken until a restart); a loaded one is never loaded again.
 */
import t from 'tap';
import { loadOnce } from '../../algorithms/common/load-once.js';

t.test('callers share one load; a failure is tried again; a success is kept', async (t) => {
  let calls = 0;
  let failNext = true;
  const load = loadOnce(async () => {
    calls++;
    await Promise.resolve();
    if (failNext) {
      failNext = false;
      throw new Error('ENOMEM while loading');
    }
    return { module: calls };
  });
  const [a, b] = await Promise.allSettled([load(), load()]);
  t.equal(calls, 1, 'two concurrent callers started one load');
  t.equal(a.status, 'rejected');
  t.equal(b.status, 'rejected', 'and both hear its failure');
  t.match((a as PromiseRejectedResult).reason, /ENOMEM/);
  const first = await load();
  t.equal(calls, 2, 'the next call after a failure loads again');
  t.same(first, { module: 2 });
  const again = await load();
  t.equal(again, first, 'a loaded module is handed out as it is');
  t.equal(calls, 2, 'and not loaded again');
});
