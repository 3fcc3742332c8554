/**
 * SIGTERM while a SIGHUP reload is still stopping the plugins it replaces (a forwarder whose upstream
 * never acknowledges takes up to the reload's deadline to stop). The agent stops cleanly: the reload
 * starts nothing once the agent is stopping, no new forwarder connects upstream, nothing is logged
 * as reloaded after "gridedge stopping", and the process exits on its own (not by the stop budget).
 * Before the fix, the reload went on after the stop: it started the new forwarders on the closed
 * buffer ("buffer ... is closed"), they connected upstream after "gridedge stopped", and the
 * process only ended when the stop budget ran out ("clean stop took too long").
 */
import { readFileSync, writeFileSync } from 'node:fs';
import t from 'tap';
import { startAgent, getJson } from '../helpers/agent-process.js';
import { hangingUpstream } from '../helpers/hanging-mqtt.js';
import { waitFor } from '../helpers/wait.js';

t.test('SIGTERM during a reload: the reload starts nothing, the agent stops cleanly', async (t) => {
  const up = await hangingUpstream();
  t.teardown(() => up.server.close());
  const fwd = (id: string, keepalive: number) => ({ type: 'mqtt', id, url: `mqtt://127.0.0.1:${up.port}`, keepalive, map: [{ from: 'bal/processed/#', to: 'x/#' }] });
  const agent = await startAgent({ config: { drivers: [{ type: 'sim-pmu', id: 'p', rate: 50 }], forwarders: [fwd('f', 30)] } });
  t.teardown(() => agent.stop('SIGKILL'));
  // Forwarder f has sends in flight that the upstream never acknowledges: its stop takes a while.
  await waitFor('forwarder f connected with unacknowledged rows', async () => {
    const s = await getJson<{ forwarders: { id: string; connected: boolean; lag: number }[] }>(`${agent.httpUrl}/api/v1/status`);
    const f = s.forwarders.find((x) => x.id === 'f');
    return f?.connected === true && f.lag > 0;
  }, { intervalMs: 50 });
  t.equal(up.connections(), 1, 'one upstream connection so far');

  const cfg = JSON.parse(readFileSync(agent.configFile, 'utf8')) as Record<string, unknown>;
  cfg['forwarders'] = [fwd('f', 31), fwd('g', 30)];
  cfg['drivers'] = [{ type: 'sim-pmu', id: 'p', rate: 50 }, { type: 'sim-pmu', id: 'q', rate: 50 }];
  writeFileSync(agent.configFile, JSON.stringify(cfg));
  agent.child.kill('SIGHUP');
  await agent.waitForLog((l) => l.msg === 'SIGHUP: reloading the config', 'the reload to begin');
  agent.child.kill('SIGTERM');
  const exit = await agent.exited;
  t.equal(exit.code, 0, 'clean exit');
  const msgs = agent.logs.map((l) => l.msg ?? '');
  const stopping = msgs.indexOf('gridedge stopping');
  t.ok(stopping >= 0, 'the agent logged that it stops');
  t.notOk(msgs.slice(stopping).includes('config reloaded'), 'no reload applied once stopping');
  t.ok(
    agent.logs.slice(stopping).some((l) => l.msg === 'config reload abandoned: the agent is stopping'),
    'the reload says it was abandoned',
  );
  t.notOk(msgs.includes('clean stop took too long; exiting'), 'the stop ended within its budget');
  t.notOk(agent.logs.some((l) => /is closed/.test(JSON.stringify(l['err'] ?? ''))), 'nothing used the closed buffer');
  t.equal(up.connections(), 1, 'no forwarder connected upstream after the stop began');
});
