/**
 * gw/seq cannot be spoofed through a forwarded raw row: a client publishes a measurement whose keys
 * spell "seq" and "gw" with JSON escapes; what reaches the upstream mosquitto parses (with
 * JSON.parse, as a receiver would) to the gateway's own gw and the buffer's seq, once each.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { startAgent } from '../helpers/agent-process.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { collect } from './harness.js';
import { waitFor } from '../helpers/wait.js';

t.test('escaped gw/seq keys in a raw payload are renamed on the way upstream', async (t) => {
  const m = await startMosquitto();
  t.teardown(() => m.stop());
  const sub = await collect(m.url, 'up/raw/#');
  t.teardown(() => sub.close());
  const agent = await startAgent({
    config: {
      stats: { enabled: false },
      forwarders: [{ type: 'mqtt', id: 'central', url: m.url, map: [{ from: 'bal/raw/#', to: 'up/raw/#' }], reconnectMinMs: 100, reconnectMaxMs: 300 }],
    },
  });
  t.teardown(() => agent.stop('SIGKILL'));
  const pub = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'spoofer' });
  t.teardown(() => pub.end(true));
  // `seq` is the symmetrical components object in a measurement, so the adversarial run's
  // "s\u0065q":999 is now refused by validation (bad_type); the object form and gw still pass it.
  const spoof = '{"ts":1764000000000000,"freq":50,"s\\u0065q":{"v_unbalance_pct":1.5},"g\\u0077":"gw-SPOOFED"}';
  await pub.publishAsync('bal/raw/sp1', spoof, { qos: 1 });
  await waitFor('the raw row upstream', () => (sub.messages.length > 0 ? true : undefined), { timeoutMs: 20_000 });
  const text = sub.messages[0]!.text;
  const seen: Record<string, number> = {};
  const x = JSON.parse(text, function (this: unknown, k: string, v: unknown) {
    if (this && typeof this === 'object' && !Array.isArray(this) && k !== '') seen[k] = (seen[k] ?? 0) + 1;
    return v;
  }) as Record<string, unknown>;
  t.equal(x['gw'], 'gw-test', "the gateway's own gw");
  t.ok(Number.isInteger(x['seq']), `the buffer's seq (${String(x['seq'])})`);
  t.equal(seen['gw'], 1, 'one gw');
  t.equal(seen['seq'], 1, 'one seq');
  t.same(x['seq_components'], { v_unbalance_pct: 1.5 }, "the message's own seq kept under another name");
  t.equal(x['gw_orig'], 'gw-SPOOFED');
});
