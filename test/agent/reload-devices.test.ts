/**
 * A SIGHUP reload that removes a driver and restarts another with fewer devices, on the real agent
 * process with a real MQTT client publishing a device of its own. The devices the stopped drivers
 * produced leave the device list at once (`/api/v1/devices`, `/api/v1/devices/{id}`, the status
 * document), raise no stale problem, and are counted (`devices_removed`) and logged by name; the
 * restarted driver's remaining device comes back with its next value; the kept driver's device and
 * the MQTT client's device stay. Before the fix, the devices of a removed driver stayed in the list
 * (with their last values, growing older) until `pipeline.maxDevices` forgot them.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import mqtt from 'mqtt';
import t from 'tap';
import { startAgent, getJson } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/wait.js';
import { openSse } from '../page/sse.js';

interface Status {
  problems: string[];
  devices: { device: string }[];
  staleDevices: { device: string }[];
  counters: Record<string, unknown>;
}
const names = async (url: string): Promise<string[]> =>
  (await getJson<{ items: { device: string }[] }>(`${url}/api/v1/devices`)).items.map((d) => d.device);

t.test('reload: the devices of a removed or restarted driver leave the device list; MQTT-client devices stay', async (t) => {
  const agent = await startAgent({
    config: {
      drivers: [
        { type: 'sim-pmu', id: 'keep', rate: 10 },
        { type: 'sim-pmu', id: 'gone', rate: 10, staleAfterMs: 500 },
        { type: 'sim-pmu', id: 'fleet', rate: 10, count: 3 },
      ],
    },
  });
  t.teardown(() => agent.stop('SIGKILL'));
  const client = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'reload-devices-meter', reconnectPeriod: 0 });
  t.teardown(() => client.endAsync(true));
  await client.publishAsync('bal/raw/meter', JSON.stringify({ device: 'meter', ts: Date.now() * 1000, quality: 'good', p: { total: 1 } }), { qos: 1 });
  const all = ['fleet-1', 'fleet-2', 'fleet-3', 'gone', 'keep', 'meter'];
  await waitFor('every device listed', async () => JSON.stringify(await names(agent.httpUrl)) === JSON.stringify(all), { intervalMs: 50 });

  // Two event streams, as pages keep them open across the reload: every device, and one narrowed to
  // "keep" (the others as summaries). Each must say which devices left, so a page drops their cards.
  const stream = await openSse(`${agent.httpUrl}/api/v1/events`);
  const narrow = await openSse(`${agent.httpUrl}/api/v1/events?devices=keep`);
  t.teardown(() => {
    stream.close();
    narrow.close();
  });
  await stream.waitFor('the stream to send "gone"', (e) => e.event === 'device' && e.data.includes('"device":"gone"'));
  await narrow.waitFor('a summary of "gone"', (e) => e.event === 'summary' && e.data.includes('"device":"gone"'));

  const cfg = JSON.parse(readFileSync(agent.configFile, 'utf8')) as Record<string, unknown>;
  cfg['drivers'] = [
    { type: 'sim-pmu', id: 'keep', rate: 10 },
    { type: 'sim-pmu', id: 'fleet', rate: 10, count: 1 }, // restarted, now one device named "fleet"
  ];
  writeFileSync(agent.configFile, JSON.stringify(cfg));
  agent.child.kill('SIGHUP');
  const applied = await agent.waitForLog((l) => l.msg === 'config reloaded', 'the reload applied');
  t.same([applied['removed'], applied['restarted']], [['driver gone'], ['driver fleet']], 'gone removed, fleet restarted');
  const keepReads = async (): Promise<number> =>
    ((await getJson<Status>(`${agent.httpUrl}/api/v1/status`)).counters['driver_reads'] as Record<string, number>)['driver=keep'] ?? 0;
  const readsAtReload = await keepReads();
  const left = agent.logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('config reload: 4 device(s) of the stopped drivers left the device list'));
  t.same(left?.['devices'], ['fleet-1', 'fleet-2', 'fleet-3', 'gone'], 'the devices that left are logged by name');

  const right = await names(agent.httpUrl);
  for (const d of ['gone', 'fleet-1', 'fleet-2', 'fleet-3']) t.notOk(right.includes(d), `${d} is off the list right after the reload`);
  t.ok(right.includes('keep') && right.includes('meter'), `the kept driver's and the MQTT client's devices stay: ${right.join(', ')}`);
  for (const [what, sse] of [['every device', stream], ['narrowed', narrow]] as const) {
    const removed = await sse.waitFor(`event: removed for the 4 devices (${what})`, (e) => e.event === 'removed', 4);
    t.same(removed.map((e) => (JSON.parse(e.data) as { device: string }).device).sort(), ['fleet-1', 'fleet-2', 'fleet-3', 'gone'], `the stream (${what}) names the devices that left`);
  }
  const one = await fetch(`${agent.httpUrl}/api/v1/devices/gone`);
  t.equal(one.status, 404, 'GET /api/v1/devices/gone: 404');

  await waitFor('the restarted driver\'s device back', async () => (await names(agent.httpUrl)).includes('fleet'), { intervalMs: 50 });
  // Past the removed driver's staleAfterMs (500 ms), measured by the kept driver's values (10 a second):
  // 8 more of them is 0.7 s at least. The status holds no trace of the removed devices.
  await waitFor('8 more values of the kept driver', async () => (await keepReads()) >= readsAtReload + 8, { intervalMs: 100 });
  const s = await getJson<Status>(`${agent.httpUrl}/api/v1/status`);
  t.same(s.devices.map((d) => d.device).sort(), ['fleet', 'keep', 'meter'], 'the status lists the devices that still report');
  t.notOk(s.problems.some((p) => /gone|fleet-/.test(p)), `no problem names a removed device: ${s.problems.join('; ')}`);
  t.same(s.staleDevices, [], 'no stale device');
  t.equal(s.counters['devices_removed'], 4, 'counted in devices_removed');
  t.same(await names(agent.httpUrl), ['fleet', 'keep', 'meter'], 'the device list after the reload');
  const exit = await agent.stop('SIGTERM');
  t.equal(exit.code, 0, 'clean exit');
});
