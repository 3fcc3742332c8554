/**
 * A client of `GET /api/v1/events` that never reads (a hung browser tab, a hostile device on the
 * LAN): once its connection has taken nothing for `maxBlockedMs` it is disconnected and counted
 * (`http_sse_cut`), so such clients cannot hold every one of the streams for good; a client that
 * reads is kept. Over real sockets, with the event route on a Fastify app of its own (a 20 ms tick
 * and a 500 ms limit, so the test does not wait a minute) and devices whose values change every tick.
 */
import t from 'tap';
import { connect } from 'node:net';
import { fastify } from 'fastify';
import { registerEventRoutes } from '../../agent/http/routes/events.js';
import type { HttpDeps } from '../../agent/http/index.js';
import { Counters } from '../../agent/core/counters.js';
import { createLogger } from '../../agent/core/logger.js';
import type { Measurement } from '../../algorithms/common/measurement.js';
import { sampleStatus } from '../http/fixtures.js';
import { waitFor, withTimeout } from '../helpers/wait.js';
import { openSse } from './sse.js';

t.test('a client that takes nothing for maxBlockedMs is disconnected; one that reads stays', async (t) => {
  // 300 devices of about 4 kB each, new values at every read: about 1.2 MB a tick, enough to fill any socket buffer.
  const filler = 'x'.repeat(4000);
  let ts = Date.now() * 1000;
  const latest = (): ReadonlyMap<string, Measurement> => {
    ts += 1000;
    const m = new Map<string, Measurement>();
    for (let k = 0; k < 300; k++) m.set(`d${k}`, { device: `d${k}`, ts, quality: 'good', note: filler } as unknown as Measurement);
    return m;
  };
  const counters = new Counters();
  const deps: HttpDeps = { log: createLogger('silent'), counters, getStatus: () => sampleStatus(), latestByDevice: latest, wsPath: '/mqtt' };
  const app = fastify();
  registerEventRoutes(app, deps, { intervalMs: 20, maxBlockedMs: 500 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const port = (app.server.address() as { port: number }).port;

  // The reader: a client that reads everything (only d0, so it keeps up).
  const reader = await openSse(`http://127.0.0.1:${port}/api/v1/events?devices=d0`);
  t.teardown(() => reader.close());

  const sock = connect(port, '127.0.0.1');
  t.teardown(() => sock.destroy());
  const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  sock.write('GET /api/v1/events HTTP/1.1\r\nHost: gw\r\nAccept: text/event-stream\r\n\r\n');
  let received = 0;
  sock.on('data', (d: Buffer) => (received += d.length));
  await waitFor('the stream to start', () => received > 0, { timeoutMs: 10_000 });
  sock.pause(); // stop reading: the buffers fill, then the server's write() says wait
  t.equal(counters.get('http_sse_clients'), 2, 'two streams open');

  await waitFor('the server to disconnect the client that takes nothing', () => counters.get('http_sse_cut') === 1, { timeoutMs: 20_000 });
  t.equal(counters.get('http_sse_clients'), 1, 'one stream open: the slot is free again');
  t.ok(counters.get('http_sse_skipped') >= 1, 'its ticks were skipped while it was blocked');
  // What the kernel still holds for it is delivered, then the connection ends.
  sock.resume();
  await withTimeout(closed, 'the connection of the disconnected client to close once it reads', 20_000);
  const before = reader.events.length;
  await reader.waitFor('more events for the client that reads', (e) => e.event === 'device', before + 3);
  t.pass('the reading client still gets its events');
  t.ok(counters.catalogue()['http_sse_cut']?.help, 'http_sse_cut is in the metric catalogue');
});
