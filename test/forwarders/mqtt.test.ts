/**
 * The upstream MQTT forwarder and its runner against Debian's mosquitto (real broker, real
 * sockets) and the real SQLite buffer.
 */
import t from 'tap';
import { createServer, type AddressInfo } from 'node:net';
import { Aedes } from 'aedes';
import { ForwarderRunner } from '../../agent/forwarders/runner.js';
import { Counters } from '../../agent/core/counters.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { refusedPort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { makeCerts } from '../helpers/certs.js';
import { collect, openTestBuffer, processedPayload, until, WatchedCounters } from './harness.js';
import { appendProcessed, mqttConfig, startMqttRunner, upstreamRig } from './mqtt-runner.js';

const config = mqttConfig;
const startRunner = startMqttRunner;
const append = appendProcessed;

t.test('forwards with the topic map, adds gw and seq, skips rows not routed', async (t) => {
  const { m, tb, sub } = await upstreamRig(t, 'legacy/#');
  const cfg = config({
    url: m.url,
    map: [
      { from: 'bal/processed/+/stats/#', to: 'legacy/stats/+/#' },
      { from: 'bal/processed/#', to: 'legacy/#' },
    ],
  });
  const runner = startRunner(tb.buffer, tb.counters, cfg);
  t.teardown(() => runner.stop());

  const seqs = await tb.buffer.append([
    { topic: 'bal/processed/pmu1', payload: processedPayload('pmu1', 1) },
    { topic: 'bal/raw/pmu1', payload: '{"device":"pmu1"}' },
    { topic: 'bal/processed/pmu1/stats/10s', payload: '{"device":"pmu1","window":"10s"}' },
    { topic: 'bal/processed/pmu2', payload: '{}' },
    { topic: 'other/x', payload: '{"x":1}' },
  ]);
  await sub.waitFor(3);
  await until(() => runner.cursor === seqs[4], 'the cursor to pass the last (unrouted) row');
  const byTopic = new Map(sub.messages.map((r) => [r.topic, JSON.parse(r.text) as Record<string, unknown>]));
  t.same([...byTopic.keys()].sort(), ['legacy/pmu1', 'legacy/pmu2', 'legacy/stats/pmu1/10s']);
  const p1 = byTopic.get('legacy/pmu1')!;
  t.equal(p1['gw'], 'gw-1', 'gw is the gateway id');
  t.equal(p1['seq'], seqs[0], 'seq is the buffer sequence number');
  t.same(
    (p1['seq_components'] as { v: { pos: { mag: number } } }).v.pos.mag,
    230,
    'the stored sequence components travel as seq_components',
  );
  t.same(byTopic.get('legacy/pmu2'), { gw: 'gw-1', seq: seqs[3] }, 'an empty object gets gw and seq');
  t.equal(byTopic.get('legacy/stats/pmu1/10s')!['window'], '10s');
  t.equal(tb.counters.get('forward_sent', { forwarder: 'central' }), 3);
  t.equal(tb.buffer.cursor('central'), seqs[4], 'the buffer cursor is past every row');
  const st = runner.status();
  t.equal(st.connected, true);
  t.ok(st.lastSuccess! > 0);
  t.equal(st.lag, 0);
});

t.test('without a map, `topics` selects rows and keeps their topic', async (t) => {
  const { m, tb, sub } = await upstreamRig(t, '#');
  const runner = startRunner(tb.buffer, tb.counters, config({ url: m.url, topics: ['bal/processed/+'] }));
  t.teardown(() => runner.stop());
  await append(tb.buffer, 'bal/processed/pmu1', 0, 5);
  await append(tb.buffer, 'bal/processed/pmu1/stats/1m', 0, 2);
  await append(tb.buffer, 'bal/processed/pmu2', 0, 5);
  await sub.waitFor(10);
  await until(() => runner.cursor === tb.buffer.lastSeq(), 'cursor at the end');
  t.same([...new Set(sub.messages.map((r) => r.topic))].sort(), ['bal/processed/pmu1', 'bal/processed/pmu2']);
  const seqs = sub.json().map((j) => j['seq'] as number);
  t.same(seqs, [...seqs].sort((a, b) => a - b), 'delivered in seq order');
});

