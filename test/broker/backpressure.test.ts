/**
 * Backpressure from a slow store: a client that streams QoS 1 publishes without waiting for PUBACKs
 * while no commit completes makes the broker stop reading its connection, instead of taking every
 * publish into memory. The bound: 256 publishes held per client (MAX_HELD_PER_CLIENT) plus the
 * packets of the one chunk Aedes is parsing (at most the stream's 256 KiB high-water mark plus one
 * socket read); the rest waits in the kernel's socket buffers and then in the client. Once commits
 * complete, every publish is handed over and acknowledged, in order.
 */
import t from 'tap';
import { connectPacket, connack, publishPacket, RawClient, within } from './raw-client.js';
import { startBroker } from './helpers.js';

const PUBLISHES = 20_000;
const PAYLOAD = Buffer.alloc(1000, 0x20);

t.test('a store that holds every commit stops the broker reading; nothing is lost once it commits', async (t) => {
  const tb = await startBroker();
  t.teardown(() => tb.broker.close());
  tb.raw.mode = 'hold';
  const c = await RawClient.open(tb.port);
  t.teardown(() => c.destroy());
  c.send(connectPacket({ clientId: 'fast-field-device' }));
  t.equal((await connack(c)).returnCode, 0);
  const packetBytes = publishPacket('bal/raw/d1', PAYLOAD, 1, 1).length;
  // 20 MB, far more than the loopback socket buffers hold: without backpressure all of it would be taken in.
  for (let k = 0; k < PUBLISHES; k++) c.send(publishPacket('bal/raw/d1', PAYLOAD, 1, k + 1));

  await within(tb.raw.waitFor(() => tb.raw.calls.length >= 256), 30_000, '256 publishes handed to the store');
  // Let the broker run many turns: a broker still reading this client would hand over more and more.
  const probe = await RawClient.open(tb.port);
  t.teardown(() => probe.destroy());
  probe.send(connectPacket({ clientId: 'probe' }));
  await connack(probe);
  for (let k = 0; k < 50; k++) {
    const n = probe.packets.length;
    probe.send(Buffer.from([0xc0, 0x00])); // PINGREQ
    await within(
      new Promise<void>((resolve) => {
        const check = (): void => (probe.packets.length > n ? resolve() : void setImmediate(check));
        check();
      }),
      10_000,
      `PINGRESP #${k + 1}`,
    );
  }
  const taken = tb.raw.calls.length;
  const chunkPackets = Math.ceil((256 * 1024 + 64 * 1024) / packetBytes);
  t.ok(taken <= 256 + chunkPackets, `publishes taken in while no commit completes: ${taken} <= 256 held + ${chunkPackets} in one chunk`);
  t.ok(taken < PUBLISHES / 10, `the rest (${PUBLISHES - taken}) waits outside the broker`);
  t.equal(c.packets.filter((p) => p.cmd === 'puback').length, 0, 'nothing acknowledged before its commit');

  // Commits complete again: everything is handed over and acknowledged, in order.
  tb.raw.mode = 'resolve';
  for (const d of tb.raw.held) d.resolve();
  await within(
    new Promise<void>((resolve) => {
      const check = (): void => (c.packets.filter((p) => p.cmd === 'puback').length >= PUBLISHES ? resolve() : void setTimeout(check, 20));
      check();
    }),
    60_000,
    `${PUBLISHES} PUBACKs`,
  );
  t.equal(tb.raw.calls.length, PUBLISHES, 'every publish reached the store once');
  const ids = c.packets.filter((p) => p.cmd === 'puback').map((p) => (p as { messageId: number }).messageId);
  t.same(ids.slice(0, 5), [1, 2, 3, 4, 5]);
  t.ok(ids.every((id, k) => id === k + 1), 'PUBACKs in publish order');
});
