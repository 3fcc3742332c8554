/**
 * Rows the peer refuses are all counted in forward_rejected, but the log gets at most 10 lines a
 * minute about them (a misconfigured upstream would otherwise write one line per row).
 */
import t from 'tap';
import { ForwarderRunner } from '../../agent/forwarders/runner.js';
import type { Forwarder, Logger, SendResult, StoredMessage } from '../../agent/core/plugin.js';
import { makeCtx, openTestBuffer, processedPayload, until } from './harness.js';

/** A peer that is always up and refuses every row (as an MQTT 5 PUBACK 0x99 would). */
class RefusingPeer implements Forwarder {
  readonly maxInFlight = 1;
  route = (topic: string): string => topic;
  async connect(): Promise<void> {}
  connected(): boolean {
    return true;
  }
  async send(batch: readonly StoredMessage[]): Promise<SendResult> {
    return { delivered: [], rejected: batch.map((r) => ({ seq: r.seq, reason: `${r.topic}: payload format invalid` })) };
  }
  async close(): Promise<void> {}
}

t.test('300 refused rows: all counted, at most 10 warning lines', async (t) => {
  const tb = openTestBuffer();
  t.teardown(() => tb.close());
  const warnings: string[] = [];
  const { ctx } = makeCtx('central', tb.counters);
  const log = { ...ctx.log, warn: (...args: unknown[]) => void warnings.push(String(args.at(-1))) } as unknown as Logger;
  const runner = new ForwarderRunner({ id: 'central', type: 'test', forwarder: new RefusingPeer(), buffer: tb.buffer, options: { batchSize: 50, backlogMaxRate: 0 } });
  runner.start({ ...ctx, log });
  t.teardown(() => runner.stop());
  for (let b = 0; b < 6; b++)
    await tb.buffer.append(Array.from({ length: 50 }, (_, k) => ({ topic: 'bal/processed/pmu1', payload: processedPayload('pmu1', b * 50 + k) })));
  await until(() => runner.cursor === tb.buffer.lastSeq(), 'the cursor past every refused row');
  t.equal(tb.counters.get('forward_rejected', { forwarder: 'central' }), 300, 'every refused row counted');
  const refusals = warnings.filter((w) => /refused by the peer/.test(w));
  t.equal(refusals.length, 10, `10 lines about refused rows, not 300 (got ${refusals.length})`);
  t.match(runner.status().lastError, /peer refused 50 row\(s\): bal\/processed\/pmu1: payload format invalid/);
});
