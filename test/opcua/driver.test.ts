/**
 * The opcua driver against a real node-opcua server in this process: values of several types flow
 * with the server's SourceTimestamp; a Bad StatusCode makes that field invalid with the reason
 * `opcua:<StatusCodeName>` and an Uncertain one questionable, both recover; an unknown node is
 * reported (health, counter) while the other nodes flow; the server restarting is followed by a
 * new session and values again; an untrusted server certificate names the file to move, and
 * moving it lets the driver in; a server that does not trust this client names the certificate to
 * add there; a wrong password is refused with a clear message and retried;
 * SignAndEncrypt with a user name works; the client certificate is created in the storage dir;
 * values of one node queued in one publish response are emitted one by one, in order.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import t from 'tap';
import type { Measurement } from '../../algorithms/common/measurement.js';
import { Counters } from '../../agent/core/counters.js';
import { opcuaDriver, OpcuaDriver, type OpcuaConfig } from '../../drivers/opcua/index.js';
import { abortedDeadline, ctxFor } from '../conformance/suites.js';
import { withDefaults } from '../helpers/plugin-config.js';
import { waitFor } from '../helpers/wait.js';
import { startOpcuaServer, type TestServer } from './server.js';

const VARS = {
  Va: { type: 'Double', value: 230.5 },
  Ia: { type: 'Double', value: 10.25 },
  soc: { type: 'Double', value: 53.2 },
  breaker: { type: 'Boolean', value: true },
  mode: { type: 'String', value: 'auto' },
} as const;

const NODES = [
  { nodeId: 'ns=1;s=Va', field: 'v.a.mag', samplingInterval: 50 },
  { nodeId: 'ns=1;s=Ia', field: 'i.a.mag', samplingInterval: 50 },
  { nodeId: 'ns=1;s=soc', field: 'soc', samplingInterval: 100, queueSize: 5 },
  { nodeId: 'ns=1;s=breaker', field: 'breaker.q1', samplingInterval: 100 },
  { nodeId: 'ns=1;s=mode', field: 'mode', samplingInterval: 100 },
];

interface Running {
  driver: OpcuaDriver;
  got: Measurement[];
  counters: Counters;
  storageDir: string;
  next(what: string, pred: (m: Measurement) => boolean, timeoutMs?: number): Promise<Measurement>;
}

async function run(t: Tap, entry: Record<string, unknown>, before?: (storageDir: string) => void): Promise<Running> {
  const cfg = withDefaults(opcuaDriver, { type: 'opcua', id: 'rtu1', reconnectMinMs: 100, reconnectMaxMs: 400, ...entry }) as unknown as OpcuaConfig;
  t.same(opcuaDriver.validate!(cfg), [], 'the test config is valid');
  const driver = opcuaDriver.create(cfg) as OpcuaDriver;
  const counters = new Counters();
  counters.define(opcuaDriver.metrics!);
  const { ctx, abort } = ctxFor('rtu1', counters);
  before?.(ctx.storageDir);
  const got: Measurement[] = [];
  await driver.start(ctx, (m) => got.push(m));
  t.teardown(async () => {
    abort.abort();
    await driver.stop(abortedDeadline());
  });
  return {
    driver,
    got,
    counters,
    storageDir: ctx.storageDir,
    next: (what, pred, timeoutMs = 20_000) => {
      const from = got.length;
      return waitFor(what, () => got.slice(from).find(pred), { timeoutMs, detail: () => `last: ${JSON.stringify(got.at(-1))}; lastError: ${driver.health().lastError}` });
    },
  };
}

/** What the helpers here need of a tap test. */
interface Tap {
  teardown(fn: () => unknown): void;
  same(found: unknown, wanted: unknown, message: string): unknown;
}

/** One PKI for every server of this file: its certificate is made once (an RSA key takes a while). */
const SERVER_PKI = mkdtempSync(join(tmpdir(), 'gridedge-opcua-server-'));

async function server(t: Tap, opts: Parameters<typeof startOpcuaServer>[0] = {}): Promise<TestServer> {
  const s = await startOpcuaServer({ vars: { ...VARS }, pki: SERVER_PKI, ...opts });
  t.teardown(() => s.stop());
  return s;
}

