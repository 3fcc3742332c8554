/**
 * `GET /api/v1/events` streams per remote address, over real sockets from this machine's own network
 * address (the first non-loopback IPv4 and IPv6 ones, so the server sees another machine) and from
 * loopback: one address holds `maxClientsPerAddress` at most (the next is a 429 problem naming the
 * limit, with Retry-After, counted), other machines together hold all but `loopbackReserve` of
 * `maxClients` (503), and loopback clients (the CLI, a local proxy) still get theirs when both are
 * reached. The server listens on `::` (dual stack, so IPv4 clients arrive as `::ffff:a.b.c.d`). The
 * event route is on a Fastify app of its own with small limits (2 per address, 6 in all, 2 kept), and
 * the same server with the agent's defaults (8 per address) checks those.
 */
import t, { type Test } from 'tap';
import { networkInterfaces } from 'node:os';
import { fastify } from 'fastify';
import { registerEventRoutes, type EventsOptions } from '../../agent/http/routes/events.js';
import { startHttp, type HttpDeps } from '../../agent/http/index.js';
import { addressKey, isLoopback } from '../../agent/http/address.js';
import { Counters } from '../../agent/core/counters.js';
import { createLogger } from '../../agent/core/logger.js';
import { sampleStatus } from '../http/fixtures.js';
import { waitFor } from '../helpers/wait.js';
import { openSse, type SseStream } from './sse.js';

const own = (family: 'IPv4' | 'IPv6'): string | undefined =>
  Object.values(networkInterfaces())
    .flat()
    .find((i) => i && !i.internal && i.family === family && !i.address.startsWith('fe80'))?.address;
const v4 = own('IPv4');
const v6 = own('IPv6');

const deps = (counters: Counters): HttpDeps => ({ log: createLogger('silent'), counters, getStatus: () => sampleStatus(), latestByDevice: () => new Map(), wsPath: '/mqtt' });

async function serve(t: Test, o: EventsOptions) {
  const counters = new Counters();
  const app = fastify();
  registerEventRoutes(app, deps(counters), o);
  await app.listen({ host: '::', port: 0 });
  t.teardown(() => app.close());
  return { port: (app.server.address() as { port: number }).port, counters };
}

/** Open a stream and keep it for the test. */
async function open(t: Test, url: string): Promise<SseStream & { body: string }> {
  const s = await openSse(url);
  t.teardown(() => s.close());
  if (s.status === 200) await s.waitFor(`hello on ${url}`, (e) => e.event === 'hello');
  return s;
}

