/**
 * SIGHUPs close together under a real notify socket (systemd's Type=notify-reload contract: every
 * reload is RELOADING=1 with MONOTONIC_USEC, then READY=1). The first reload is slow (it stops a
 * forwarder whose upstream never acknowledges, which takes up to the reload's stop deadline); two
 * more SIGHUPs arrive while it runs. They queue one more reload, which runs after the first with its
 * own RELOADING=1/READY=1 pair; the second of them is merged into it (logged). Before the fix, the
 * three SIGHUPs sent three RELOADING=1 at once, the first reload's end sent three READY=1, and the
 * queued reload then ran with no notification at all.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import t from 'tap';
import { startAgent, getJson } from '../helpers/agent-process.js';
import { hangingUpstream } from '../helpers/hanging-mqtt.js';
import { waitFor } from '../helpers/wait.js';
import { NotifySocket } from './notify-socket.js';

t.test('SIGHUPs during a reload: one more reload after it, with its own RELOADING=1/READY=1 pair', async (t) => {
  const sock = new NotifySocket();
  t.teardown(() => sock.close());
  const up = await hangingUpstream();
  t.teardown(() => up.server.close());
  const fwd = (keepalive: number) => ({ type: 'mqtt', id: 'f', url: `mqtt://127.0.0.1:${up.port}`, keepalive, map: [{ from: 'bal/processed/#', to: 'x/#' }] });
  const agent = await startAgent({
    config: { drivers: [{ type: 'sim-pmu', id: 'p', rate: 50 }], forwarders: [fwd(30)] },
    env: { NOTIFY_SOCKET: sock.path },
  });
  t.teardown(() => agent.stop('SIGKILL'));
  const on: [NotifySocket, string][] = [[sock, 'datagram']];
  await waitFor('READY=1 after the start', () => sock.with('READY', '1').length === 1, { on });
  // Forwarder f has sends in flight that are never acknowledged: stopping it takes the reload's deadline.
  await waitFor('forwarder f connected with unacknowledged rows', async () => {
    const s = await getJson<{ forwarders: { id: string; connected: boolean; lag: number }[] }>(`${agent.httpUrl}/api/v1/status`);
    const f = s.forwarders.find((x) => x.id === 'f');
    return f?.connected === true && f.lag > 0;
  }, { intervalMs: 50 });

  const cfg = JSON.parse(readFileSync(agent.configFile, 'utf8')) as Record<string, unknown>;
  cfg['forwarders'] = [fwd(31)]; // changed: restarted, so the reload waits for f to stop
  writeFileSync(agent.configFile, JSON.stringify(cfg));
  agent.child.kill('SIGHUP');
  await waitFor('RELOADING=1 of the first reload', () => sock.with('RELOADING', '1').length === 1, { on });
  agent.child.kill('SIGHUP');
  // (A signal sent before the last one was handled may be merged with it by the kernel: one at a time.)
  await agent.waitForLog((l) => l.msg === 'reload requested while one runs: it runs once the current one is done', 'the second SIGHUP queued');
  agent.child.kill('SIGHUP');
  await agent.waitForLog((l) => /merged into the one already queued/.test(l.msg ?? ''), 'the third SIGHUP merged into the queued reload');
  const reloaded = () => agent.logs.filter((l) => l.msg === 'config reloaded');
  await waitFor('two reloads applied', () => reloaded().length === 2, { intervalMs: 20 });
  await waitFor('READY=1 after the second reload', () => sock.with('READY', '1').length === 3, { on });
  t.same(reloaded()[0]?.['restarted'], ['forwarder f'], 'the first reload restarted the changed forwarder');
  t.same(reloaded()[1]?.['kept'], ['driver p', 'forwarder f'], 'the queued reload read the file again (nothing changed)');

  const exit = await agent.stop('SIGTERM');
  t.equal(exit.code, 0, 'clean exit');
  t.equal(reloaded().length, 2, 'three SIGHUPs, two reloads');
  const lifecycle = sock.received.filter((d) => 'READY' in d.fields || 'RELOADING' in d.fields || 'STOPPING' in d.fields);
  t.same(
    lifecycle.map((d) => Object.keys(d.fields).find((k) => k === 'READY' || k === 'RELOADING' || k === 'STOPPING')),
    ['READY', 'RELOADING', 'READY', 'RELOADING', 'READY', 'STOPPING'],
    'each reload is its own RELOADING=1 … READY=1 pair',
  );
  const usec = sock.with('RELOADING', '1').map((d) => BigInt(d.fields['MONOTONIC_USEC'] ?? '0'));
  t.ok(usec.length === 2 && usec[0]! > 0n && usec[1]! > usec[0]!, `each RELOADING=1 has its own MONOTONIC_USEC (${usec.join(', ')})`);
  for (const d of sock.with('READY', '1').slice(1)) t.match(d.fields['STATUS'], /; reloaded$/, 'READY=1 after a reload carries its result');
});