t.test('values flow, with quality per node from the StatusCode', async (t) => {
  const srv = await server(t);
  const r = await run(t, { endpoint: srv.url, nodes: NODES });
  const first = await r.next('a measurement with every node', (m) => m['mode'] !== undefined && m.v !== undefined && m['soc'] !== undefined);
  t.equal(first.device, 'rtu1');
  t.equal(first.quality, 'good');
  t.same(first.v, { a: { mag: 230.5 } });
  t.same(first.i, { a: { mag: 10.25 } });
  t.equal(first['soc'], 53.2);
  t.same(first['breaker'], { q1: true });
  t.equal(first['mode'], 'auto');
  t.equal(first.field_quality, undefined, 'no field_quality while every node is good');
  t.ok(Number.isInteger(first.ts) && Math.abs(first.ts - Date.now() * 1000) < 60e6, 'ts in µs, from the server clock (same host)');
  t.ok(existsSync(join(r.storageDir, 'pki', 'own', 'certs', 'client_certificate.pem')), 'client certificate created in the storage dir');

  const before = Date.now() * 1000;
  srv.set('soc', 54.5);
  const changed = await r.next('soc 54.5', (m) => m['soc'] === 54.5);
  t.equal(changed['mode'], 'auto', 'the measurement carries the last value of every node');
  t.ok(changed.ts >= before - 1000, 'ts is the SourceTimestamp of the change');

  srv.set('Va', 0, 'BadCommunicationError');
  const bad = await r.next('v.a.mag invalid', (m) => m.field_quality?.['v.a.mag'] === 'invalid');
  t.equal(bad.quality, 'invalid', 'message quality is the worst field');
  t.same(bad.reasons, ['opcua:BadCommunicationError']);
  t.equal(bad.v?.a?.mag, 230.5, 'the field keeps its last good value');
  t.equal(bad['soc'], 54.5, 'the other fields stay');
  t.equal(Object.keys(bad.field_quality!).length, 1, 'only the bad node is named');
  t.ok(r.counters.get('opcua_bad_values', { device: 'rtu1' }) >= 1, 'counted');

  srv.set('Va', 231, 'Good');
  const ok = await r.next('v.a.mag good again', (m) => m.v?.a?.mag === 231);
  t.equal(ok.quality, 'good');
  t.equal(ok.field_quality, undefined);

  srv.set('Ia', 9.5, 'UncertainLastUsableValue');
  const unc = await r.next('i.a.mag questionable', (m) => m.field_quality?.['i.a.mag'] === 'questionable');
  t.equal(unc.quality, 'questionable');
  t.same(unc.reasons, ['opcua:UncertainLastUsableValue']);
  t.equal(unc.i?.a?.mag, 9.5, 'an uncertain value is carried');
  const h = r.driver.health();
  t.equal(h.state, 'running');
  t.equal(h.info?.['connected'], true);
  t.ok((h.info?.['changes'] as number) >= 8, 'changes counted in health');
  t.ok(r.counters.get('opcua_value_changes', { device: 'rtu1' }) >= 8);
});

t.test('an unknown node is reported, the others flow', async (t) => {
  const srv = await server(t);
  const r = await run(t, { endpoint: srv.url, nodes: [...NODES.slice(0, 2), { nodeId: 'ns=1;s=NoSuchNode', field: 'tap', samplingInterval: 50 }] });
  const m = await r.next('values of the known nodes', (m) => m.v !== undefined && m.i !== undefined);
  t.equal(m['tap'], undefined, 'the unknown node has no value');
  await waitFor('unknown node counted', () => r.counters.get('opcua_unknown_nodes', { device: 'rtu1' }) === 1);
  const h = r.driver.health();
  t.equal(h.state, 'degraded');
  t.equal(h.info?.['unknownNodes'], 1);
  t.match(h.lastError, /node ns=1;s=NoSuchNode \(tap\) refused by the server: BadNodeIdUnknown/);
  srv.set('Va', 229);
  await r.next('the known nodes keep flowing', (m) => m.v?.a?.mag === 229);
});

t.test('the server restarts: new session, subscription re-created, values again', async (t) => {
  const srv = await server(t);
  const r = await run(t, { endpoint: srv.url, nodes: NODES });
  await r.next('first values', (m) => m['mode'] === 'auto');
  const lostWait = r.next('every field invalid when the link drops', (m) => m.reasons?.includes('opcua:BadNotConnected') === true);
  await srv.restart();
  const lost = await lostWait;
  t.equal(lost.quality, 'invalid');
  await waitFor('reconnected', () => r.counters.get('opcua_reconnects', { device: 'rtu1' }) >= 1, { timeoutMs: 20_000 });
  srv.set('soc', 61);
  const again = await r.next('a value after the restart', (m) => m['soc'] === 61 && m.quality === 'good');
  t.equal(again['mode'], 'auto');
  t.ok(r.counters.get('opcua_errors', { device: 'rtu1', reason: 'lost' }) >= 1, 'the loss is counted');
  t.equal(r.driver.health().info?.['reconnects'], 1);
  t.equal(r.driver.health().state, 'running');
});

t.test('an untrusted server certificate names the file to move; moving it lets the driver in', async (t) => {
  const srv = await server(t);
  const r = await run(t, { endpoint: srv.url, security: { mode: 'Sign' }, nodes: NODES.slice(0, 1) });
  const msg = await waitFor('untrusted certificate message', () => {
    const e = r.driver.health().lastError;
    return e && /server certificate not trusted/.test(e) ? e : undefined;
  });
  const m = /move (\S+\.pem) to (\S+)\/ /.exec(msg);
  t.ok(m, `the message names the file and the folder: ${msg}`);
  t.equal(m![2], join(r.storageDir, 'pki', 'trusted', 'certs'));
  t.ok(existsSync(m![1]!), 'the named file exists');
  t.equal(r.driver.health().state, 'degraded');
  t.ok(r.counters.get('opcua_errors', { device: 'rtu1', reason: 'untrusted_server_certificate' }) >= 1);
  renameSync(m![1]!, join(m![2]!, basename(m![1]!)));
  const v = await r.next('values once the certificate is trusted', (x) => x.v?.a?.mag === 230.5);
  t.equal(v.quality, 'good');
  t.equal(r.driver.health().info?.['securityMode'], 'Sign');
});

