/** Client-id patterns (client-ids.ts): matching, the overlap check, and the session table's rules. */
import t from 'tap';
import { ClientIdPattern, ClientIdTable, commonClientId } from '../../agent/broker/client-ids.js';

t.test('a pattern is an exact id or has * wildcards matching any run of characters, the empty one too', async (t) => {
  const cases: [string, string, boolean][] = [
    ['pmu-1', 'pmu-1', true],
    ['pmu-1', 'pmu-10', false],
    ['pmu-*', 'pmu-', true],
    ['pmu-*', 'pmu-12/a b', true],
    ['pmu-*', 'PMU-1', false],
    ['pmu-*', 'xpmu-1', false],
    ['*-main', 'scada-main', true],
    ['*-main', 'scada-main-2', false],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'a-b-b-c', true],
    ['a*b*c', 'acb', false],
    ['a*bc*bc', 'abcbc', true],
    ['a*bc*bc', 'abc', false],
    ['ab*ba', 'aba', false],
    ['a?+#[', 'a?+#[', true],
    ['a?', 'ab', false],
  ];
  for (const [p, id, want] of cases) t.equal(new ClientIdPattern(p).matches(id), want, `${p} ~ ${id}`);
});

t.test('commonClientId finds an id both patterns match, or none; checked against brute force', async (t) => {
  t.equal(commonClientId('pmu-*', '*-7'), 'pmu-7');
  t.equal(commonClientId('pmu-*', 'meter-*'), null);
  t.equal(commonClientId('a*', '*b'), 'ab');
  t.equal(commonClientId('x', 'x'), 'x');
  // Every pair of short patterns over {a, b, *}: an answer must match both; none only if no id up to 6 characters does.
  const alphabet = ['a', 'b', '*'];
  const patterns: string[] = [];
  const grow = (s: string): void => {
    if (s.length > 0) patterns.push(s);
    if (s.length < 3) for (const c of alphabet) grow(s + c);
  };
  grow('');
  const ids: string[] = [''];
  for (let k = 0; ids[ids.length - 1]!.length < 6; k++) for (const c of ['a', 'b']) ids.push(ids[k] + c);
  let checked = 0;
  for (const p of patterns)
    for (const q of patterns) {
      const a = new ClientIdPattern(p);
      const b = new ClientIdPattern(q);
      const got = commonClientId(p, q);
      const exists = ids.some((id) => a.matches(id) && b.matches(id));
      if (got === null) {
        if (exists) t.fail(`${p} / ${q}: said none, but one exists`);
      } else if (!a.matches(got) || !b.matches(got)) t.fail(`${p} / ${q}: "${got}" does not match both`);
      checked++;
    }
  t.equal(checked, patterns.length ** 2);
});

t.test('the session table: refusals change nothing, and closing keeps no reference to an offline session\'s connection', async (t) => {
  const counts: [number, number][] = [];
  const table = new ClientIdTable<object>([{ owner: 'user:pmu', clientIds: ['pmu-*'], maxSessions: 1 }], 2, (n, offline) => counts.push([n, offline]));
  const c1 = {};
  t.same(table.claim('pmu-1', 'user:pmu', false, c1), { ok: true, evicted: null });
  t.match(table.claim('pmu-2', 'user:pmu', false, {}), { ok: false, reason: 'too_many_sessions' }, 'user bound');
  t.match(table.claim('pmu-1', 'user:x', false, {}), { ok: false, reason: 'client_id_not_allowed' });
  t.equal(table.persistent, 1);
  table.closed('pmu-1', c1);
  t.equal(table.offline, 1, 'its connection closed: offline');
  t.same(table.claim('pmu-1', 'user:pmu', false, {}), { ok: true, evicted: null }, 'resumes at its bound');
  t.equal(table.offline, 0, 'resumed: online');
  t.same(table.claim('free', 'user:x', false, {}), { ok: true, evicted: null });
  t.match(table.claim('free-2', 'user:y', false, {}), { ok: false, reason: 'too_many_sessions' }, 'global bound');
  const c2 = {};
  t.same(table.claim('free-2', 'user:y', true, c2), { ok: true, evicted: null }, 'clean sessions are not bounded');
  table.closed('free-2', c2);
  t.same(table.claim('free-2', 'user:z', true, {}), { ok: true, evicted: null }, 'a clean session\'s id is free once it closed');
  t.same(counts, [[1, 0], [1, 1], [0, 0], [1, 0], [2, 0]], '(persistent, offline) at each change; a resume counts out and in');
});

t.test('new rules apply to the next claims; sessions that exist stay, also past a lowered bound or outside new patterns', async (t) => {
  const table = new ClientIdTable<object>([], 10);
  const a = {};
  t.same(table.claim('a', 'user:x', false, a), { ok: true, evicted: null });
  t.same(table.claim('b', 'user:x', false, {}), { ok: true, evicted: null });
  table.closed('a', a);
  table.setRules([{ owner: 'user:x', clientIds: ['x-*'] }], 1);
  t.equal(table.persistent, 2, 'both sessions kept');
  t.match(table.claim('c', 'user:y', false, {}), { ok: false, reason: 'too_many_sessions' }, 'no new one past the lowered bound');
  t.match(table.claim('a', 'user:x', false, {}), { ok: false, reason: 'client_id_not_allowed' }, 'its owner, now outside its patterns, cannot resume it');
  t.match(table.claim('a', 'user:y', false, {}), { ok: false, reason: 'client_id_taken' }, 'nor can anyone else take it');
  const live = {};
  t.same(table.claim('x-1', 'user:x', true, live), { ok: true, evicted: null });
  table.setRules([{ owner: 'user:z', clientIds: ['x-*'] }], 10);
  t.same(table.claim('x-1', 'user:z', false, {}), { ok: true, evicted: { owner: 'user:x', live } }, 'the new owner takes the live session over');
});