t.test('address keys: IPv4 as it is, IPv6 by its /64, loopback recognised', async (t) => {
  t.equal(addressKey('192.0.2.7'), '192.0.2.7');
  t.equal(addressKey('::ffff:192.0.2.7'), '192.0.2.7', 'an IPv4-mapped address is its IPv4 address');
  t.equal(addressKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd'), '2001:db8:1:2::/64');
  t.equal(addressKey('2001:db8:1:2::1'), '2001:db8:1:2::/64', 'two addresses of one /64: one key');
  t.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
  t.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  t.equal(addressKey('::ffff:0:7f00:1'), '0:0:0:0::/64');
  for (const a of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1']) t.ok(isLoopback(a), `${a} is loopback`);
  for (const a of ['192.0.2.7', '::', '::2', '::ffff:192.0.2.7', 'fd00::1', undefined]) t.notOk(isLoopback(a), `${String(a)} is not`);
});

t.test('one remote address holds maxClientsPerAddress streams; other machines all but loopbackReserve; loopback still gets its own', { skip: v4 && v6 ? false : 'no non-loopback IPv4 and IPv6 address on this machine' }, async (t) => {
  const { port, counters } = await serve(t, { maxClients: 6, maxClientsPerAddress: 2, loopbackReserve: 2 });
  const at = (host: string) => `http://${host.includes(':') ? `[${host}]` : host}:${port}/api/v1/events`;

  const a1 = await open(t, at(v4!));
  const a2 = await open(t, at(v4!));
  t.same([a1.status, a2.status], [200, 200], `two streams from ${v4}`);
  const a3 = await open(t, at(v4!));
  t.equal(a3.status, 429, 'a third from the same address: 429');
  t.match(JSON.parse(a3.body), { status: 429, title: 'Too Many Requests', detail: `${v4} has 2 event streams open, the most one address may hold (of 6 in all); close one and try again` }, 'a problem naming the address and the limit');
  t.equal(counters.get('http_sse_refused', { reason: 'address' }), 1, 'counted as reason=address');

  const b1 = await open(t, at(v6!));
  const b2 = await open(t, at(v6!));
  t.same([b1.status, b2.status], [200, 200], `another address (${v6}) has its own two`);
  // 4 remote streams: the 6 less the 2 kept for this machine.
  const l1 = await open(t, at('127.0.0.1'));
  const l2 = await open(t, at('::1'));
  t.same([l1.status, l2.status], [200, 200], 'loopback gets the two kept for it');
  t.equal(counters.get('http_sse_clients'), 6, 'six open');
  const l3 = await open(t, at('127.0.0.1'));
  t.equal(l3.status, 503, 'all six open: loopback is refused too (503)');
  t.match(JSON.parse(l3.body), { status: 503, detail: 'too many event streams open (6); try again later' });

  // Two streams end, one from the IPv4 address and one from loopback: that address may open one again.
  l2.close();
  await l2.ended;
  a1.close();
  await a1.ended;
  await waitFor('the two streams to be removed', () => (counters.get('http_sse_clients') === 4 ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 });
  const a4 = await open(t, at(v4!));
  t.equal(a4.status, 200, `${v4} may open one again once one of its two ended`);
  const b3 = await open(t, at(v6!));
  t.equal(b3.status, 429, `${v6} is still at its two`);
  const remoteFull = await open(t, at(v4!));
  t.equal(remoteFull.status, 429, `${v4} at its two again`);
  t.equal(counters.get('http_sse_refused', { reason: 'streams' }), 1, 'the 503 counted as reason=streams');
  const l4 = await open(t, at('127.0.0.1'));
  t.equal(l4.status, 200, 'loopback takes the free place');
});

t.test('other machines together: all but loopbackReserve, a 503 naming it', { skip: v4 && v6 ? false : 'no non-loopback IPv4 and IPv6 address on this machine' }, async (t) => {
  const { port, counters } = await serve(t, { maxClients: 5, maxClientsPerAddress: 2, loopbackReserve: 2 });
  const at = (host: string) => `http://${host.includes(':') ? `[${host}]` : host}:${port}/api/v1/events`;
  const streams = [await open(t, at(v4!)), await open(t, at(v4!)), await open(t, at(v6!))];
  t.same(streams.map((s) => s.status), [200, 200, 200], 'three remote streams: the 5 less the 2 kept');
  const more = await open(t, at(v6!));
  t.equal(more.status, 503, 'a fourth remote one (its address has one): 503');
  t.match(JSON.parse(more.body), { status: 503, detail: 'too many event streams open (3 from other machines; the last 2 of 5 are kept for this one); try again later' });
  t.equal(counters.get('http_sse_refused', { reason: 'streams' }), 1);
  t.equal((await open(t, at('127.0.0.1'))).status, 200, 'loopback still gets one');
});

t.test('the agent server: 8 streams per remote address by default, then 429 with Retry-After', { skip: v4 ? false : 'no non-loopback IPv4 address on this machine' }, async (t) => {
  const counters = new Counters();
  const http = await startHttp({ host: '0.0.0.0', port: 0 }, deps(counters));
  t.teardown(() => http.close());
  const remote = `http://${v4}:${http.port}/api/v1/events`;
  const opened: number[] = [];
  for (let k = 0; k < 8; k++) opened.push((await open(t, remote)).status);
  t.same(opened, Array(8).fill(200), `8 streams from ${v4}`);
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  const ninth = await fetch(remote, { signal: ac.signal });
  t.equal(ninth.status, 429, 'the ninth: 429');
  t.equal(ninth.headers.get('retry-after'), '10', 'with Retry-After');
  t.match(ninth.headers.get('content-type'), /^application\/problem\+json/);
  t.match(await ninth.json(), { detail: `${v4} has 8 event streams open, the most one address may hold (of 32 in all); close one and try again` });
  const local = await open(t, `http://127.0.0.1:${http.port}/api/v1/events`);
  t.equal(local.status, 200, 'a loopback client (the CLI) still gets a stream');
  t.equal(counters.get('http_sse_refused', { reason: 'address' }), 1, 'counted');
});
