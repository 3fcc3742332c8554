/**
 * One stop deadline: SIGTERM while the upstream link hangs (the peer accepted the MQTT connection
 * but never acknowledges a publish) still stops the real agent cleanly within its budget — exit 0,
 * the buffer closed — and nothing the agent acknowledged is lost: after a restart against a working
 * upstream (Debian's mosquitto) every message arrives.
 */
import { createServer, type Server, type Socket } from 'node:net';
import t from 'tap';
import mqtt from 'mqtt';
import { startAgent, tempDir } from '../helpers/agent-process.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { collect, until } from '../forwarders/harness.js';

/**
 * An MQTT peer that answers CONNECT with a CONNACK (MQTT 3.1.1 §3.2 or 5.0 §3.2, by the protocol
 * level the client sent) and then ignores everything: PUBACKs never come.
 */
function hangingUpstream(): Promise<{ server: Server; port: number; connections: () => number }> {
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

const raw = (k: number): string => JSON.stringify({ ts: 1764000000000000 + k * 20_000, k, freq: 50, p: { total: k } });

t.test('SIGTERM with a hanging upstream: exit 0 within the budget, buffer closed, nothing accepted lost', async (t) => {
  const hang = await hangingUpstream();
  t.teardown(() => new Promise<void>((r) => hang.server.close(() => r())));
  const dir = tempDir('gridedge-deadline-');
  const forwarder = (url: string) => ({
    forwarders: [{ type: 'mqtt', id: 'central', url, map: [{ from: 'bal/processed/#', to: 'legacy/#' }], reconnectMinMs: 100, reconnectMaxMs: 300 }],
    stats: { enabled: false },
    log: { level: 'debug' },
  });
  const agent1 = await startAgent({ dir, config: forwarder(`mqtt://127.0.0.1:${hang.port}`) });
  t.teardown(() => agent1.stop('SIGKILL'));
  await until(() => hang.connections() > 0, 'the forwarder connected to the hanging upstream', 15_000);

  const pub = await mqtt.connectAsync(agent1.mqttUrl, { clientId: 'deadline-pub', reconnectPeriod: 0 });
  pub.on('error', () => undefined);
  const N = 200;
  await Promise.all(Array.from({ length: N }, (_, k) => pub.publishAsync('bal/raw/dl1', raw(k), { qos: 1 })));
  pub.end(true);
  // Every PUBACK is in, so every message is committed; the forwarder's sends hang unacknowledged.

  const t0 = Date.now();
  const exit = await agent1.stop('SIGTERM');
  const tookMs = Date.now() - t0;
  t.equal(exit.code, 0, `clean exit (took ${tookMs} ms)`);
  t.ok(tookMs < 5000, `within the 4.5 s stop budget plus process exit (${tookMs} ms)`);
  const stopped = agent1.logs.find((l) => l.msg === 'gridedge stopped');
  if (exit.code !== 0) t.comment(agent1.logs.slice(-12).map((l) => JSON.stringify(l)).join('\n'));
  t.equal(stopped?.['code'], 0, 'the agent logged a clean stop');
  t.notOk(agent1.logs.some((l) => l.msg === 'clean stop took too long; exiting'), 'the forced exit did not fire');

  const m = await startMosquitto();
  t.teardown(() => m.stop());
  const sub = await collect(m.url, 'legacy/dl1');
  t.teardown(() => sub.close());
  const agent2 = await startAgent({ dir, config: forwarder(m.url) });
  t.teardown(() => agent2.stop('SIGKILL'));
  await until(() => new Set((sub.json() as { k: number }[]).map((x) => x.k)).size >= N, `all ${N} messages upstream after the restart`, 60_000);
  const ks = [...new Set((sub.json() as { k: number }[]).map((x) => x.k))].sort((a, b) => a - b);
  t.same(ks, Array.from({ length: N }, (_, k) => k), 'every acknowledged message arrived');
});
