// A test file for test/helpers/runner.test.ts: one failing and one passing assertion.
import t from 'tap';

t.test('fails', async (t) => {
  t.equal(1 + 1, 3, 'a deliberate failure');
  t.pass('the other one passes');
});
