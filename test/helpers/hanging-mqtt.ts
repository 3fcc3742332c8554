/** A hung upstream for stop-deadline tests: it accepts MQTT connections and never acknowledges a publish. */
import { createServer, type Server, type Socket } from 'node:net';

/**
 * An MQTT peer that answers CONNECT with a CONNACK (MQTT 3.1.1 §3.2 or 5.0 §3.2, by the protocol
 * level the client sent) and then ignores everything: PUBACKs never come.
 */
export function hangingUpstream(): Promise<{ server: Server; port: number; connections: () => number }> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    let head = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      head = Buffer.concat([head, d]);
      // Fixed header (1 byte + 1-4 bytes of length), then 00 04 "MQTT" and the protocol level.
      let k = 1;
      while (k < head.length && (head[k]! & 0x80) !== 0) k++;
      const levelAt = k + 1 + 6;
      if (head.length <= levelAt) return;
      sock.off('data', onData);
      const level = head[levelAt];
      connections++;
      sock.write(level === 5 ? Buffer.from([0x20, 0x03, 0x00, 0x00, 0x00]) : Buffer.from([0x20, 0x02, 0x00, 0x00]));
      sock.on('data', () => undefined); // publishes are read and never acknowledged
    };
    sock.on('data', onData);
  });
  server.on('close', () => {
    for (const s of sockets) s.destroy();
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve({ server, port: typeof a === 'object' && a ? a.port : 0, connections: () => connections });
    }),
  );
}