/** The times (performance.now()) at which the runner counts its next `n` failures. */
async function failureTimes(counters: WatchedCounters, id: string, n: number): Promise<number[]> {
  const times: number[] = [];
  const onChange = (name: string, labels: Record<string, string>, at: number): void => {
    if (name === 'forward_errors' && labels['forwarder'] === id) times.push(at);
  };
  counters.events.on('change', onChange);
  try {
    await waitFor(`${n} failed attempts of ${id}`, () => times.length >= n || undefined, {
      on: [[counters.events, 'change']],
      detail: () => `saw ${times.length}`,
    });
  } finally {
    counters.events.off('change', onChange);
  }
  return times.slice(0, n);
}

t.test('username and password: the right ones deliver; a wrong password is a clear error, retried with backoff', async (t) => {
  const m = await startMosquitto({ users: { fwd: 's3cret' } });
  t.teardown(() => m.stop());
  const counters = new WatchedCounters();
  const tb = openTestBuffer(counters);
  t.teardown(() => tb.close());
  const sub = await collect(m.url, '#', { username: 'fwd', password: 's3cret' });
  t.teardown(() => sub.close());
  const good = startRunner(tb.buffer, tb.counters, config({ id: 'good', url: m.url, username: 'fwd', password: 's3cret' }));
  t.teardown(() => good.stop());
  const minMs = 150;
  const bad = startRunner(
    tb.buffer,
    tb.counters,
    config({ id: 'bad', url: m.url, username: 'fwd', password: 'wrong', reconnectMinMs: minMs, reconnectMaxMs: 400 }),
  );
  t.teardown(() => bad.stop());

  await append(tb.buffer, 'bal/processed/pmu1', 0, 3);
  await sub.waitFor(3);
  await until(() => tb.counters.get('forward_sent', { forwarder: 'good' }) === 3, 'PUBACKs of the good forwarder');
  t.equal(good.cursor, tb.buffer.lastSeq(), 'the right credentials deliver');

  const times = await failureTimes(counters, 'bad', 5);
  const st = bad.status();
  t.equal(st.connected, false);
  t.match(st.lastError, /not authori[sz]ed|bad username or password/i, `clear error: ${st.lastError}`);
  const reasons = tb.counters.samples().filter((s) => s.name === 'forward_errors' && s.labels['forwarder'] === 'bad');
  t.ok(reasons.every((s) => /not_authorized|bad_credentials/.test(s.labels['reason']!)), 'counted under an auth reason');
  // No tight loop: consecutive attempts are at least reconnectMinMs apart (a lower bound; a slow machine only widens it).
  // The times are taken when the runner counts each failure. 15 ms of slack: node starts a timer
  // from the event loop's cached clock, which lags the real one while the loop is busy.
  for (let k = 1; k < times.length; k++) t.ok(times[k]! - times[k - 1]! >= minMs - 15, `attempt ${k} waited ${Math.round(times[k]! - times[k - 1]!)} ms`);
  t.equal(tb.buffer.cursor('bad'), 0, 'nothing acknowledged for the failing forwarder');
  t.equal(tb.counters.get('forward_sent', { forwarder: 'bad' }), 0);
});

