/**
 * The notify protocol against the real agent process and a real AF_UNIX datagram socket made by
 * the test (as systemd's manager would hold it): READY=1 once the broker listens, the buffer is open
 * and the drivers started; STATUS lines; WATCHDOG=1 pings at half WATCHDOG_USEC; no pings while
 * the pipeline is stalled (another process holds the buffer's write lock), pings again after;
 * STOPPING=1 on SIGTERM. Plus the liveness rule on its own with an injected clock.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { connect } from 'node:net';
import t from 'tap';
import { pino } from 'pino';
import { Counters } from '../../agent/core/counters.js';
import { PipelineLiveness, SdNotifier, type NotifyTransport } from '../../agent/core/sd-notify.js';
import { startAgent } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/wait.js';
import { NotifySocket, type Datagram } from './notify-socket.js';

const silent = pino({ level: 'silent' });

t.test('agent under a notify socket: READY, STATUS, WATCHDOG, stall withholds pings, STOPPING', async (t) => {
  const sock = new NotifySocket();
  t.teardown(() => sock.close());
  const agent = await startAgent({
    config: { drivers: [{ type: 'sim-pmu', id: 'pmu1', rate: 50 }] },
    // 1 s watchdog: a ping every 500 ms; a stall is declared after 500 ms without a commit.
    env: { NOTIFY_SOCKET: sock.path, WATCHDOG_USEC: '1000000' },
  });
  t.teardown(() => agent.stop('SIGKILL'));
  const on: [NotifySocket, string][] = [[sock, 'datagram']];

  const ready = await waitFor('READY=1 on the notify socket', () => sock.with('READY', '1')[0], { on });
  t.equal(sock.received[0], ready, 'READY=1 is the first datagram');
  t.equal(ready.fields['MAINPID'], String(agent.child.pid), 'MAINPID is the agent process');
  t.match(ready.fields['STATUS'], /^(healthy|degraded), drivers 1\/1 running, broker \d+ clients, buffer \d+ rows, forwarders 0\/0 connected/);
  // By READY the broker listens: a TCP connection to its port is accepted.
  await new Promise<void>((resolve, reject) => {
    const s = connect(agent.mqttPort, '127.0.0.1', () => {
      s.destroy();
      resolve();
    });
    s.on('error', reject);
  });

  const pings = await waitFor('3 WATCHDOG=1 pings', () => sock.with('WATCHDOG', '1').length >= 3 && sock.with('WATCHDOG', '1'), { on });
  const gaps = pings.slice(1).map((p, i) => p.at - pings[i]!.at);
  for (const g of gaps) t.ok(g >= 300 && g <= 1000, `pings about every 500 ms (gap ${g} ms)`);

  // Stall the pipeline: another process takes the buffer's write lock, so the writer cannot commit.
  const db = new Database(join(agent.dir, 'data', 'buffer.db'), { timeout: 5000 });
  t.teardown(() => db.close());
  db.exec('BEGIN EXCLUSIVE');
  const lockedAt = Date.now();
  // (A stall reported earlier, e.g. a slow fsync on a busy machine, does not count: only after the lock.)
  const stalled = await waitFor('STATUS=stalled: ... after the lock', () => sock.received.find((d) => d.at >= lockedAt && /^stalled: pipeline stalled/.test(d.fields['STATUS'] ?? '')), { on });
  // Three more watchdog ticks withheld (each is logged), and no ping sent in between.
  const withheld = () => agent.logs.filter((l) => l.msg === 'watchdog ping withheld').length;
  const base = withheld();
  await waitFor('3 more withheld watchdog ticks', () => withheld() >= base + 3, { intervalMs: 20, timeoutMs: 10_000 });
  const during = sock.with('WATCHDOG').filter((d) => d.at > stalled.at);
  t.same(during.map((d) => d.at - lockedAt), [], 'no WATCHDOG=1 while the pipeline is stalled (ms after the lock)');

  // Release the lock: commits resume, and so do the pings.
  db.exec('ROLLBACK');
  const released = Date.now();
  await waitFor('WATCHDOG=1 after the stall', () => sock.with('WATCHDOG').some((d: Datagram) => d.at >= released), { on });
  t.pass('pings resume once the buffer commits again');

  const exit = await agent.stop('SIGTERM');
  t.equal(exit.code, 0, 'clean exit');
  t.ok(sock.with('STOPPING', '1').length === 1, 'STOPPING=1 sent once on SIGTERM');
});

t.test('without NOTIFY_SOCKET nothing is sent and nothing fails', async (t) => {
  const n = new SdNotifier({ env: {}, log: silent });
  t.equal(n.enabled, false);
  t.equal(await n.ready('x'), false);
  t.equal(n.watchdogIntervalMs, null);
  n.startWatchdog(() => null);
  n.close();
});

t.test('WATCHDOG_PID for another process: no watchdog; a failing socket is counted', async (t) => {
  const sent: string[] = [];
  let fail = false;
  const transport: NotifyTransport = {
    send: async (m) => {
      if (fail) throw new Error('ECONNREFUSED');
      sent.push(m);
    },
    close: () => undefined,
  };
  const other = new SdNotifier({ env: { NOTIFY_SOCKET: '/x', WATCHDOG_USEC: '2000000', WATCHDOG_PID: '1' }, log: silent, transport, pid: 42 });
  t.equal(other.watchdogIntervalMs, null, 'the watchdog belongs to PID 1, not us');
  const counters = new Counters();
  const mine = new SdNotifier({ env: { NOTIFY_SOCKET: '/x', WATCHDOG_USEC: '2000000', WATCHDOG_PID: '42' }, log: silent, transport, pid: 42, counters });
  t.equal(mine.watchdogIntervalMs, 1000);
  t.equal(await mine.status('a\nb'), true);
  t.same(sent, ['STATUS=a b'], 'STATUS is one line');
  t.equal(await mine.status('a\nb'), true);
  t.equal(sent.length, 1, 'an unchanged STATUS is not sent again');
  fail = true;
  t.equal(await mine.notify('WATCHDOG=1'), false);
  t.equal(counters.get('sd_notify_errors'), 1);
  t.same(counters.uncatalogued(), []);
});

t.test('PipelineLiveness: idle is alive, processed-but-not-stored beyond stallMs is stuck, a commit or counted failure settles', async (t) => {
  const counters = new Counters();
  let now = 1000;
  let commit: (() => void) | null = null;
  const lv = new PipelineLiveness({ counters, now: () => now, onCommit: (l) => ((commit = l), () => (commit = null)) }, 500);
  t.equal(lv.check(), null, 'idle');
  counters.inc('processed', undefined, 10);
  t.equal(lv.check(), null, 'pending, not yet for stallMs');
  now += 499;
  t.equal(lv.check(), null);
  now += 1;
  t.match(lv.check(), /^pipeline stalled: 10 measurements processed but not stored for 500 ms$/);
  commit!();
  t.equal(lv.check(), null, 'a commit settles');
  counters.inc('processed');
  lv.check();
  now += 600;
  t.not(lv.check(), null);
  counters.inc('dropped', { reason: 'store_unavailable' });
  t.equal(lv.check(), null, 'a counted failure to store (disk full) is degraded, not stuck');
  lv.close();
  t.equal(commit, null, 'close unsubscribes');
});
