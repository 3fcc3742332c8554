/**
 * The same C37.118 stream given twice, found by address at the driver's start (same-stream.ts): the
 * config check compares host names as text, so `localhost` and `127.0.0.1` passed it and the one PMU
 * stream was read twice, by two streams of one driver or by two drivers. Now the start resolves the
 * names: a repeat within one driver fails its start naming both entries; a second driver on a stream
 * another driver of the same agent reads fails its start naming that driver, and starts once the
 * other has stopped. A name with several addresses is each of them; a name that cannot be resolved
 * is compared as text and warned about, and its stream still starts. Each connection attempt
 * resolves the name again: a PMU whose address changed is found at its new address, the stream's
 * hold moves with it (its old address is free for another driver), and an attempt whose name now
 * reaches a stream another driver reads is not made until that driver is gone. Real sockets (test
 * PMUs on 127.0.0.1 and 127.0.0.2) and the system resolver for `localhost`; an injected resolver
 * for the names a test cannot own or change.
 */
import t, { type Test } from 'tap';
import type { Measurement } from '../../algorithms/common/measurement.js';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { Counters } from '../../agent/core/counters.js';
import { c37118Driver, C37118Driver, type C37118Config } from '../../drivers/c37118/index.js';
import { canonicalAddress, repeatedStreams, resolveStream, type Lookup } from '../../drivers/c37118/same-stream.js';
import { withDefaults } from '../helpers/plugin-config.js';
import { waitFor } from '../helpers/wait.js';
import { ctxFor } from '../conformance/suites.js';
import { PmuServer, threePhase } from './pmu-server.js';

const config = (entry: Record<string, unknown>): C37118Config =>
  withDefaults(c37118Driver, { type: 'c37118', config: 'cfg2', reconnectMinMs: 50, ...entry });

/** A resolver that knows a few names; any other fails as getaddrinfo does. */
const fakeDns = (names: Record<string, string[]>): Lookup => async (host) => {
  const a = names[host];
  if (!a) throw new Error(`getaddrinfo ENOTFOUND ${host}`);
  return a;
};

t.test('addresses are compared in one spelling; several addresses, unresolved names, timeouts', async (t) => {
  t.equal(canonicalAddress('0:0:0:0:0:0:0:1'), '::1', 'IPv6 compressed');
  t.equal(canonicalAddress('::FFFF:127.0.0.1'), '127.0.0.1', 'IPv4-mapped IPv6 as IPv4');
  t.equal(canonicalAddress('10.0.0.7'), '10.0.0.7');
  const dns = fakeDns({ 'pmu-a.sub': ['10.0.0.7', '10.0.0.8'], 'pmu-b.sub': ['10.0.0.8'], 'pmu-c.sub': ['10.0.0.9'] });
  const r = (where: string, host: string, port = 4712, idcode = 7) => resolveStream({ where, host, port, idcode }, dns, 1000);
  t.same(
    repeatedStreams([await r('the main stream', 'pmu-a.sub'), await r('streams[0]', 'pmu-b.sub')]),
    ['streams[0] (pmu-b.sub:4712, IDCODE 7 (10.0.0.8)) reads the same stream as the main stream (pmu-a.sub:4712, IDCODE 7 (10.0.0.7, 10.0.0.8)): both reach 10.0.0.8; give each stream once'],
    'two names sharing one of their addresses: the same stream',
  );
  t.same(repeatedStreams([await r('the main stream', 'pmu-a.sub'), await r('streams[0]', 'pmu-c.sub')]), [], 'names with different addresses: different streams');
  t.same(repeatedStreams([await r('the main stream', 'pmu-a.sub'), await r('streams[0]', 'pmu-b.sub', 4713)]), [], 'another port: another stream');
  t.same(repeatedStreams([await r('the main stream', 'pmu-a.sub'), await r('streams[0]', 'pmu-b.sub', 4712, 8)]), [], 'another IDCODE: another stream');
  t.same(repeatedStreams([await r('the main stream', '::ffff:10.0.0.9'), await r('streams[0]', 'pmu-c.sub')]).length, 1, 'an address literal against a name');
  const lost = await r('streams[1]', 'gone.sub');
  t.same([lost.addresses, lost.error], [null, 'getaddrinfo ENOTFOUND gone.sub'], 'a name that does not resolve: no addresses, and why');
  t.same(repeatedStreams([await r('the main stream', 'GONE.sub'), lost]).length, 1, 'unresolved names are compared as text (case-insensitive)');
  t.same(repeatedStreams([await r('the main stream', 'pmu-a.sub'), lost]), [], 'and differ from every resolved one');
  let release!: () => void;
  const hanging: Lookup = () => new Promise((_, reject) => (release = () => reject(new Error('released'))));
  const slow = await resolveStream({ where: 'the main stream', host: 'slow.sub', port: 1, idcode: 1 }, hanging, 20);
  release();
  t.same([slow.addresses, slow.error], [null, 'no answer within 20 ms'], 'a lookup that does not answer in time leaves the name unresolved');
});