t.test('mqtts with a CA and a client certificate; TLS problems are named', async (t) => {
  const certs = makeCerts();
  t.teardown(() => certs.remove());
  const m = await startMosquitto({
    tls: { cafile: certs.ca, certfile: certs.serverCert, keyfile: certs.serverKey, requireCertificate: true },
    plainPort: true,
  });
  t.teardown(() => m.stop());
  const tb = openTestBuffer();
  t.teardown(() => tb.close());
  const sub = await collect(`mqtt://127.0.0.1:${m.plainPort}`, '#');
  t.teardown(() => sub.close());

  const tls = { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey };
  const runners = [
    startRunner(tb.buffer, tb.counters, config({ id: 'ok', url: `mqtts://127.0.0.1:${m.port}`, ...tls })),
    startRunner(tb.buffer, tb.counters, config({ id: 'byname', url: `mqtts://localhost:${m.port}`, ...tls })),
    startRunner(tb.buffer, tb.counters, config({ id: 'noca', url: `mqtts://127.0.0.1:${m.port}`, ...tls, ca: '' })),
    startRunner(tb.buffer, tb.counters, config({ id: 'nocert', url: `mqtts://127.0.0.1:${m.port}`, ca: certs.ca })),
    startRunner(
      tb.buffer,
      tb.counters,
      config({ id: 'rogue', url: `mqtts://127.0.0.1:${m.port}`, ca: certs.ca, cert: certs.rogueClientCert, key: certs.rogueClientKey }),
    ),
    startRunner(tb.buffer, tb.counters, config({ id: 'nofile', url: `mqtts://127.0.0.1:${m.port}`, ...tls, ca: '/nonexistent/ca.pem' })),
  ];
  t.teardown(() => Promise.all(runners.map((r) => r.stop())));
  await append(tb.buffer, 'bal/processed/pmu1', 0, 4);
  await sub.waitFor(8);
  await until(() => runners.slice(0, 2).every((r) => r.cursor === tb.buffer.lastSeq()), 'PUBACKs over TLS');
  t.equal(tb.counters.get('forward_sent', { forwarder: 'ok' }), 4, 'delivered over TLS with a client certificate');
  t.equal(tb.counters.get('forward_sent', { forwarder: 'byname' }), 4, 'the server certificate names localhost too');
  const byId = (id: string): ForwarderRunner => runners.find((r) => r.id === id)!;
  await until(() => ['noca', 'nocert', 'rogue', 'nofile'].every((id) => byId(id).status().lastError !== undefined), 'errors of the TLS failures');
  t.match(byId('noca').status().lastError, /TLS error .*(CA|self-signed)/, 'unknown CA named');
  t.match(byId('nocert').status().lastError, /TLS|closed the connection/, `no client certificate: ${byId('nocert').status().lastError}`);
  t.match(byId('rogue').status().lastError, /TLS|closed the connection/, `rogue client certificate: ${byId('rogue').status().lastError}`);
  t.match(byId('nofile').status().lastError, /ca: cannot read \/nonexistent\/ca.pem: ENOENT/);
  for (const id of ['noca', 'nocert', 'rogue', 'nofile']) t.equal(tb.counters.get('forward_sent', { forwarder: id }), 0, `${id} delivered nothing`);
});

