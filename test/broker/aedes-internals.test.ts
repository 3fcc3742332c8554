/**
 * Fails loudly when the installed Aedes or mqtt-packet is not the version agent/broker/aedes-internals.ts
 * was written against, or when a shape it relies on is gone. Each check below drives a real Aedes
 * instance and a real client over a socket pair, so a renamed field is caught here and not in the field.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer, createConnection, type Socket, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Aedes, type Client } from 'aedes';
import {
  PINNED,
  capPacketSize,
  countSubscriptions,
  incomingPacketStored,
  internalsProblems,
  socketNeedsDrain,
} from '../../agent/broker/aedes-internals.js';
import { repoRoot } from '../helpers/agent-process.js';
import { RawClient, connack, connectPacket, generate, until } from './raw-client.js';

const installed = (name: string): string =>
  (JSON.parse(readFileSync(join(repoRoot(), 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;

t.test('the installed aedes and mqtt-packet are the pinned versions', async (t) => {
  for (const [name, version] of Object.entries(PINNED)) {
    t.equal(installed(name), version, `${name} is ${version}: re-read agent/broker/aedes-internals.ts against the new sources before changing PINNED`);
  }
});

/** A real Aedes on a TCP listener, with the last client it handled. */
async function aedesOnSocket(): Promise<{ aedes: Aedes; port: number; clients: Client[]; close(): Promise<void> }> {
  const aedes = new Aedes();
  await aedes.listen();
  const clients: Client[] = [];
  const sockets = new Set<Socket>();
  const srv = createServer((s) => {
    sockets.add(s);
    clients.push(aedes.handle(s));
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return {
    aedes,
    port: (srv.address() as AddressInfo).port,
    clients,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => aedes.close(() => r()));
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

t.test('every internal the broker relies on is there, with the expected behaviour', async (t) => {
  const a = await aedesOnSocket();
  t.teardown(a.close);
  const c = await RawClient.open(a.port);
  t.teardown(() => c.destroy());
  c.send(connectPacket({ clientId: 'probe' }));
  t.equal((await connack(c)).returnCode, 0);
  const client = a.clients[0]!;
  t.same(internalsProblems(a.aedes, client), [], 'no shape problem');

  // aedes.clients[id].subscriptions
  c.send(generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/#', qos: 1 }, { topic: 'b', qos: 0 }] }));
  await c.next('suback');
  t.equal(countSubscriptions(a.aedes), 2, 'countSubscriptions reads aedes.clients');

  // persistence.incomingGetPacket: false before a QoS 2 publish is stored, true while it awaits PUBREL.
  const pkt = { cmd: 'publish' as const, topic: 'q2', payload: Buffer.from('x'), qos: 2 as const, dup: false, retain: false, messageId: 42 };
  t.equal(await incomingPacketStored(a.aedes, client, pkt), false);
  c.send(generate(pkt));
  await c.next('pubrec');
  t.equal(await incomingPacketStored(a.aedes, client, pkt), true, 'incomingGetPacket finds the stored QoS 2 packet');

  // client.conn.writableNeedDrain
  t.equal(socketNeedsDrain(client), false);
});

t.test('capPacketSize hooks the length parser: a packet over the cap ends the connection before its payload', async (t) => {
  const a = await aedesOnSocket();
  t.teardown(a.close);
  const sock = createConnection({ host: '127.0.0.1', port: a.port });
  t.teardown(() => sock.destroy());
  await once(sock, 'connect');
  await until(() => a.clients.length === 1, 10_000, 'the server to hand the connection to Aedes');
  let seen = 0;
  const client = a.clients[0]!;
  t.equal(capPacketSize(client, 1000, (len) => (seen = len)), true, 'the parser has the expected shape');
  const closed = once(sock, 'close');
  // CONNECT fixed header announcing 2 000 000 bytes (remaining length 0x80 0x89 0x7a), no body.
  sock.write(Buffer.from([0x10, 0x80, 0x89, 0x7a]));
  await closed;
  t.equal(seen, 2_000_000, 'the cap saw the announced length and closed the connection');
});

t.test('internalsProblems names what is missing', async (t) => {
  const fake = {} as unknown as Aedes;
  t.same(internalsProblems(fake), ['aedes.persistence.incomingGetPacket is not a function', 'aedes.clients is not an object']);
});
