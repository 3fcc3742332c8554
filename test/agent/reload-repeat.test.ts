/**
 * Many SIGHUP reloads against the real agent process, as an operator does over months: each one
 * restarts a driver and a forwarder (changed options). A stopped instance must be let go: nothing of
 * it stays attached to the running agent. Before the fix, every started driver and forwarder added
 * an 'abort' listener to the agent's one stop signal and never removed it, so each reload kept the
 * stopped instances reachable for the life of the process; Node says so with a
 * MaxListenersExceededWarning on stderr once eleven are attached.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import t from 'tap';
import { startAgent, getJson } from '../helpers/agent-process.js';
import { refusedPort } from '../helpers/ports.js';

const RELOADS = 15;

t.test('reloads that restart a driver and a forwarder leave no listener behind', async (t) => {
  const dead = await refusedPort();
  const fwd = (keepalive: number) => ({ type: 'mqtt', id: 'up', url: `mqtt://127.0.0.1:${dead}`, keepalive, reconnectMinMs: 100, reconnectMaxMs: 200, map: [{ from: 'bal/processed/#', to: 'x/#' }] });
  const agent = await startAgent({ config: { drivers: [{ type: 'sim-pmu', id: 'pmu', rate: 10 }], forwarders: [fwd(30)] } });
  t.teardown(() => agent.stop('SIGKILL'));
  const cfg = JSON.parse(readFileSync(agent.configFile, 'utf8')) as Record<string, unknown>;
  for (let k = 1; k <= RELOADS; k++) {
    cfg['drivers'] = [{ type: 'sim-pmu', id: 'pmu', rate: 10 + (k % 2) }];
    cfg['forwarders'] = [fwd(30 + (k % 2))];
    writeFileSync(agent.configFile, JSON.stringify(cfg));
    const have = agent.logs.filter((l) => l.msg === 'config reloaded').length;
    agent.child.kill('SIGHUP');
    const applied = await agent.waitForLog(() => agent.logs.filter((l) => l.msg === 'config reloaded').length > have, `reload #${k} applied`);
    t.same(applied['restarted'], ['driver pmu', 'forwarder up'], `reload #${k} restarted both`);
  }
  // The last one runs, and the process says nothing about leaking listeners.
  const s = await getJson<{ drivers: { id: string }[]; forwarders: { id: string }[] }>(`${agent.httpUrl}/api/v1/status`);
  t.same([s.drivers.map((d) => d.id), s.forwarders.map((f) => f.id)], [['pmu'], ['up']], 'one driver and one forwarder after the reloads');
  const exit = await agent.stop('SIGTERM');
  t.equal(exit.code, 0, 'clean exit');
  t.notMatch(agent.stderr(), /MaxListenersExceededWarning/, `no listener leak warning on stderr: ${agent.stderr().slice(0, 400)}`);
});