t.test('upstream down, then up: the backlog arrives in seq order while live rows flow at once', async (t) => {
  const first = await startMosquitto({ persistence: true });
  const dir = first.dir;
  let m = first;
  t.teardown(() => m.stop());
  const tb = openTestBuffer();
  t.teardown(() => tb.close());
  // A persistent subscriber session: mosquitto keeps its queue across the restart.
  const sub = await collect(m.url, 'legacy/#', { clean: false, clientId: 'outage-sub' });
  t.teardown(() => sub.close());
  // The drain is held to `rate` rows/s: N/rate = 10 s, a margin over the test's own reaction (under a
  // loaded CI machine this process has been starved for seconds; at 4 s the backlog once finished
  // before the first live row was appended, which proves nothing either way).
  const rate = 60;
  const runner = startRunner(
    tb.buffer,
    tb.counters,
    config({ url: m.url, map: [{ from: 'bal/processed/#', to: 'legacy/#' }], backlogMaxRate: rate, batchSize: 50, reconnectMinMs: 100, reconnectMaxMs: 300 }),
  );
  t.teardown(() => runner.stop());

  const before = await append(tb.buffer, 'bal/processed/pmu1', 0, 10);
  await sub.waitFor(10);

  await m.stop();
  await until(() => !runner.status().connected, 'the runner to notice the outage');
  const N = 600;
  const during = await append(tb.buffer, 'bal/processed/pmu1', 100, N);
  t.equal(runner.cursor, before[before.length - 1], 'the cursor stays at the last acknowledged row');

  m = await startMosquitto({ persistence: true, dir, port: first.port });
  await until(() => runner.status().connected, 'the runner to reconnect');
  const liveSeqs: number[] = [];
  // One live row at a time, each appended once the previous one is upstream.
  // Whether the drain could already have sent its last row when the first live row is appended is
  // read from the runner, not the subscriber: a subscriber that reconnects late receives what the
  // runner sent long ago, so its view said "still draining" when the runner had sent everything.
  // The runner's cursor trails what it has sent by at most a batch in flight (batchSize 50): with
  // more than two batches still unacknowledged, the last backlog row was not yet sent.
  let backlogDoneAtFirstLive = false;
  for (let k = 0; k < 5; k++) {
    if (k === 0) backlogDoneAtFirstLive = runner.cursor >= during[N - 1]! - 2 * 50;
    const [seq] = await append(tb.buffer, 'bal/processed/live', k, 1);
    liveSeqs.push(seq!);
    await waitFor(`live row ${seq} upstream`, () => sub.json().some((j) => j['seq'] === seq) || undefined, { on: [[sub.client, 'message']] });
  }
  await sub.waitFor(10 + N + 5, 60_000);
  await until(() => runner.cursor === tb.buffer.lastSeq(), 'the cursor to reach the last row');

  const got = sub.json().map((j) => j['seq'] as number);
  const backlog = got.filter((s) => s >= during[0]! && s <= during[N - 1]!);
  t.same([...new Set(backlog)], during, 'every backlog row arrived, in seq order');
  const firstLive = got.indexOf(liveSeqs[0]!);
  const lastBacklog = got.lastIndexOf(during[N - 1]!);
  // Live rows do not wait for the drain.
  t.notOk(backlogDoneAtFirstLive, 'the runner was still draining the backlog when the first live row was committed (else the next check proves nothing)');
  t.ok(firstLive >= 0 && firstLive < lastBacklog, `a live row (at ${firstLive}) arrived before the backlog finished (at ${lastBacklog})`);
  t.same(
    got.filter((s) => liveSeqs.includes(s)),
    liveSeqs,
    'live rows in order',
  );
});

t.test('a row committed while the link is down does not wait for the backlog drain', async (t) => {
  // The adversarial bench saw one live row wait the whole drain (64 s): rows committed while the
  // link was down were all queued behind the backlog. Now the newest of them go first.
  let m = await startMosquitto({ persistence: true });
  const { dir, port } = m;
  t.teardown(() => m.stop());
  // A persistent subscriber session, so mosquitto queues what arrives while the test reconnects it.
  const first = await collect(m.url, 'legacy/#', { clean: false, clientId: 'fresh-sub' });
  first.close();
  await m.stop();
  const tb = openTestBuffer();
  t.teardown(() => tb.close());
  const runner = startRunner(
    tb.buffer,
    tb.counters,
    config({ url: `mqtt://127.0.0.1:${port}`, map: [{ from: 'bal/processed/#', to: 'legacy/#' }], backlogMaxRate: 1000, batchSize: 50, reconnectMinMs: 100, reconnectMaxMs: 200 }),
  );
  t.teardown(() => runner.stop());
  await until(() => runner.status().lastError !== undefined, 'a failed connect while the upstream is down');
  const old = await append(tb.buffer, 'bal/processed/old', 0, 3000); // more than the live queue keeps
  const [fresh] = await append(tb.buffer, 'bal/processed/fresh', 0, 1);
  m = await startMosquitto({ persistence: true, dir, port });
  const sub = await collect(m.url, 'legacy/#', { clean: false, clientId: 'fresh-sub' });
  t.teardown(() => sub.close());
  await sub.waitFor(3001, 30_000);
  const got = sub.json().map((j) => j['seq'] as number);
  const at = got.indexOf(fresh!);
  const lastOld = got.lastIndexOf(old[0]!);
  t.ok(at >= 0 && lastOld >= 0 && at < lastOld, `the fresh row (at ${at}) arrived before the oldest backlog row (at ${lastOld})`);
  t.same([...new Set(got)].sort((a, b) => a - b), [...old, fresh!], 'every row arrived');
});

