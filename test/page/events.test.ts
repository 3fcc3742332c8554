/**
 * `GET /api/v1/events` of the real agent, read with plain fetch: the stream opens with `hello` and
 * every known device, then sends each device at most once a second however fast it measures (a
 * 50 Hz simulated PMU); with `http.users` it needs a session like the rest of the API; at most 32
 * streams are open at once (the next is refused with a 503 problem and counted); a client that goes
 * away is removed (the open-streams gauge comes back down); a client that stops reading is skipped
 * (counted) until its socket drains, then gets events again; a tick larger than the socket's buffer
 * (120 devices) is not sent again when the socket drains; a client that accepts gzip gets the stream
 * gzipped, each tick flushed at once, in well under half the bytes.
 */
import t from 'tap';
import { getJson, startAgent } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/wait.js';
import { openSse, type SseStream } from './sse.js';

t.setTimeout(180_000);

interface DeviceEvent {
  device: string;
  ageSeconds: number;
  latest: { device: string; ts: number; quality: string; p?: { total?: number } };
}

const counters = async (base: string, headers: Record<string, string> = {}) => {
  const r = await fetch(`${base}/api/v1/counters`, { headers });
  return ((await r.json()) as { counters: Record<string, number | Record<string, number>>; metrics: Record<string, { help: string }> });
};

t.test('events arrive, one per device per second at most, and streams are bounded and cleaned up', async (t) => {
  const agent = await startAgent({ config: { drivers: [{ type: 'sim-pmu', id: 'pmu1', rate: 50, count: 1 }] } });
  t.teardown(() => agent.stop('SIGKILL'));
  await waitFor('pmu1 in /api/v1/devices', async () => ((await getJson<{ total: number }>(`${agent.httpUrl}/api/v1/devices`)).total > 0 ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });

  const s = await openSse(`${agent.httpUrl}/api/v1/events`);
  t.teardown(() => s.close());
  t.equal(s.status, 200);
  t.match(s.contentType, /^text\/event-stream/);
  const hello = await s.waitFor('the hello event', (e) => e.event === 'hello');
  t.same(JSON.parse(hello[0]!.data), { intervalMs: 1000 }, 'hello names the update period');
  t.equal(s.events[0]!.event, 'hello', 'hello comes first');

  const got = await s.waitFor('5 updates of pmu1', (e) => e.event === 'device', 5, 20_000);
  const ds = got.map((e) => JSON.parse(e.data) as DeviceEvent);
  t.ok(ds.every((d) => d.device === 'pmu1' && d.latest.device === 'pmu1' && d.latest.quality === 'good'), 'each carries the device and its latest measurement');
  t.ok(ds.every((d) => typeof d.latest.p?.total === 'number'), 'processed values (p.total) included');
  t.ok(ds.every((d) => d.ageSeconds >= 0 && d.ageSeconds < 5), `ages in seconds: ${ds.map((d) => d.ageSeconds.toFixed(2)).join(', ')}`);
  // The PMU measures every 20 ms; the stream sends it once per 1 s tick (timer jitter aside).
  const gaps = ds.slice(1).map((d, k) => (d.latest.ts - ds[k]!.latest.ts) / 1e6);
  t.ok(gaps.every((g) => g >= 0.8), `measurement timestamps of consecutive updates at least 0.8 s apart (${gaps.map((g) => g.toFixed(2)).join(', ')} s), not 20 ms`);
  t.ok(gaps.every((g) => g < 3), 'and an update about every second');
  const span = (got.at(-1)!.at - got[0]!.at) / 1000;
  t.ok(got.length - 1 <= span + 1.5, `${got.length} updates over ${span.toFixed(1)} s: throttled`);

  const c = await counters(agent.httpUrl);
  t.equal(c.counters['http_sse_clients'], 1, 'one stream open (gauge)');
  t.match(c.metrics['http_sse_clients']?.help, /event streams/, 'the gauge is in the metric catalogue');
  t.match(c.metrics['http_sse_refused']?.help, /refused/, 'and so is the refusal counter');

  // 31 more fill the limit of 32; the 33rd is refused.
  const more: SseStream[] = [];
  t.teardown(() => more.forEach((m) => m.close()));
  for (let k = 0; k < 31; k++) more.push(await openSse(`${agent.httpUrl}/api/v1/events`));
  t.ok(more.every((m) => m.status === 200), '32 streams open');
  const refused = await openSse(`${agent.httpUrl}/api/v1/events`);
  t.equal(refused.status, 503, 'the 33rd is refused');
  const problem = JSON.parse(refused.body) as { status: number; detail: string };
  t.equal(problem.status, 503);
  t.match(problem.detail, /too many event streams open \(32\)/);
  const after = await counters(agent.httpUrl);
  t.same(after.counters['http_sse_refused'], { 'reason=streams': 1 }, 'the refusal is counted (reason: streams)');
  t.equal(after.counters['http_sse_clients'], 32, '32 open');

  // Clients that leave are removed: the gauge comes down and a new stream is accepted.
  for (const m of more) m.close();
  await waitFor('the open-streams gauge back to 1 after 31 clients left', async () => ((await counters(agent.httpUrl)).counters['http_sse_clients'] === 1 ? true : undefined), {
    timeoutMs: 15_000,
    intervalMs: 100,
  });
  const again = await openSse(`${agent.httpUrl}/api/v1/events`);
  t.equal(again.status, 200, 'a new stream is accepted once others left');
  again.close();
  s.close();
  await waitFor('the gauge at 0 with every client gone', async () => ((await counters(agent.httpUrl)).counters['http_sse_clients'] === 0 ? true : undefined), {
    timeoutMs: 15_000,
    intervalMs: 100,
  });

  // Stopping the agent ends open streams (it does not wait for them).
  const last = await openSse(`${agent.httpUrl}/api/v1/events`);
  await last.waitFor('hello on the last stream', (e) => e.event === 'hello');
  const stopped = await agent.stop('SIGTERM');
  t.equal(stopped.code, 0, 'SIGTERM with a stream open exits 0');
  await last.ended;
  t.pass('the stream ended when the agent stopped');
});