t.test('one driver: localhost and 127.0.0.1 for one stream fail the start, naming both entries', async (t) => {
  const srv = await new PmuServer({ idcode: 7, dataRate: 50, blocks: [threePhase(7, 15)], auto: false }).start();
  t.teardown(() => srv.close());
  const cfg = config({ id: 'pdc', host: 'localhost', port: srv.port, idcode: 7, streams: [{ host: '127.0.0.1', port: srv.port, idcode: 7, name: 'again' }] });
  t.same(c37118Driver.validate!(cfg), [], 'the config check (offline, by text) lets it pass');
  const driver = c37118Driver.create(cfg) as C37118Driver;
  const { ctx } = ctxFor('pdc');
  await t.rejects(
    driver.start(ctx, () => undefined),
    { message: new RegExp(`^streams\\[0\\] \\(127\\.0\\.0\\.1:${srv.port}, IDCODE 7\\) reads the same stream as the main stream \\(localhost:${srv.port}, IDCODE 7 \\([^)]*127\\.0\\.0\\.1[^)]*\\)\\): both reach 127\\.0\\.0\\.1; give each stream once$`) },
    'the start fails naming both entries and the address they share',
  );
  await driver.stop(AbortSignal.abort());
  t.equal(srv.clients.size, 0, 'nothing connected to the PMU');
});

t.test('two drivers of one agent on one stream: the second fails its start until the first stops', async (t) => {
  const srv = await new PmuServer({ idcode: 7, dataRate: 50, blocks: [threePhase(7, 15)], auto: false }).start();
  t.teardown(() => srv.close());
  const counters = new Counters(); // one agent: the same counters for both drivers
  const first = c37118Driver.create(config({ id: 'pmu-a', host: 'localhost', port: srv.port, idcode: 7 })) as C37118Driver;
  const second = c37118Driver.create(config({ id: 'pmu-b', host: '127.0.0.1', port: srv.port, idcode: 7 })) as C37118Driver;
  await first.start(ctxFor('pmu-a', counters).ctx, () => undefined);
  t.teardown(() => first.stop(AbortSignal.abort()));
  await t.rejects(
    second.start(ctxFor('pmu-b', counters).ctx, () => undefined),
    { message: new RegExp(`^the main stream \\(127\\.0\\.0\\.1:${srv.port}, IDCODE 7\\) reads the same stream as driver pmu-a, the main stream \\(localhost:${srv.port}, IDCODE 7 .*\\): both reach 127\\.0\\.0\\.1; read each stream with one driver$`) },
    'the second driver\'s start fails naming the first',
  );
  // Another agent in the same process (its own counters) does not see the first agent's streams.
  const elsewhere = c37118Driver.create(config({ id: 'pmu-b', host: '127.0.0.1', port: srv.port, idcode: 7 })) as C37118Driver;
  await elsewhere.start(ctxFor('pmu-b').ctx, () => undefined);
  await elsewhere.stop(AbortSignal.abort());
  t.pass('another agent\'s driver starts on the same stream');

  await first.stop(AbortSignal.abort());
  const out: unknown[] = [];
  await second.start(ctxFor('pmu-b', counters).ctx, (m) => out.push(m)); // as the agent's retry does
  t.teardown(() => second.stop(AbortSignal.abort()));
  await waitFor('the second driver reading', () => (srv.dataOn ? true : undefined), { timeoutMs: 10_000 });
  srv.sendData(1);
  await waitFor('a measurement from the second driver', () => (out.length >= 1 ? true : undefined), { timeoutMs: 10_000 });
  t.pass('once the first driver stopped, the second starts and reads');
});

t.test('a name that cannot be resolved at start: warned about, compared as text, its stream still starts', async (t) => {
  const srv = await new PmuServer({ idcode: 7, dataRate: 50, blocks: [threePhase(7, 15)], auto: false }).start();
  t.teardown(() => srv.close());
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, new Writable({ write: (c, _e, cb) => (lines.push(JSON.parse(String(c)) as Record<string, unknown>), cb()) }));
  const dns = fakeDns({ localhost: ['127.0.0.1'] });
  const driver = new C37118Driver(
    config({ id: 'pdc', host: '127.0.0.1', port: srv.port, idcode: 7, streams: [{ host: 'pmu-gone.invalid', port: 4712, idcode: 9, name: 'gone' }] }),
    { lookup: dns },
  );
  const { ctx } = ctxFor('pdc');
  await driver.start({ ...ctx, log }, () => undefined);
  t.teardown(() => driver.stop(AbortSignal.abort()));
  const warn = lines.find((l) => typeof l['msg'] === 'string' && (l['msg'] as string).includes('cannot be resolved now'));
  t.match(warn, { level: 40, stream: 'pmu-gone.invalid:4712', idcode: 9, err: 'getaddrinfo ENOTFOUND pmu-gone.invalid' }, 'a warning names the stream and why');
  t.match(warn?.['msg'], /streams\[0\]'s host pmu-gone\.invalid cannot be resolved now .*compared with the other streams by name only/);
  await waitFor('the resolvable stream reading', () => (srv.dataOn ? true : undefined), { timeoutMs: 10_000 });
  t.pass('the other stream started');
});