t.test('a wrong password: degraded, a clear message, retried with backoff', async (t) => {
  const srv = await server(t, { users: { operator: 'right' }, allowAnonymous: false });
  const r = await run(t, { endpoint: srv.url, security: { mode: 'None', username: 'operator', password: 'wrong' }, nodes: NODES.slice(0, 1) });
  await waitFor('two refused attempts', () => r.counters.get('opcua_errors', { device: 'rtu1', reason: 'session_refused' }) >= 2);
  const h = r.driver.health();
  t.equal(h.state, 'degraded');
  t.match(h.lastError, /the server refused the session for user "operator" \(Bad\w+\) — check security.username and security.password/);
  t.equal(r.got.length, 0, 'nothing emitted');
});

t.test('SignAndEncrypt with a user name', async (t) => {
  const srv = await server(t, { users: { operator: 's3cret' }, allowAnonymous: false });
  const r = await run(t, { endpoint: srv.url, security: { mode: 'SignAndEncrypt', policy: 'Basic256Sha256', username: 'operator', password: 's3cret' }, nodes: NODES }, (dir) => {
    // Trusted beforehand, as a technician would after checking the certificate.
    const trusted = join(dir, 'pki', 'trusted', 'certs');
    mkdirSync(trusted, { recursive: true });
    copyFileSync(srv.certificateFile, join(trusted, 'server.pem'));
  });
  const m = await r.next('values over SignAndEncrypt', (x) => x['mode'] === 'auto');
  t.equal(m.quality, 'good');
  const h = r.driver.health();
  t.equal(h.info?.['securityMode'], 'SignAndEncrypt');
  t.equal(h.info?.['securityPolicy'], 'Basic256Sha256');
  t.equal(h.info?.['identity'], 'username');
  t.equal(h.lastError, undefined, 'no error on the way');
});

t.test('values of one node queued in one publish response become one measurement each, in order', async (t) => {
  const srv = await server(t);
  const r = await run(t, {
    endpoint: srv.url,
    publishingInterval: 500,
    nodes: [
      { nodeId: 'ns=1;s=soc', field: 'soc', samplingInterval: 0, queueSize: 10 },
      { nodeId: 'ns=1;s=mode', field: 'mode', samplingInterval: 0 },
    ],
  });
  await r.next('first values', (m) => m['soc'] === 53.2 && m['mode'] === 'auto');
  const mark = r.got.length;
  // All within one publishing interval, so whatever the server keeps of them comes in one response.
  // node-opcua's server keeps the first change at once and then samples (its fastest rate is 50 ms),
  // so it queues 1 and 3 (and 2 if it sampled in between).
  srv.set('soc', 1);
  srv.set('soc', 2);
  srv.set('mode', 'manual');
  srv.set('soc', 3);
  const last = await r.next('soc 3', (m) => m['soc'] === 3);
  const seen = r.got.slice(mark, r.got.indexOf(last) + 1).map((m) => m['soc'] as number);
  t.ok(seen.length >= 2 && seen[0] === 1, `the first queued value has its own measurement: ${JSON.stringify(seen)}`);
  t.ok(seen.every((v, k) => k === 0 || v > seen[k - 1]!), 'in the order the server queued them');
  t.equal(last['mode'], 'manual', 'the other node changed in the same response travels along');
});

t.test('a server that does not trust this client: the message says which certificate to add there', async (t) => {
  const srv = await server(t, { trustClients: false, pki: mkdtempSync(join(tmpdir(), 'gridedge-opcua-server-')) });
  const r = await run(t, { endpoint: srv.url, security: { mode: 'Sign' }, nodes: NODES.slice(0, 1) }, (dir) => {
    const trusted = join(dir, 'pki', 'trusted', 'certs');
    mkdirSync(trusted, { recursive: true });
    copyFileSync(srv.certificateFile, join(trusted, 'server.pem'));
  });
  const msg = await waitFor('client certificate refused', () => {
    const e = r.driver.health().lastError;
    return e && /client's certificate/.test(e) ? e : undefined;
  }, { detail: () => String(r.driver.health().lastError) });
  t.match(msg, new RegExp(`the server refused this client's certificate \\(Bad\\w+\\) — add ${join(r.storageDir, 'pki', 'own', 'certs', 'client_certificate.pem').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} to the server's trusted certificates`));
  t.equal(r.driver.health().state, 'degraded');
});
