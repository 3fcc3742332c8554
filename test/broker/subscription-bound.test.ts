/**
 * mqtt.maxSubscriptionsPerClient: a new filter past the bound gets SUBACK 0x80 and is counted
 * (broker_refused{reason="too_many_subscriptions"}); the filters within it are granted, also when
 * one SUBSCRIBE carries more filters than fit; a filter the client already has is only updated; an
 * UNSUBSCRIBE frees its place. Real broker, mqtt.js client.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { startBroker } from './helpers.js';
import { capturingLogger } from '../helpers/capturing-logger.js';

/** The SUBACK's return codes (mqtt.js rejects a SUBACK with a failure code; its packet has them). */
function codes(c: mqtt.MqttClient, filters: string | string[], qos: 0 | 1): Promise<number[]> {
  return c.subscribeAsync(filters, { qos }).then(
    (r) => r.map((g) => g.qos),
    (e: Error & { packet?: { granted?: number[] } }) => {
      if (!e.packet?.granted) throw e;
      return e.packet.granted;
    },
  );
}

t.test('the bound on one client\'s subscriptions', async (t) => {
  const { log, lines } = capturingLogger();
  const tb = await startBroker({ allowAnonymous: true, maxSubscriptionsPerClient: 3 }, { log });
  t.teardown(() => tb.broker.close());
  const c = await mqtt.connectAsync(tb.url, { reconnectPeriod: 0, clientId: 'greedy' });
  t.teardown(() => c.end(true));

  t.same(await codes(c, ['a/1', 'a/2', 'a/3', 'a/4', 'a/5'], 1), [1, 1, 1, 128, 128], 'one SUBSCRIBE of five: three granted, two refused');
  t.equal(tb.counters.get('broker_refused', { reason: 'too_many_subscriptions' }), 2, 'both counted');
  t.match(String(lines.find((l) => l['reason'] === 'too_many_subscriptions')?.['detail'] ?? ''), /3 subscriptions, mqtt\.maxSubscriptionsPerClient is 3/, 'logged with the bound');

  t.same(await codes(c, 'a/2', 0), [0], 'at the bound, a filter the client has is updated');
  t.same(await codes(c, 'b/1', 0), [128], 'a new one is refused');
  await c.unsubscribeAsync('a/1');
  t.same(await codes(c, 'b/1', 0), [0], 'after an UNSUBSCRIBE its place is free');

  // The bound is per client: another client starts from none.
  const other = await mqtt.connectAsync(tb.url, { reconnectPeriod: 0, clientId: 'modest' });
  t.teardown(() => other.end(true));
  t.same(await codes(other, ['x/1', 'x/2'], 0), [0, 0]);
  t.equal(tb.counters.get('broker_refused', { reason: 'too_many_subscriptions' }), 3);
});