t.test('stopped while its names are being resolved: the start holds no stream and opens nothing', async (t) => {
  const srv = await new PmuServer({ idcode: 7, dataRate: 50, blocks: [threePhase(7, 15)], auto: false }).start();
  t.teardown(() => srv.close());
  let answer!: (a: string[]) => void;
  let wasAsked!: () => void;
  const asked = new Promise<void>((resolve) => (wasAsked = resolve));
  // A resolver that answers only when the test says so.
  const slow: Lookup = () => {
    wasAsked();
    return new Promise<string[]>((r) => (answer = r));
  };
  const counters = new Counters();
  const driver = new C37118Driver(config({ id: 'pdc', host: 'pmu.sub', port: srv.port, idcode: 7 }), { lookup: slow });
  const starting = driver.start(ctxFor('pdc', counters).ctx, () => undefined);
  await asked;
  await driver.stop(AbortSignal.abort());
  answer(['127.0.0.1']);
  await starting;
  t.equal(driver.health().info?.['connected'], 0, 'no connection opened');
  // The stream is free: another driver of the same agent starts on it and connects.
  const other = c37118Driver.create(config({ id: 'pdc2', host: '127.0.0.1', port: srv.port, idcode: 7 })) as C37118Driver;
  await other.start(ctxFor('pdc2', counters).ctx, () => undefined);
  t.teardown(() => other.stop(AbortSignal.abort()));
  await waitFor('the other driver connected', () => (srv.clients.size === 1 ? true : undefined), { timeoutMs: 10_000 });
  t.equal(srv.clients.size, 1, 'one connection to the PMU: the other driver\'s');
});

/** A resolver for `pmu.sub` whose answer the test changes (a PMU given a new address in DNS). */
function movingDns(first: string): { lookup: Lookup; set(a: string): void; asked: () => number } {
  let address = first;
  let n = 0;
  return {
    lookup: async (host) => {
      n++;
      if (host !== 'pmu.sub') throw new Error(`getaddrinfo ENOTFOUND ${host}`);
      return [address];
    },
    set: (a) => void (address = a),
    asked: () => n,
  };
}

/** Two test PMUs of one stream (IDCODE 7) on one port: at 127.0.0.1 and at 127.0.0.2 (both this machine). */
async function twoAddresses(t: Test): Promise<[PmuServer, PmuServer]> {
  const a = await new PmuServer({ idcode: 7, dataRate: 50, blocks: [threePhase(7, 15)], auto: false }).start();
  t.teardown(() => a.close());
  const b = await new PmuServer({ idcode: 7, dataRate: 50, blocks: [threePhase(7, 15)], auto: false, listenHost: '127.0.0.2', listenPort: a.port }).start();
  t.teardown(() => b.close());
  return [a, b];
}

t.test('a PMU whose address changes is found again: each connection attempt resolves the name again', async (t) => {
  const [a, b] = await twoAddresses(t);
  const dns = movingDns('127.0.0.1');
  const driver = new C37118Driver(config({ id: 'moving', host: 'pmu.sub', port: a.port, idcode: 7, reconnectMaxMs: 200 }), { lookup: dns.lookup });
  const out: Measurement[] = [];
  await driver.start(ctxFor('moving').ctx, (m) => out.push(m));
  t.teardown(() => driver.stop(AbortSignal.abort()));
  await waitFor('the driver reading the PMU at 127.0.0.1', () => a.dataOn, { on: [[a, 'dataOn']], timeoutMs: 10_000 });
  a.sendData(1);
  await waitFor('a measurement from 127.0.0.1', () => out.length >= 1, { timeoutMs: 10_000 });

  // The PMU moves: DNS answers 127.0.0.2 from now on, and the old address drops the connection.
  dns.set('127.0.0.2');
  a.dropClients();
  await waitFor('the driver reading the PMU at its new address', () => b.dataOn, { on: [[b, 'dataOn']], timeoutMs: 10_000 });
  const before = out.length;
  b.sendData(1);
  await waitFor('a measurement from 127.0.0.2', () => out.length > before, { timeoutMs: 10_000 });
  t.equal(a.clients.size, 0, 'nothing connected to the old address');
  t.equal(driver.health().info?.['connected'], 1);
  t.ok(dns.asked() >= 2, `the name was resolved again for the reconnection (${dns.asked()} lookups)`);
});

