/**
 * mqtt.maxSubscriptionsPerClient: a new filter past the bound gets SUBACK 0x80 and is counted
 * (broker_refused{reason="too_many_subscriptions"}); the filters within it are granted, also when
 * one SUBSCRIBE carries more filters than fit; a filter the client already has is only updated; an
 * UNSUBSCRIBE frees its place; a resumed session's filters and a SUBSCRIBE that failed are counted
 * exactly; a persistent session stores only the filters granted. Real broker, mqtt.js and raw clients.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { startBroker } from './helpers.js';
import { capturingLogger } from '../helpers/capturing-logger.js';
import { RawClient, connack, connectPacket, generate, within } from './raw-client.js';

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

t.test('subscriptions restored with a persistent session are counted once, and an UNSUBSCRIBE of one frees its place', async (t) => {
  // Aedes authorises each stored filter again when a session is resumed (but reports no 'subscribe'
  // event for them): the bound counted them as pending for the whole connection, so a restored
  // filter unsubscribed afterwards still took its place.
  const tb = await startBroker({ allowAnonymous: true, maxSubscriptionsPerClient: 2 });
  t.teardown(() => tb.broker.close());
  const first = await mqtt.connectAsync(tb.url, { reconnectPeriod: 0, clientId: 'keeper', clean: false });
  t.same(await codes(first, ['a/1', 'a/2'], 1), [1, 1], 'two filters granted');
  await first.endAsync();

  const again = await mqtt.connectAsync(tb.url, { reconnectPeriod: 0, clientId: 'keeper', clean: false });
  t.teardown(() => again.end(true));
  t.same(await codes(again, 'b/1', 1), [128], 'resumed with both filters: a third is refused');
  await again.unsubscribeAsync('a/1');
  t.same(await codes(again, 'b/1', 1), [1], 'after the UNSUBSCRIBE of a restored filter its place is free');
  t.same(await codes(again, 'b/2', 1), [128], 'and the bound holds again');
});

t.test('a SUBSCRIBE that fails in Aedes leaves no place taken', async (t) => {
  const tb = await startBroker({ allowAnonymous: true, maxSubscriptionsPerClient: 2 });
  t.teardown(() => tb.broker.close());

  // A filter with a NUL after two good ones: Aedes ends the whole SUBSCRIBE with an error and closes
  // the connection, after the two were authorised (and counted) but before any was added.
  const raw = await RawClient.open(tb.port);
  t.teardown(() => raw.destroy());
  raw.send(connectPacket({ clientId: 'failing', clean: false }));
  t.equal((await connack(raw)).returnCode, 0, 'connected');
  raw.send(generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/1', qos: 1 }, { topic: 'a/2', qos: 1 }, { topic: 'bad\u0000', qos: 1 }] }));
  await raw.waitClosed(10_000, 'the broker to close the connection after a filter with NUL');
  t.equal(tb.counters.get('broker_refused', { reason: 'bad_topic' }), 1, 'the bad filter is counted');

  // The same client id resumes its session: whatever Aedes stored of the failed SUBSCRIBE, the
  // bound counts what the session holds, and the client can use both places.
  const c = await within(mqtt.connectAsync(tb.url, { reconnectPeriod: 0, clientId: 'failing', clean: false }), 10_000, 'the session to resume (a CONNACK)');
  t.teardown(() => c.end(true));
  // Aedes stored the whole packet with each good filter, the bad one too; resumed, the bad filter
  // closed the connection again, at every reconnect, until the session was ended.
  const stored = (await tb.broker.sessions()).find((s) => s.clientId === 'failing')?.subscriptions;
  t.equal(stored, 2, 'the session holds the two good filters, not the bad one');
  t.same(await codes(c, ['a/1', 'a/2'], 1), [1, 1], 'both filters granted');
  t.same(await codes(c, 'b/1', 1), [128], 'a third is refused');

  // A client that closes its socket right after its SUBSCRIBE (before the SUBACK): a new connection
  // under another id starts from none, and the broker's gauge counts only what was added.
  const quitter = await RawClient.open(tb.port);
  t.teardown(() => quitter.destroy());
  quitter.send(connectPacket({ clientId: 'quitter', clean: false }));
  t.equal((await connack(quitter)).returnCode, 0, 'connected');
  quitter.send(generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'q/1', qos: 1 }, { topic: 'q/2', qos: 1 }] }));
  quitter.destroy();
  await quitter.waitClosed(10_000, 'the quitter\'s socket to close');
  const back = await mqtt.connectAsync(tb.url, { reconnectPeriod: 0, clientId: 'quitter', clean: false });
  t.teardown(() => back.end(true));
  t.same(await codes(back, ['q/1', 'q/2'], 1), [1, 1], 'the quitter resumes and has both places');
  t.same(await codes(back, 'q/3', 1), [128], 'and no more');
});

t.test('a filter refused by the bound is not stored with a persistent session: nothing is queued for it offline', async (t) => {
  const tb = await startBroker({ allowAnonymous: true, maxSubscriptionsPerClient: 1 });
  t.teardown(() => tb.broker.close());
  const sub = await mqtt.connectAsync(tb.url, { reconnectPeriod: 0, clientId: 'offline-sub', clean: false });
  t.same(await codes(sub, ['a/1', 'a/2'], 1), [1, 128], 'the second filter is refused');
  await sub.endAsync();
  t.equal((await tb.broker.sessions()).find((s) => s.clientId === 'offline-sub')?.subscriptions, 1, 'one filter stored');

  const pub = await mqtt.connectAsync(tb.url, { reconnectPeriod: 0, clientId: 'offline-pub' });
  t.teardown(() => pub.end(true));
  await pub.publishAsync('a/2', 'refused filter', { qos: 1 });
  await pub.publishAsync('a/1', 'granted filter', { qos: 1 });

  // Resumed, the session gets what was queued in publish order: a/2's message would come first.
  const back = mqtt.connect(tb.url, { reconnectPeriod: 0, clientId: 'offline-sub', clean: false });
  t.teardown(() => back.end(true));
  const got = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out after 10 s waiting for the queued message')), 10_000);
    back.once('message', (topic) => {
      clearTimeout(timer);
      resolve(topic);
    });
  });
  t.equal(got, 'a/1', 'the first message delivered is the one of the granted filter');
});
