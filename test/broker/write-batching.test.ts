/**
 * batchWrites on a real TCP connection: what one event-loop turn writes leaves together (the
 * stream stays corked until the turn's check phase), in order and complete, and a turn that writes
 * more than 64 KiB is flushed on the way, so batching alone never fills the stream's buffer.
 */
import t, { type Test } from 'tap';
import { once } from 'node:events';
import { createServer, createConnection, type AddressInfo, type Socket } from 'node:net';
import { batchWrites } from '../../agent/broker/write-batching.js';

async function socketPair(t: Test): Promise<{ writer: Socket; reader: Socket }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const writer = createConnection((server.address() as AddressInfo).port, '127.0.0.1');
  await once(writer, 'connect');
  const [reader] = await accepted;
  t.teardown(() => {
    writer.destroy();
    reader.destroy();
    server.close();
  });
  return { writer, reader };
}

/** Resolves with everything the reader received once it has `bytes` bytes (or rejects after 10 s). */
function receive(reader: Socket, bytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`received ${n} of ${bytes} bytes within 10 s`)), 10_000);
    reader.on('data', (c: Buffer) => {
      chunks.push(c);
      n += c.length;
      if (n >= bytes) {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks));
      }
    });
  });
}

t.test('the writes of one turn stay corked until the check phase, then arrive in order', async (t) => {
  const { writer, reader } = await socketPair(t);
  batchWrites(writer);
  const parts = Array.from({ length: 200 }, (_, k) => `packet ${k};`);
  const expected = parts.join('');
  const got = receive(reader, Buffer.byteLength(expected));
  for (const p of parts) writer.write(p);
  t.ok(writer.writableCorked > 0, 'corked after the first write of the turn');
  t.equal(writer.writableLength, Buffer.byteLength(expected), 'every write of the turn is held in the stream');
  await new Promise<void>((r) => setImmediate(r));
  t.equal(writer.writableCorked, 0, 'uncorked from the check phase');
  t.equal((await got).toString(), expected, 'all bytes, in order');
});

t.test('a turn writing more than 64 KiB is flushed on the way; ordering kept', async (t) => {
  const { writer, reader } = await socketPair(t);
  batchWrites(writer);
  const chunk = Buffer.alloc(1000);
  const total = 300;
  const got = receive(reader, total * chunk.length);
  let maxHeld = 0;
  for (let k = 0; k < total; k++) {
    chunk.writeUInt32BE(k, 0);
    writer.write(Buffer.from(chunk));
    maxHeld = Math.max(maxHeld, writer.writableCorked > 0 ? writer.writableLength : 0);
  }
  t.ok(maxHeld < 64 * 1024 + chunk.length, `at most 64 KiB + one write held corked (held ${maxHeld})`);
  const data = await got;
  const order = Array.from({ length: total }, (_, k) => data.readUInt32BE(k * chunk.length));
  t.same(order, Array.from({ length: total }, (_, k) => k), 'every write arrived, in order');
});

t.test('end() flushes what a turn held; writes after destroy do not throw', async (t) => {
  const { writer, reader } = await socketPair(t);
  batchWrites(writer);
  const got = receive(reader, 5);
  writer.write('hello');
  writer.end();
  t.equal((await got).toString(), 'hello');
  await once(reader, 'end');
  writer.destroy();
  t.doesNotThrow(() => writer.write('late', () => undefined), 'a write after destroy reports through its callback');
});
