/**
 * Refusal warnings are rate-limited (agent/broker/refusals.ts): once per client id and reason a
 * minute, and once per user for the refusals a client can repeat under ever new ids (the client-id
 * refusals and the session bound), so cycling ids cannot flood the journal; the counter counts each.
 */
import t from 'tap';
import { Counters } from '../../agent/core/counters.js';
import { Refusals } from '../../agent/broker/refusals.js';
import type { Logger } from '../../agent/core/plugin.js';

function capture(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const keep = (_o: unknown, msg?: string): void => void lines.push(msg ?? '');
  const log = { info: keep, warn: keep, error: keep, debug: keep } as unknown as Logger;
  return { log, lines };
}

t.test('client-id refusals under ever new ids: one warning per user and reason, every one counted', async (t) => {
  const { log, lines } = capture();
  const counters = new Counters();
  const r = new Refusals(log, counters);
  for (let i = 0; i < 100; i++) r.refuse('client_id_not_allowed', { clientId: `squat-${i}`, username: 'intruder' });
  for (let i = 0; i < 100; i++) r.refuse('client_id_taken', { clientId: `dup-${i}`, username: 'intruder' });
  r.refuse('client_id_not_allowed', { clientId: 'other-1', username: 'meter' });
  t.equal(counters.get('broker_refused', { reason: 'client_id_not_allowed' }), 101, 'each refusal counted');
  t.equal(counters.get('broker_refused', { reason: 'client_id_taken' }), 100);
  t.same(
    lines,
    ['mqtt: refused (client_id_not_allowed) client "squat-0" user "intruder"', 'mqtt: refused (client_id_taken) client "dup-0" user "intruder"', 'mqtt: refused (client_id_not_allowed) client "other-1" user "meter"'],
    'one line per user and reason',
  );
});

t.test('other refusals stay limited per client id', async (t) => {
  const { log, lines } = capture();
  const r = new Refusals(log, new Counters());
  for (let i = 0; i < 3; i++) r.refuse('publish_acl', { clientId: `dev-${i}`, username: 'u', topic: 'x' });
  r.refuse('publish_acl', { clientId: 'dev-0', username: 'u', topic: 'x' });
  t.equal(lines.length, 3, 'one line for each of three clients, none for a repeat');
});

t.test('bad logins under ever new client ids: at most 100 lines a minute, every refusal counted', async (t) => {
  const { log, lines } = capture();
  const counters = new Counters();
  const r = new Refusals(log, counters, 60_000);
  for (let i = 0; i < 5000; i++) r.refuse('bad_credentials', { clientId: `guess-${i}`, username: 'admin' });
  t.equal(counters.get('broker_refused', { reason: 'bad_credentials' }), 5000, 'every refusal counted');
  t.equal(lines.length, 100, '100 lines, not 5000');
  t.equal(lines[99], 'mqtt: refused (bad_credentials) client "guess-99" user "admin"');
});