t.test('two forwarders: one upstream down never stalls the other', async (t) => {
  const { m, tb, sub } = await upstreamRig(t, '#');
  const deadPort = await refusedPort();
  const up = startRunner(tb.buffer, tb.counters, config({ id: 'up', url: m.url }));
  const down = startRunner(tb.buffer, tb.counters, config({ id: 'down', url: `mqtt://127.0.0.1:${deadPort}` }));
  t.teardown(() => Promise.all([up.stop(), down.stop()]));
  const seqs: number[] = [];
  for (let k = 0; k < 5; k++) seqs.push(...(await append(tb.buffer, 'bal/processed/pmu1', k * 40, 40)));
  await sub.waitFor(200);
  await until(() => up.cursor === seqs[seqs.length - 1], 'the healthy cursor at the end');
  t.same(
    sub.json().map((j) => j['seq']),
    seqs,
    'the healthy forwarder delivered everything in order',
  );
  t.equal(down.status().connected, false);
  t.match(down.status().lastError, /connection refused/);
  t.equal(tb.buffer.cursor('down'), 0, 'the failing forwarder keeps its rows');
  t.equal(down.status().lag, seqs.length, 'and reports them as lag');
});

t.test('a publish the upstream refuses (MQTT 5 PUBACK 0x87) is counted, skipped, and does not block the rest', async (t) => {
  const { m, tb, sub } = await upstreamRig(t, 'legacy/#', { acl: 'topic write legacy/ok/#\ntopic read #\n' });
  const runner = startRunner(
    tb.buffer,
    tb.counters,
    config({
      url: m.url,
      map: [
        { from: 'bal/processed/ok/#', to: 'legacy/ok/#' },
        { from: 'bal/processed/#', to: 'legacy/denied/#' },
      ],
    }),
  );
  t.teardown(() => runner.stop());
  const okSeqs: number[] = [];
  for (let k = 0; k < 3; k++) {
    okSeqs.push(...(await append(tb.buffer, 'bal/processed/ok/pmu1', k, 2)));
    await append(tb.buffer, 'bal/processed/pmu9', k, 2);
  }
  await until(() => runner.cursor === tb.buffer.lastSeq(), 'the cursor past refused rows');
  await sub.waitFor(6);
  // mosquitto 2.0.11 closes the connection after a refusal: rows sent behind it are sent again.
  t.same(
    [...new Set(sub.json().map((j) => j['seq']))],
    okSeqs,
    'every accepted row arrived, first arrivals in order',
  );
  t.equal(tb.counters.get('forward_rejected', { forwarder: 'central' }), 6, 'refused rows counted');
  t.ok(tb.counters.get('forward_sent', { forwarder: 'central' }) >= 6, 'accepted rows counted (re-sends too)');
  // After the refusal mosquitto drops the link; how that reads depends on the moment (a FIN or a RST).
  t.match(runner.status().lastError, /refused .*Not authorized|connection lost|closed|connection reset/);
});

t.test('stop keeps the cursor: a restarted runner resumes after it, without re-sending', async (t) => {
  const m = await startMosquitto();
  t.teardown(() => m.stop());
  const counters = new Counters();
  let tb = openTestBuffer(counters);
  const dir = tb.dir;
  const sub = await collect(m.url, '#');
  t.teardown(() => sub.close());
  const cfg = config({ url: m.url });
  let runner = startRunner(tb.buffer, counters, cfg);
  const first = await append(tb.buffer, 'bal/processed/pmu1', 0, 10);
  await sub.waitFor(10);
  await until(() => runner.cursor === first[9], 'cursor at the 10th row');
  await runner.stop();
  t.equal(runner.status().connected, false, 'disconnected after stop');
  await tb.buffer.close();

  tb = openTestBuffer(counters, dir);
  t.teardown(() => tb.close());
  t.equal(tb.buffer.cursor('central'), first[9], 'the cursor survived the restart');
  const second = await append(tb.buffer, 'bal/processed/pmu1', 10, 5);
  runner = startRunner(tb.buffer, counters, cfg);
  t.teardown(() => runner.stop());
  await sub.waitFor(15);
  await until(() => runner.cursor === second[4], 'cursor at the end');
  t.same(
    sub.json().map((j) => j['seq']),
    [...first, ...second],
    'each row exactly once, in order',
  );
});