t.test('120 devices: a tick larger than the socket buffer is not sent again when it drains', async (t) => {
  // 120 devices a second is more than the response's 16 KiB buffer: write() says "full" every tick.
  const agent = await startAgent({ config: { drivers: [{ type: 'sim-pmu', id: 'feeder', rate: 1, count: 120 }] } });
  t.teardown(() => agent.stop('SIGKILL'));
  await waitFor('120 devices in /api/v1/devices', async () => ((await getJson<{ total: number }>(`${agent.httpUrl}/api/v1/devices`)).total === 120 ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });
  const s = await openSse(`${agent.httpUrl}/api/v1/events`);
  t.teardown(() => s.close());
  const got = await s.waitFor('5 updates of feeder-1', (e) => e.event === 'device' && (JSON.parse(e.data) as DeviceEvent).device === 'feeder-1', 5, 20_000);
  const ts = got.map((e) => (JSON.parse(e.data) as DeviceEvent).latest.ts);
  t.same([...new Set(ts)], ts, `each update of feeder-1 a new measurement (${ts.join(', ')})`);
  const span = (got.at(-1)!.at - got[0]!.at) / 1000;
  const all = s.events.filter((e) => e.event === 'device' && e.at <= got.at(-1)!.at).length;
  t.ok(all <= 120 * (span + 2), `${all} device events in the first ${span.toFixed(1)} s: about 120 a second, not more`);
});

