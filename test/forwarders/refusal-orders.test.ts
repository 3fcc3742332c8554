/**
 * The orders in which an upstream refusal and the end of the connection can reach the forwarder,
 * with a real mosquitto doing the refusing (MQTT 5 PUBACK 0x87 Not authorized, from its ACL) and
 * closing the link after it, as mosquitto 2.0.11 does. A small proxy between the forwarder and
 * mosquitto decides, per connection, whether the forwarder reads the refusal before the close:
 *
 * - refusal, then close: the row is counted once and its topic held;
 * - close before the refusal is read (the PUBACK lost with the connection): nothing is counted
 *   then; the row is sent again after the reconnect, refused again, and counted once;
 * - rows of several commits (several sends in flight on the link) when the first refusal is lost:
 *   each refused row counted once, each accepted row delivered.
 *
 * Every case: forward_rejected equals the number of refused rows, whatever the order.
 */
import t, { type Test } from 'tap';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { appendProcessed, mqttConfig, startMqttRunner, upstreamRig } from './mqtt-runner.js';
import { until } from './harness.js';

const ACL = 'topic write legacy/ok/#\ntopic read #\n';
const MAP = [
  { from: 'bal/processed/ok/#', to: 'legacy/ok/#' },
  { from: 'bal/processed/#', to: 'legacy/denied/#' },
];

/** What the proxy does with a refusing PUBACK (reason code >= 0x80) on a connection. */
type Mode = 'pass' | 'drop-and-close';

/**
 * A TCP proxy in front of mosquitto. The client's bytes go through as they are; the broker's are
 * parsed (MQTT 5) and written again, so a refusing PUBACK can be held back: in 'drop-and-close'
 * the proxy closes the client's connection instead of passing the refusal on.
 */
class RefusalProxy {
  connections = 0;
  /** Refusing PUBACKs the proxy passed to the forwarder / dropped. */
  passed = 0;
  dropped = 0;
  private readonly sockets = new Set<Socket>();
  private constructor(
    readonly server: Server,
    private readonly modeOf: (connection: number) => Mode,
  ) {}

