/**
 * Topics the upstream refuses for good (MQTT 5 PUBACK 0x87, not authorized) against Debian's
 * mosquitto 2.0.11, which sends the refusal and then drops the connection: the runner remembers
 * the topic for `refusedTopicHoldS` and skips its rows, so one denied device costs one reconnect,
 * not one per row, and the allowed devices keep flowing.
 */
import t from 'tap';
import { RefusedTopics } from '../../agent/forwarders/refused-topics.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { collect, openTestBuffer, processedPayload, until, WatchedCounters } from './harness.js';
import { mqttConfig, startMqttRunner } from './mqtt-runner.js';

const config = mqttConfig;

function errorsTotal(counters: WatchedCounters): number {
  let n = 0;
  for (const reason of ['not_authorized', 'bad_credentials', 'tls', 'refused', 'unreachable', 'timeout', 'closed', 'protocol', 'config', 'error'])
    n += counters.get('forward_errors', { forwarder: 'central', reason });
  return n;
}

t.test('a denied topic costs one reconnect, then its rows are skipped while the allowed ones flow', async (t) => {
  const m = await startMosquitto({ acl: 'topic write legacy/ok/#\ntopic read #\n' });
  t.teardown(() => m.stop());
  const counters = new WatchedCounters();
  const tb = openTestBuffer(counters);
  t.teardown(() => tb.close());
  const sub = await collect(m.url, 'legacy/#');
  t.teardown(() => sub.close());
  const cfg = config({
    url: m.url,
    map: [
      { from: 'bal/processed/ok/#', to: 'legacy/ok/#' },
      { from: 'bal/processed/#', to: 'legacy/denied/#' },
    ],
  });
  const runner = startMqttRunner(tb.buffer, counters, cfg);
  t.teardown(() => runner.stop());

  const rounds = 20;
  const okSeqs: number[] = [];
  for (let k = 0; k < rounds; k++) {
    // One commit per round: an allowed row, a denied one, two allowed ones.
    const seqs = await tb.buffer.append([
      { topic: 'bal/processed/ok/pmu1', payload: processedPayload('pmu1', 3 * k) },
      { topic: 'bal/processed/pmu9', payload: processedPayload('pmu9', k) },
      { topic: 'bal/processed/ok/pmu1', payload: processedPayload('pmu1', 3 * k + 1) },
      { topic: 'bal/processed/ok/pmu1', payload: processedPayload('pmu1', 3 * k + 2) },
    ]);
    okSeqs.push(seqs[0]!, seqs[2]!, seqs[3]!);
    await until(() => runner.cursor === tb.buffer.lastSeq(), `the cursor past round ${k}`, 30_000, counters);
  }
  await sub.waitFor(okSeqs.length);
  t.same(
    [...new Set(sub.json().map((j) => j['seq']))],
    okSeqs,
    'every allowed row arrived, first arrivals in order',
  );
  t.equal(counters.get('forward_rejected', { forwarder: 'central' }), rounds, 'every denied row counted as refused');
  t.ok(errorsTotal(counters) <= 1, `one lost connection at most (the first refusal), got ${errorsTotal(counters)}`);
  t.same(runner.status().refusedTopics, ['legacy/denied/pmu9'], 'status names the refused topic');
});

t.test('RefusedTopics: a topic is remembered for the hold time, then tried again', async (t) => {
  let now = 0;
  const topics = new RefusedTopics(60_000, () => now);
  t.equal(topics.has('a'), false);
  t.equal(topics.refuse('a'), true, 'first refusal is new');
  t.equal(topics.refuse('a'), false, 'a second one while held is not');
  now = 59_999;
  t.equal(topics.has('a'), true, 'held until the hold time passed');
  now = 60_000;
  t.equal(topics.has('a'), false, 'tried again after it (the ACL may have been fixed upstream)');
  t.equal(topics.refuse('a'), true, 'refused again: held again');
  const off = new RefusedTopics(0, () => now);
  t.equal(off.refuse('a'), false, 'hold 0: nothing is remembered');
  t.equal(off.has('a'), false);
  const small = new RefusedTopics(1000, () => now, 2);
  small.refuse('x');
  small.refuse('y');
  small.refuse('z');
  t.equal(small.size, 2, 'bounded: the oldest topic is forgotten');
  t.equal(small.has('x'), false);
  t.equal(small.has('z'), true);
});
