/**
 * The bound on retained messages (agent/broker/retained-bound.ts): past mqtt.maxRetained messages or
 * mqtt.maxRetainedBytes bytes, a retained publish is delivered live but not retained; replacing and
 * clearing a topic's retained message work at the bound; a replacement that does not fit drops the
 * earlier one. Real broker, mqtt.js clients.
 */
import t, { type Test } from 'tap';
import mqtt from 'mqtt';
import { startBroker, type TestBroker } from './helpers.js';
import { waitFor } from '../helpers/wait.js';
import { capturingLogger } from '../helpers/capturing-logger.js';

/**
 * The retained messages a new subscriber to `filter` gets (topic → payload). Aedes sends them from
 * a stream after the SUBACK, so: wait for the `expected` count, then subscribe to `barrier/#`, whose
 * retained message (published agent-side, outside the bound) comes after the first stream's: any
 * message beyond the expected ones would have arrived by then.
 */
async function retainedOn(tb: TestBroker, filter: string, expected: number, t: Test): Promise<Map<string, string>> {
  await tb.broker.publish('barrier/x', 'end', { qos: 0, retain: true });
  const c = await mqtt.connectAsync(tb.url, { reconnectPeriod: 0 });
  t.teardown(() => c.end(true));
  const got = new Map<string, string>();
  let barrier = false;
  c.on('message', (topic, payload, packet) => {
    if (topic === 'barrier/x') barrier = true;
    else if (packet.retain) got.set(topic, payload.toString());
  });
  await c.subscribeAsync(filter, { qos: 0 });
  await waitFor(`${expected} retained message(s) on ${filter}`, () => got.size >= expected, { detail: () => [...got.keys()].join(' ') });
  await c.subscribeAsync('barrier/#', { qos: 0 });
  await waitFor('the barrier topic\'s retained message', () => barrier);
  await c.endAsync();
  return got;
}

t.test('past maxRetained: delivered live, not retained, counted; a replacement and a clear work at the bound', async (t) => {
  const { log, lines } = capturingLogger();
  const tb = await startBroker({ allowAnonymous: true, maxRetained: 3 }, { log });
  t.teardown(() => tb.broker.close());
  const live = await mqtt.connectAsync(tb.url, { reconnectPeriod: 0 });
  t.teardown(() => live.end(true));
  const seen: string[] = [];
  live.on('message', (topic, payload) => seen.push(`${topic}=${payload.toString()}`));
  await live.subscribeAsync('site/#', { qos: 1 });

  const dev = await mqtt.connectAsync(tb.url, { reconnectPeriod: 0, clientId: 'noisy-device' });
  t.teardown(() => dev.end(true));
  for (const k of [1, 2, 3, 4]) await dev.publishAsync(`site/t${k}`, `v${k}`, { qos: 1, retain: true });
  await waitFor('the live subscriber to get all four', () => seen.length === 4, { detail: () => seen.join(' ') });
  t.same(seen, ['site/t1=v1', 'site/t2=v2', 'site/t3=v3', 'site/t4=v4'], 'the fourth is delivered live like the others');
  t.same([...(await retainedOn(tb, 'site/#', 3, t))].sort(), [['site/t1', 'v1'], ['site/t2', 'v2'], ['site/t3', 'v3']], 'only three are retained');
  t.equal(tb.counters.get('broker_retained_refused'), 1, 'counted');
  t.equal(tb.counters.get('broker_retained'), 3, 'gauge: three retained');
  t.match(String(lines.find((l) => String(l['msg']).includes('not retained'))?.['msg'] ?? ''), /"noisy-device" on "site\/t4" delivered but not retained: mqtt\.maxRetained \(3 messages\) reached/, 'logged naming client, topic and option');

  await dev.publishAsync('site/t2', 'v2b', { qos: 1, retain: true });
  await dev.publishAsync('site/t1', '', { qos: 1, retain: true });
  await dev.publishAsync('site/t5', 'v5', { qos: 1, retain: true });
  t.same(
    [...(await retainedOn(tb, 'site/#', 3, t))].sort(),
    [['site/t2', 'v2b'], ['site/t3', 'v3'], ['site/t5', 'v5']],
    'at the bound a topic is replaced; an empty retained publish clears t1 and frees its place for t5',
  );
  t.equal(tb.counters.get('broker_retained_refused'), 1, 'nothing more refused');
});

t.test('past maxRetainedBytes: a replacement that does not fit drops the earlier retained message too', async (t) => {
  // 100 bytes: topic (6 bytes) and payload counted.
  const tb = await startBroker({ allowAnonymous: true, maxRetainedBytes: 100 }, { log: capturingLogger().log });
  t.teardown(() => tb.broker.close());
  const dev = await mqtt.connectAsync(tb.url, { reconnectPeriod: 0 });
  t.teardown(() => dev.end(true));
  await dev.publishAsync('site/a', 'x'.repeat(40), { qos: 1, retain: true });
  await dev.publishAsync('site/b', 'y'.repeat(40), { qos: 1, retain: true });
  t.equal(tb.counters.get('broker_retained_bytes'), 92, 'two topics of 6 bytes, two payloads of 40');
  await dev.publishAsync('site/c', 'zzzz', { qos: 1, retain: true });
  t.equal(tb.counters.get('broker_retained_refused'), 1, 'a third topic does not fit (92 + 6 + 4 > 100)');
  await dev.publishAsync('site/a', 'w'.repeat(60), { qos: 1, retain: true });
  t.equal(tb.counters.get('broker_retained_refused'), 2, 'nor does site/a grown to 60 bytes');
  t.same([...(await retainedOn(tb, 'site/#', 1, t))], [['site/b', 'y'.repeat(40)]], 'site/a is not left at its older value: it has none');
  t.equal(tb.counters.get('broker_retained'), 1);
  t.equal(tb.counters.get('broker_retained_bytes'), 46);
});

t.test('maxRetained 0: no client can retain; the agent-side publish is not affected', async (t) => {
  const tb = await startBroker({ allowAnonymous: true, maxRetained: 0 }, { log: capturingLogger().log });
  t.teardown(() => tb.broker.close());
  const dev = await mqtt.connectAsync(tb.url, { reconnectPeriod: 0 });
  t.teardown(() => dev.end(true));
  await dev.publishAsync('site/a', 'x', { qos: 1, retain: true });
  await tb.broker.publish('gridedge/gw/status', '{"health":"healthy"}', { qos: 1, retain: true });
  t.same([...(await retainedOn(tb, 'site/#', 0, t))], [], "the client's is not retained");
  t.same([...(await retainedOn(tb, 'gridedge/#', 1, t))], [['gridedge/gw/status', '{"health":"healthy"}']], "only the agent's own retained message");
  t.equal(tb.counters.get('broker_retained_refused'), 1);
});
