/**
 * A row the peer refused is counted in forward_rejected once, and never sent again, whatever else
 * failed around it. After a send that failed part-way, only the rows of that send that were neither
 * acknowledged nor refused go back to the backlog, not every row between the first and the last of
 * them (which took in refused rows, and rows of a held topic already counted as skipped).
 * A scripted peer stands in for the upstream, so that each send's outcome is exactly the one the
 * test needs (a real mosquitto gives these outcomes only now and then, under load).
 */
import t, { type Test } from 'tap';
import { ForwarderRunner } from '../../agent/forwarders/runner.js';
import { ForwardError, PartialSendError } from '../../agent/forwarders/errors.js';
import type { Forwarder, SendResult, StoredMessage } from '../../agent/core/plugin.js';
import { makeCtx, openTestBuffer, processedPayload, until, WatchedCounters } from './harness.js';

/** A peer whose answer to each send is `answer`'s; it records every seq it was sent. */
class ScriptedPeer implements Forwarder {
  readonly maxInFlight = 1;
  up = true;
  calls = 0;
  readonly sent: number[] = [];
  constructor(private readonly answer: (batch: readonly StoredMessage[], call: number, peer: ScriptedPeer) => SendResult) {}
  route = (topic: string): string => topic;
  async connect(): Promise<void> {
    this.up = true;
  }
  connected(): boolean {
    return this.up;
  }
  async send(batch: readonly StoredMessage[]): Promise<SendResult> {
    for (const r of batch) this.sent.push(r.seq);
    return this.answer(batch, this.calls++, this);
  }
  async close(): Promise<void> {
    this.up = false;
  }
}

const DENIED = 'bal/processed/denied/pmu9';
const row = (topic: string, k: number) => ({ topic, payload: processedPayload('pmu1', k) });
/** The link drops in the middle of a send. */
const lost = (peer: ScriptedPeer): ForwardError => {
  peer.up = false;
  return new ForwardError('closed', 'connection lost');
};

function start(peer: ScriptedPeer) {
  const counters = new WatchedCounters();
  const tb = openTestBuffer(counters);
  const runner = new ForwarderRunner({
    id: 'central',
    type: 'test',
    forwarder: peer,
    buffer: tb.buffer,
    options: { batchSize: 50, backlogMaxRate: 0, reconnectMinMs: 10, reconnectMaxMs: 50 },
  });
  runner.start(makeCtx('central', counters).ctx);
  return { tb, counters, runner };
}

/** The peer's answer to a send with a row of DENIED: every row refused, the topic with it (MQTT 5 PUBACK 0x87). */
function refuseDenied(batch: readonly StoredMessage[]): SendResult | null {
  if (!batch.some((r) => r.topic === DENIED)) return null;
  return { delivered: [], rejected: batch.map((r) => ({ seq: r.seq, reason: `${r.topic}: Not authorized (reason code 0x87)`, topicRefused: true })) };
}

/** A runner on `peer` whose DENIED topic is held: its first row was refused. */
async function withHeldTopic(t: Test, peer: ScriptedPeer) {
  const rig = start(peer);
  t.teardown(() => rig.tb.close());
  t.teardown(() => rig.runner.stop());
  const [first] = await rig.tb.buffer.append([row(DENIED, 0)]);
  await until(() => rig.runner.cursor === first, 'the first denied row refused', 30_000, rig.counters);
  t.same(rig.runner.status().refusedTopics, [DENIED], 'its topic is held');
  return rig;
}

/** Rows pmu1, DENIED, pmu1 appended after the topic was held: the denied one skipped and counted once, its neighbours delivered. */
async function expectSkippedOnce(t: Test, rig: ReturnType<typeof start>, peer: ScriptedPeer): Promise<void> {
  const { tb, counters, runner } = rig;
  const seqs = await tb.buffer.append([row('bal/processed/pmu1', 1), row(DENIED, 2), row('bal/processed/pmu1', 3)]);
  await until(() => runner.cursor === seqs[2], 'the cursor past the three rows', 30_000, counters);
  t.equal(counters.get('forward_rejected', { forwarder: 'central' }), 2, 'each denied row counted once');
  t.notOk(peer.sent.includes(seqs[1]!), 'the skipped row was never sent');
  t.equal(counters.get('forward_sent', { forwarder: 'central' }), 2, 'its neighbours delivered after the reconnect');
}

t.test('a row refused in a send that then failed is counted once and not sent again', async (t) => {
  const peer = new ScriptedPeer((batch, call, p) => {
    const refused = batch.filter((r) => r.topic === DENIED).map((r) => ({ seq: r.seq, reason: `${r.topic}: payload format invalid (reason code 0x99)` }));
    // First send: the peer refuses the middle row, then the link drops before the others are acknowledged.
    if (call === 0) throw new PartialSendError(lost(p), [], refused);
    return { delivered: batch.filter((r) => r.topic !== DENIED).map((r) => r.seq), rejected: refused };
  });
  const { tb, counters, runner } = start(peer);
  t.teardown(() => tb.close());
  t.teardown(() => runner.stop());

  const seqs = await tb.buffer.append([row('bal/processed/pmu1', 0), row(DENIED, 1), row('bal/processed/pmu1', 2)]);
  await until(() => runner.cursor === seqs[2], 'the cursor past the three rows', 30_000, counters);
  t.equal(counters.get('forward_rejected', { forwarder: 'central' }), 1, 'the refused row counted once');
  t.equal(peer.sent.filter((s) => s === seqs[1]).length, 1, 'and sent once');
  t.equal(counters.get('forward_sent', { forwarder: 'central' }), 2, 'the two others delivered after the reconnect');
});

t.test('a row skipped as of a refused topic is counted once, also when the send of its neighbours fails', async (t) => {
  const peer = new ScriptedPeer((batch, call, p) => {
    // The topic is refused; later the link drops once.
    const refused = refuseDenied(batch);
    if (refused) return refused;
    if (call === 1) throw lost(p);
    return { delivered: batch.map((r) => r.seq), rejected: [] };
  });
  const rig = await withHeldTopic(t, peer);
  // One commit: the denied row in the middle is skipped (the topic is held) and counted; its
  // neighbours go in one send, which fails.
  await expectSkippedOnce(t, rig, peer);
});

t.test('a row of a held topic committed while the link is down is counted once', async (t) => {
  const peer = new ScriptedPeer((batch) => refuseDenied(batch) ?? { delivered: batch.map((r) => r.seq), rejected: [] });
  const rig = await withHeldTopic(t, peer);
  peer.up = false; // the link drops; the rows below are live while it is down, then go to the backlog
  await expectSkippedOnce(t, rig, peer);
});
