// A test file for test/helpers/runner.test.ts: two passing assertions in a subtest.
import t from 'tap';

t.test('passes', async (t) => {
  t.pass('first');
  t.pass('second');
});