t.test('the hold follows the name: after an address change the old address is free, and the new one is checked against the other drivers', async (t) => {
  const [a, b] = await twoAddresses(t);
  const dns = movingDns('127.0.0.1');
  const counters = new Counters(); // one agent
  const moving = new C37118Driver(config({ id: 'pdc-a', host: 'pmu.sub', port: a.port, idcode: 7, reconnectMaxMs: 200 }), { lookup: dns.lookup });
  await moving.start(ctxFor('pdc-a', counters).ctx, () => undefined);
  t.teardown(() => moving.stop(AbortSignal.abort()));
  await waitFor('pdc-a reading 127.0.0.1', () => a.dataOn, { on: [[a, 'dataOn']], timeoutMs: 10_000 });
  const fixed = c37118Driver.create(config({ id: 'pdc-b', host: '127.0.0.2', port: a.port, idcode: 7 })) as C37118Driver;
  await fixed.start(ctxFor('pdc-b', counters).ctx, () => undefined);
  t.teardown(() => fixed.stop(AbortSignal.abort()));
  await waitFor('pdc-b reading 127.0.0.2', () => b.dataOn, { on: [[b, 'dataOn']], timeoutMs: 10_000 });

  // pmu.sub now names 127.0.0.2, which pdc-b reads: pdc-a's reconnection is not made.
  dns.set('127.0.0.2');
  a.dropClients();
  await waitFor('a refused reconnection counted', () => counters.get('c37118_same_stream_refused', { driver: 'pdc-a' }) >= 1, { timeoutMs: 10_000 });
  t.match(
    moving.health().lastError,
    new RegExp(`^the main stream \\(pmu\\.sub:${a.port}, IDCODE 7 \\(127\\.0\\.0\\.2\\)\\) now reads the same stream as driver pdc-b, the main stream \\(127\\.0\\.0\\.2:${a.port}, IDCODE 7\\): both reach 127\\.0\\.0\\.2; not connecting`),
    'pdc-a says why, naming the other driver',
  );
  t.equal(moving.health().state, 'degraded');
  t.equal(b.clients.size, 1, 'one connection to 127.0.0.2: pdc-b\'s');
  t.equal(a.clients.size, 0);

  // 127.0.0.1 is no longer held: a driver added for it (a reload) starts and reads.
  const other = c37118Driver.create(config({ id: 'pdc-c', host: '127.0.0.1', port: a.port, idcode: 7 })) as C37118Driver;
  await other.start(ctxFor('pdc-c', counters).ctx, () => undefined);
  t.teardown(() => other.stop(AbortSignal.abort()));
  await waitFor('pdc-c reading 127.0.0.1', () => a.dataOn, { on: [[a, 'dataOn']], timeoutMs: 10_000 });

  // pdc-b goes (removed by a reload): pdc-a's next attempt connects to the stream its name now names.
  await fixed.stop(AbortSignal.abort());
  await waitFor('pdc-a reading 127.0.0.2', () => b.dataOn && b.clients.size === 1, { on: [[b, 'dataOn']], intervalMs: 20, timeoutMs: 10_000 });
  await waitFor('pdc-a connected', () => moving.health().info?.['connected'] === 1, { timeoutMs: 10_000 });
});

t.test('localhost through the system resolver: connects, and reconnects after the PMU dropped it', async (t) => {
  const srv = await new PmuServer({ idcode: 7, dataRate: 50, blocks: [threePhase(7, 15)], auto: false }).start();
  t.teardown(() => srv.close());
  const driver = c37118Driver.create(config({ id: 'local', host: 'localhost', port: srv.port, idcode: 7, reconnectMaxMs: 200 })) as C37118Driver;
  const out: Measurement[] = [];
  const counters = new Counters();
  await driver.start(ctxFor('local', counters).ctx, (m) => out.push(m));
  t.teardown(() => driver.stop(AbortSignal.abort()));
  await waitFor('connected to localhost', () => srv.dataOn, { on: [[srv, 'dataOn']], timeoutMs: 10_000 });
  srv.dropClients();
  await waitFor('connected again', () => srv.dataOn, { on: [[srv, 'dataOn']], timeoutMs: 10_000 });
  srv.sendData(1);
  await waitFor('a measurement after the reconnection', () => out.length >= 1, { timeoutMs: 10_000 });
  t.ok(counters.get('c37118_reconnects', { driver: 'local' }) >= 1, 'the reconnection counted');
  t.equal(counters.get('c37118_same_stream_refused', { driver: 'local' }), 0, 'its own hold is not a conflict');
});
