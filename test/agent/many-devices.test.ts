/**
 * Many devices: the agent keeps at most pipeline.maxDevices (more are rejected and counted), the
 * status document lists at most 200 of them with the total, and the page renders at most 50 rows
 * of devices, so neither grows with what a client sends.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { getJson, startAgent } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/wait.js';

t.test('a flood of device names is bounded in memory, status and page', async (t) => {
  const agent = await startAgent({ config: { pipeline: { maxDevices: 300 }, stats: { enabled: false } } });
  t.teardown(() => agent.stop('SIGKILL'));
  const pub = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'flood' });
  t.teardown(() => pub.end(true));
  const ts = Date.now() * 1000;
  await Promise.all(Array.from({ length: 400 }, (_, k) => pub.publishAsync(`bal/raw/dev${String(k).padStart(4, '0')}`, JSON.stringify({ ts, freq: 50 }), { qos: 1 })));
  const st = await waitFor(
    'the device limit counted 100 times',
    async () => {
      const s = await getJson<{ devices: { device: string }[]; devicesTotal: number; counters: Record<string, Record<string, number>> }>(`${agent.httpUrl}/api/v1/status`);
      return s.counters['rejected']?.['reason=too_many_devices'] === 100 ? s : undefined;
    },
    { timeoutMs: 15_000 },
  );
  t.equal(st.devicesTotal, 300, 'the agent knows 300 devices');
  t.equal(st.devices.length, 200, 'the status lists 200');
  t.equal(st.devices[0]!.device, 'dev0000', 'the first by name');
  const page = await (await fetch(`${agent.httpUrl}/`)).text();
  t.equal(page.match(/<tr class="dev">/g)?.length, 50, 'the page renders 50 device rows');
  t.match(page, /250 more devices not shown/);
  t.ok(page.length < 200_000, `the page stays small (${page.length} bytes)`);
});