t.test('with http.users the event stream needs a session', async (t) => {
  const agent = await startAgent({
    config: {
      drivers: [{ type: 'sim-pmu', id: 'pmu1', rate: 10, count: 1 }],
      http: { users: [{ username: 'view', password: 'view-pw', role: 'viewer' }] },
    },
  });
  t.teardown(() => agent.stop('SIGKILL'));
  const anon = await openSse(`${agent.httpUrl}/api/v1/events`);
  t.equal(anon.status, 401, 'no session: 401');
  t.match(JSON.parse(anon.body), { status: 401, title: 'Unauthorized' });
  const forged = await openSse(`${agent.httpUrl}/api/v1/events`, { cookie: 'gridedge_session=forged' });
  t.equal(forged.status, 401, 'a forged cookie: 401');

  const login = await fetch(`${agent.httpUrl}/api/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'view', password: 'view-pw' }) });
  t.equal(login.status, 200);
  const { token } = (await login.json()) as { token: string };
  const withToken = await openSse(`${agent.httpUrl}/api/v1/events`, { authorization: `Bearer ${token}` });
  t.teardown(() => withToken.close());
  t.equal(withToken.status, 200, 'a viewer token opens the stream');
  await withToken.waitFor('an update of pmu1 for the logged-in viewer', (e) => e.event === 'device' && (JSON.parse(e.data) as DeviceEvent).device === 'pmu1');
  const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
  const withCookie = await openSse(`${agent.httpUrl}/api/v1/events`, { cookie });
  t.teardown(() => withCookie.close());
  t.equal(withCookie.status, 200, 'so does the session cookie (what the page uses)');
});

t.test('a client that stops reading is skipped (counted) until it drains, then gets events again', async (t) => {
  const { connect } = await import('node:net');
  // 500 devices, each sent once a second: about 0.5 MB/s of events, enough to fill the socket buffers.
  const agent = await startAgent({ config: { drivers: [{ type: 'sim-pmu', id: 'm', rate: 1, count: 500 }], stats: { enabled: false } } });
  t.teardown(() => agent.stop('SIGKILL'));
  await waitFor('500 devices', async () => ((await getJson<{ total: number }>(`${agent.httpUrl}/api/v1/devices`)).total >= 500 ? true : undefined), { timeoutMs: 60_000, intervalMs: 250 });

  const url = new URL(agent.httpUrl);
  const sock = connect(Number(url.port), url.hostname);
  t.teardown(() => sock.destroy());
  await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  sock.write('GET /api/v1/events HTTP/1.1\r\nHost: gw\r\nAccept: text/event-stream\r\n\r\n');
  let received = 0;
  sock.on('data', (d: Buffer) => (received += d.length));
  await waitFor('the stream to start', () => received > 0, { timeoutMs: 10_000 });
  sock.pause(); // stop reading: the kernel buffers fill, then the agent's write() says wait
  const skipped = async () => {
    const c = await counters(agent.httpUrl);
    return Number(c.counters['http_sse_skipped'] ?? 0);
  };
  await waitFor('ticks skipped for the blocked client', async () => ((await skipped()) >= 3 ? true : undefined), { timeoutMs: 90_000, intervalMs: 500 });
  // Each further tick skips it again (it is not sent, so nothing queues for it in the agent).
  const s0 = await skipped();
  await waitFor('three more skipped ticks', async () => ((await skipped()) >= s0 + 3 ? true : undefined), { timeoutMs: 30_000, intervalMs: 500 });
  t.ok((await skipped()) >= s0 + 3, 'every tick while blocked is skipped and counted');

  const before = received;
  sock.resume();
  await waitFor('events flowing again after it drains', () => received > before + 500 * 500, { timeoutMs: 30_000 });
  t.pass(`the client read ${((received - before) / 1e6).toFixed(1)} MB after resuming`);
});

t.test('gzip for a client that accepts it: each tick arrives at once, in about a third of the bytes', async (t) => {
  const { request } = await import('node:http');
  const { createGunzip } = await import('node:zlib');
  const agent = await startAgent({ config: { drivers: [{ type: 'sim-pmu', id: 'feeder', rate: 10, count: 12 }] } });
  t.teardown(() => agent.stop('SIGKILL'));
  await waitFor('12 devices', async () => ((await getJson<{ total: number }>(`${agent.httpUrl}/api/v1/devices`)).total === 12 ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });

  /** The bytes on the wire and the device events read, for one stream with or without gzip. */
  const open = (gzip: boolean) =>
    new Promise<{ encoding: string | undefined; wire: () => number; events: () => number; close: () => void }>((resolve, reject) => {
      const req = request(`${agent.httpUrl}/api/v1/events`, { headers: { accept: 'text/event-stream', ...(gzip ? { 'accept-encoding': 'gzip' } : {}) } }, (res) => {
        let wire = 0;
        let events = 0;
        res.on('data', (d: Buffer) => (wire += d.length));
        const text = gzip ? res.pipe(createGunzip()) : res;
        text.on('data', (d: Buffer) => (events += (d.toString('utf8').match(/^event: device$/gm) ?? []).length));
        text.on('error', () => undefined);
        resolve({ encoding: res.headers['content-encoding'], wire: () => wire, events: () => events, close: () => req.destroy() });
      });
      req.on('error', reject); // after the answer (close() destroys it) the promise is settled already
      req.end();
    });
  const zipped = await open(true);
  t.teardown(zipped.close);
  const plain = await open(false);
  t.teardown(plain.close);
  t.equal(zipped.encoding, 'gzip', 'Content-Encoding: gzip when accepted');
  t.equal(plain.encoding, undefined, 'plain when not');
  // Each tick is flushed: the events of the first seconds arrive, not held until zlib's block fills.
  await waitFor('5 ticks of 12 devices through both streams', () => zipped.events() >= 60 && plain.events() >= 60, { timeoutMs: 30_000 });
  const perEvent = (s: typeof zipped) => s.wire() / s.events();
  t.ok(perEvent(zipped) < perEvent(plain) / 2, `${perEvent(zipped).toFixed(0)} bytes a device event gzipped, ${perEvent(plain).toFixed(0)} plain`);
});