t.test('a broker that refuses a publish by closing the connection (MQTT 3.1.1): the row is skipped after 3 tries', async (t) => {
  // Aedes closes the connection when authorizePublish fails, as MQTT 3.1.1 §3.3.5 allows.
  const broker = await Aedes.createBroker({
    authorizePublish: (_client, packet, cb) => cb(packet.topic.includes('/poison/') ? new Error('denied') : null),
  });
  const server = createServer(broker.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => broker.close(() => server.close(() => r()))));
  const port = (server.address() as AddressInfo).port;
  const url = `mqtt://127.0.0.1:${port}`;
  const tb = openTestBuffer();
  t.teardown(() => tb.close());
  const sub = await collect(url, '#');
  t.teardown(() => sub.close());
  const runner = startRunner(tb.buffer, tb.counters, config({ url, protocolVersion: 4, reconnectMinMs: 50, reconnectMaxMs: 200 }));
  t.teardown(() => runner.stop());

  const good1 = await append(tb.buffer, 'bal/processed/pmu1', 0, 5);
  const [poison] = await append(tb.buffer, 'bal/processed/poison/pmu1', 0, 1);
  const good2 = await append(tb.buffer, 'bal/processed/pmu1', 5, 5);
  await until(() => runner.cursor === tb.buffer.lastSeq(), 'the cursor past the poison row');
  await sub.waitFor(10);
  t.same(
    [...new Set(sub.json().map((j) => j['seq']))],
    [...good1, ...good2],
    'every other row arrived, in order',
  );
  t.equal(tb.counters.get('forward_rejected', { forwarder: 'central' }), 1, 'the poison row is counted as refused');
  t.match(runner.status().lastError, new RegExp(`row ${poison} .* 3 times`));
});

t.test('MQTT over WebSocket (ws://)', async (t) => {
  const { m, tb, sub } = await upstreamRig(t, '#', { websocketPort: true });
  const runner = startRunner(tb.buffer, tb.counters, config({ url: `ws://127.0.0.1:${m.websocketPort}/` }));
  t.teardown(() => runner.stop());
  const seqs = await append(tb.buffer, 'bal/processed/pmu1', 0, 20);
  await sub.waitFor(20);
  await until(() => runner.cursor === seqs[19], 'PUBACKs over WebSocket');
  t.same(
    sub.json().map((j) => j['seq']),
    seqs,
    'delivered over ws, in order',
  );
});

t.test('MQTT over secure WebSocket (wss://) with a CA', async (t) => {
  const certs = makeCerts();
  t.teardown(() => certs.remove());
  const m = await startMosquitto({
    tls: { cafile: certs.ca, certfile: certs.serverCert, keyfile: certs.serverKey },
    plainPort: true,
    websocketPort: true,
  });
  t.teardown(() => m.stop());
  const tb = openTestBuffer();
  t.teardown(() => tb.close());
  const sub = await collect(`mqtt://127.0.0.1:${m.plainPort}`, '#');
  t.teardown(() => sub.close());
  const ok = startRunner(tb.buffer, tb.counters, config({ id: 'wss', url: `wss://localhost:${m.websocketPort}/`, ca: certs.ca }));
  const noca = startRunner(tb.buffer, tb.counters, config({ id: 'wss-noca', url: `wss://localhost:${m.websocketPort}/` }));
  t.teardown(() => Promise.all([ok.stop(), noca.stop()]));
  const seqs = await append(tb.buffer, 'bal/processed/pmu1', 0, 10);
  await sub.waitFor(10);
  await until(() => ok.cursor === seqs[9], 'PUBACKs over wss');
  t.same(
    sub.json().map((j) => j['seq']),
    seqs,
    'delivered over wss',
  );
  await until(() => noca.status().lastError !== undefined, 'the wss error without the CA');
  t.equal(noca.cursor, 0, 'nothing delivered without the CA');
  t.match(noca.status().lastError, /TLS|certificate/i, `named: ${noca.status().lastError}`);
});
