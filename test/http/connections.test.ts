/**
 * `http.maxConnections`: the real server with a cap of 3, reached over real sockets from this
 * machine's own network address (so the server sees another machine): a fourth connection from it
 * is closed at once, before any answer, counted in `http_connections_refused` and logged once; a
 * loopback client (the CLI) still gets its answers; once a connection ends another machine may
 * connect again. The open-connections gauge follows.
 */
import t from 'tap';
import { connect, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { startHttp, type HttpDeps } from '../../agent/http/index.js';
import { Counters } from '../../agent/core/counters.js';
import { sampleStatus } from './fixtures.js';
import { capturingLogger } from '../helpers/capturing-logger.js';
import { waitFor, withTimeout } from '../helpers/wait.js';
import { LOOPBACK_EXTRA } from '../../agent/http/connections.js';

const v4 = Object.values(networkInterfaces())
  .flat()
  .find((i) => i && !i.internal && i.family === 'IPv4')?.address;

/** A connection that has been accepted (connected), with what the server sends on it and when it closes. */
async function held(host: string, port: number): Promise<{ sock: Socket; got: () => string; closed: Promise<void> }> {
  const sock = connect(port, host);
  let got = '';
  sock.setEncoding('utf8').on('data', (d: string) => (got += d));
  const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
  sock.on('error', () => undefined); // a reset by the server is what some of these wait for
  await withTimeout(new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject)), `a connection to ${host}:${port}`, 10_000);
  return { sock, got: () => got, closed };
}

t.test('http.maxConnections: other machines are closed at once past it; loopback still answered', { skip: v4 ? false : 'no non-loopback IPv4 address on this machine' }, async (t) => {
  const counters = new Counters();
  const { log, lines } = capturingLogger();
  const deps: HttpDeps = { log, counters, getStatus: () => sampleStatus(), latestByDevice: () => new Map(), wsPath: '/mqtt' };
  const http = await startHttp({ host: '0.0.0.0', port: 0, maxConnections: 3 }, deps);
  t.teardown(() => http.close());
  const conns = [await held(v4!, http.port), await held(v4!, http.port), await held(v4!, http.port)];
  t.teardown(() => conns.forEach((c) => c.sock.destroy()));
  await waitFor('the server to count 3 connections', () => (counters.get('http_connections') === 3 ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 });

  const fourth = await held(v4!, http.port);
  fourth.sock.write('GET /api/v1/status HTTP/1.1\r\nHost: x\r\n\r\n');
  await withTimeout(fourth.closed, 'the server to close the fourth connection', 10_000);
  t.equal(fourth.got(), '', 'the fourth is closed without an answer');
  t.equal(counters.get('http_connections_refused'), 1, 'counted in http_connections_refused');
  t.match(lines.filter((l) => /connections open, the most http\.maxConnections allows/.test(String(l['msg']))), [{ level: 'warn', max: 3 }], 'logged once, as a warning');

  // Loopback (the CLI) is answered past the cap, up to LOOPBACK_EXTRA more.
  const local = await held('127.0.0.1', http.port);
  local.sock.write('GET /api/v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await withTimeout(local.closed, 'the answer to the loopback client', 10_000);
  t.match(local.got(), /^HTTP\/1\.1 200 /, 'a loopback client still gets its answer');

  // One remote connection ends: another machine may connect and is answered.
  conns[0]!.sock.destroy();
  await waitFor('the server to see one remote connection end', () => (counters.get('http_connections') === 2 ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 });
  const again = await held(v4!, http.port);
  t.teardown(() => again.sock.destroy());
  again.sock.write('GET /api/v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await withTimeout(again.closed, 'the answer to the new connection', 10_000);
  t.match(again.got(), /^HTTP\/1\.1 200 /, 'a new connection from another machine is answered once one ended');
  t.equal(counters.get('http_connections_refused'), 1, 'no more refused');
  t.ok(LOOPBACK_EXTRA > 0, `loopback may take ${LOOPBACK_EXTRA} more`);
});

t.test('loopback past the cap too: refused after its extra connections', async (t) => {
  const counters = new Counters();
  const { log } = capturingLogger();
  const deps: HttpDeps = { log, counters, getStatus: () => sampleStatus(), latestByDevice: () => new Map(), wsPath: '/mqtt' };
  const http = await startHttp({ host: '127.0.0.1', port: 0, maxConnections: 1 }, deps);
  t.teardown(() => http.close());
  const conns: Awaited<ReturnType<typeof held>>[] = [];
  for (let k = 0; k < 1 + LOOPBACK_EXTRA; k++) conns.push(await held('127.0.0.1', http.port));
  t.teardown(() => conns.forEach((c) => c.sock.destroy()));
  await waitFor(`the server to count ${1 + LOOPBACK_EXTRA} connections`, () => (counters.get('http_connections') === 1 + LOOPBACK_EXTRA ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 });
  t.equal(counters.get('http_connections_refused') ?? 0, 0, `loopback: the cap and ${LOOPBACK_EXTRA} more taken`);
  const over = await held('127.0.0.1', http.port);
  await withTimeout(over.closed, 'the server to close the loopback connection past its extra ones', 10_000);
  t.equal(counters.get('http_connections_refused'), 1, 'refused and counted: the extra is bounded too');
});
