/**
 * The credential cache and a user table changed by a reload (the broker's applyUsers replaces the
 * entries of the shared Map): a forgotten user's cached success no longer lets it in, and a scrypt
 * check that was running against a hash replaced meanwhile fails instead of being cached.
 */
import t from 'tap';
import { AuthGate } from '../../agent/broker/auth-gate.js';
import { UserAcl } from '../../agent/broker/acl.js';
import { parseHash } from '../../agent/broker/passwords.js';
import type { BrokerUser } from '../../agent/broker/users.js';
import { Counters } from '../../agent/core/counters.js';
import { deferred, testHash } from './helpers.js';

const user = (name: string, password: string): BrokerUser => ({ username: name, hash: parseHash(testHash(password)), acl: new UserAcl(['#'], ['#']) });
const alive = (): boolean => false;

t.test('forget drops the cached success of a user', async (t) => {
  const users = new Map([['u', user('u', 'pw')]]);
  let runs = 0;
  const gate = new AuthGate(users, new Counters(), {}, Date.now, async () => (runs++, true));
  t.ok((await gate.check('a', 'u', Buffer.from('pw'), alive)).ok, 'first check');
  const second = await gate.check('a', 'u', Buffer.from('pw'), alive);
  t.ok(second.ok && second.cached, 'cached');
  gate.forget(new Set(['u']));
  const third = await gate.check('a', 'u', Buffer.from('pw'), alive);
  t.ok(third.ok && !third.cached, 'verified again after forget');
  t.equal(runs, 2, 'two scrypt runs');
});

t.test('a check running while the hash is replaced fails and is not cached', async (t) => {
  const users = new Map([['u', user('u', 'old')]]);
  const held = deferred<boolean>();
  let runs = 0;
  const gate = new AuthGate(users, new Counters(), {}, Date.now, () => {
    runs++;
    return runs === 1 ? held.promise : Promise.resolve(false);
  });
  const pending = gate.check('a', 'u', Buffer.from('old'), alive);
  users.set('u', user('u', 'new')); // the reload: a new object with a new hash
  gate.forget(new Set(['u']));
  held.resolve(true); // the old hash matched the old password
  const r = await pending;
  t.same(r, { ok: false, reason: 'bad_credentials' }, 'the old password proved against the old hash is refused');
  const again = await gate.check('a', 'u', Buffer.from('old'), alive);
  t.notOk(again.ok, 'and not cached: checked again (and refused)');
  t.equal(runs, 2, 'scrypt ran again');
});
