import t from 'tap';
import { fillTemplate, filterError, mapTopic, matchFilter } from '../agent/core/topics.js';

t.test('matchFilter follows MQTT 3.1.1 §4.7 wildcard rules', async (t) => {
  t.same(matchFilter('bal/processed/#', 'bal/processed/pmu1'), ['pmu1']);
  t.same(matchFilter('bal/processed/#', 'bal/processed/pmu1/stats/10s'), ['pmu1/stats/10s']);
  t.same(matchFilter('bal/#', 'bal'), ['']);
  t.same(matchFilter('bal/+/x', 'bal/raw/x'), ['raw']);
  t.equal(matchFilter('bal/+/x', 'bal/raw/y'), null);
  t.equal(matchFilter('bal/+', 'bal/raw/y'), null);
  t.equal(matchFilter('bal/raw', 'bal'), null);
});

t.test('topic map replaces wildcards in order (the forwarders map)', async (t) => {
  const map = [
    { from: 'bal/processed/+/stats/#', to: 'legacy/stats/+/#' },
    { from: 'bal/processed/#', to: 'legacy/#' },
  ];
  t.equal(mapTopic(map, 'bal/processed/pmu1'), 'legacy/pmu1');
  t.equal(mapTopic(map, 'bal/processed/pmu1/stats/10s'), 'legacy/stats/pmu1/10s');
  t.equal(mapTopic(map, 'bal/raw/pmu1'), null);
  t.equal(fillTemplate('x/#', ['']), 'x');
});

t.test('filterError names what is wrong', async (t) => {
  t.equal(filterError('a/#'), null);
  t.match(filterError('a/#/b'), /#/);
  t.match(filterError('a/b+'), /\+/);
  t.match(filterError(''), /empty/);
});