  static async start(upstreamPort: number, modeOf: (connection: number) => Mode): Promise<RefusalProxy> {
    let proxy!: RefusalProxy;
    const server = createServer((client) => proxy.accept(client, upstreamPort));
    proxy = new RefusalProxy(server, modeOf);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private accept(client: Socket, upstreamPort: number): void {
    const mode = this.modeOf(++this.connections);
    const upstream = createConnection({ host: '127.0.0.1', port: upstreamPort });
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const closeBoth = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', closeBoth);
    upstream.on('close', () => client.end());
    client.on('data', (d) => upstream.write(d));
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    let cut = false;
    parser.on('packet', (p: Packet) => {
      if (cut) return;
      const refusal = p.cmd === 'puback' && (p.reasonCode ?? 0) >= 0x80;
      if (refusal && mode === 'drop-and-close') {
        this.dropped++;
        cut = true;
        closeBoth();
        return;
      }
      if (refusal) this.passed++;
      client.write(mqttPacket.generate(p, { protocolVersion: 5 }));
    });
    upstream.on('data', (d) => parser.parse(d));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** mosquitto's upstream, a proxy in front of it, a buffer and a runner sending through the proxy. */
async function rig(t: Test, modeOf: (connection: number) => Mode) {
  const { m, tb, sub } = await upstreamRig(t, 'legacy/#', { acl: ACL, debugLog: true });
  const proxy = await RefusalProxy.start(m.port, modeOf);
  t.teardown(() => proxy.close());
  const runner = startMqttRunner(tb.buffer, tb.counters, mqttConfig({ url: proxy.url, map: MAP, reconnectMinMs: 20, reconnectMaxMs: 100 }));
  t.teardown(() => runner.stop());
  /** Publishes mosquitto refused ("Denied PUBLISH" in its debug log). */
  const denied = (): number => m.log().match(/Denied PUBLISH/g)?.length ?? 0;
  return { m, tb, sub, proxy, runner, denied };
}

t.test('refusal read, then the connection closed: counted once, the topic held, not sent again', async (t) => {
  const { m, tb, sub, proxy, runner, denied } = await rig(t, () => 'pass');
  // One commit, one send: mosquitto acknowledges the first row, refuses the second and closes the
  // link (nothing unread behind it, so the refusal reaches the forwarder before the close).
  const first = await tb.buffer.append([
    { topic: 'bal/processed/ok/pmu1', payload: '{"k":0}' },
    { topic: 'bal/processed/pmu9', payload: '{"k":0}' },
  ]);
  await until(() => runner.cursor === first[1], 'the cursor past the first two rows', 30_000);
  await m.waitForLog(/Denied PUBLISH/, 'the refusal');
  t.equal(proxy.passed, 1, 'the forwarder was given the refusal');
  t.same(runner.status().refusedTopics, ['legacy/denied/pmu9'], 'the topic is held');
  // After the close: the held topic's next row is skipped (counted), the accepted one is sent.
  const second = await tb.buffer.append([
    { topic: 'bal/processed/ok/pmu1', payload: '{"k":1}' },
    { topic: 'bal/processed/pmu9', payload: '{"k":1}' },
  ]);
  await until(() => runner.cursor === second[1], 'the cursor past the last two rows', 30_000);
  await sub.waitFor(2);
  t.equal(tb.counters.get('forward_rejected', { forwarder: 'central' }), 2, 'both refused rows counted, once each');
  t.same([...new Set(sub.json().map((j) => j['seq']))], [first[0], second[0]], 'the accepted rows arrived');
  t.equal(denied(), 1, 'mosquitto was sent one denied row: the second was skipped as of its held topic');
});

t.test('connection closed before the refusal was read: the row is sent again after the reconnect and counted once', async (t) => {
  // The first connection loses the refusal; later ones pass it on.
  const { tb, sub, proxy, runner, denied } = await rig(t, (n) => (n === 1 ? 'drop-and-close' : 'pass'));
  const [d] = await appendProcessed(tb.buffer, 'bal/processed/pmu9', 0, 1);
  await until(() => runner.cursor === d, 'the cursor past the refused row', 30_000);
  await until(() => denied() >= 2, 'mosquitto to log both refusals', 30_000);
  t.equal(proxy.dropped, 1, 'the first refusal was lost with its connection');
  t.equal(proxy.passed, 1, 'the second reached the forwarder');
  t.equal(denied(), 2, 'the row was sent twice (the first refusal was never read)');
  t.equal(tb.counters.get('forward_rejected', { forwarder: 'central' }), 1, 'and counted once');
  t.ok(proxy.connections >= 2, 'after a reconnect');
  const [ok] = await appendProcessed(tb.buffer, 'bal/processed/ok/pmu1', 0, 1);
  await sub.waitFor(1);
  t.same(sub.json().map((j) => j['seq']), [ok], 'an accepted row still goes through');
});

t.test('several sends in flight when the first refusal is lost: each refused row counted once', async (t) => {
  // The first two connections lose their refusals (the rows in flight behind them too); then they pass.
  const { tb, sub, proxy, runner } = await rig(t, (n) => (n <= 2 ? 'drop-and-close' : 'pass'));
  const okSeqs: number[] = [];
  for (let k = 0; k < 3; k++) {
    okSeqs.push(...(await appendProcessed(tb.buffer, 'bal/processed/ok/pmu1', k, 2)));
    await appendProcessed(tb.buffer, 'bal/processed/pmu9', k, 2);
  }
  await until(() => runner.cursor === tb.buffer.lastSeq(), 'the cursor past every row', 30_000);
  await sub.waitFor(6);
  t.equal(tb.counters.get('forward_rejected', { forwarder: 'central' }), 6, 'six refused rows, six counted');
  t.same([...new Set(sub.json().map((j) => j['seq']))], okSeqs, 'every accepted row arrived, first arrivals in order');
  t.ok(proxy.dropped >= 1, `refusals lost with their connection: ${proxy.dropped}`);
});
