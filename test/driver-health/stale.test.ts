/**
 * Stale detection in the real agent: a device fed through mqtt-source (from Debian's mosquitto)
 * that stops sending becomes stale within its staleAfterMs plus the agent's one-second health
 * sweep; /api/v1/status, `gridedge status --json` (listed first, exit 1) and the text summary and
 * the status page show it; it recovers when values come back. A sim-pmu running beside it stays
 * fresh, with its expected interval (1000 / rate) in its driver health.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { startAgent, type AgentProcess } from '../helpers/agent-process.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';
import { runCli } from '../cli/run-cli.js';
import type { AgentStatus } from '../../agent/core/status-types.js';

const STALE_AFTER_MS = 1500;
/** The health sweep runs every second; the status also sweeps when it is read. */
const SWEEP_MS = 1000;

async function status(agent: AgentProcess): Promise<AgentStatus> {
  const r = await fetch(`${agent.httpUrl}/api/v1/status`);
  return (await r.json()) as AgentStatus;
}

t.test('a silent device becomes stale, is listed first, degrades the status, and recovers', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const agent = await startAgent({
    config: {
      drivers: [
        { type: 'sim-pmu', id: 'a-pmu', rate: 10 },
        { type: 'mqtt-source', id: 'src', url: broker.url, staleAfterMs: STALE_AFTER_MS, topics: [{ filter: 'm/+', device: 'z-meter-+', fields: { 'p.total': '$.P' } }] },
      ],
    },
  });
  t.teardown(() => agent.stop());
  await broker.waitForLog(/gridedge-gw-test-src-src 1 m\/\+/, 'the mqtt-source subscription');
  const pub = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  t.teardown(() => pub.endAsync());

  const publishedAt = Date.now();
  await pub.publishAsync('m/1', JSON.stringify({ P: 1 }), { qos: 1 });
  const fresh = await waitFor('z-meter-1 to have a value', async () => {
    const s = await status(agent);
    return s.devices.find((d) => d.device === 'z-meter-1' && d.stale === false) ? s : undefined;
  }, { intervalMs: 50 });
  const seenFreshAt = Date.now();
  t.equal(fresh.health, 'healthy', 'healthy while every device sends');
  const pmuDriver = fresh.drivers.find((d) => d.id === 'a-pmu')!;
  t.match(pmuDriver.driverHealth, { connected: true, devices: [{ device: 'a-pmu', stale: false, expectedIntervalMs: 100, staleAfterMs: 300 }] }, 'sim-pmu: interval 1000 / rate, threshold 3 ×');
  t.ok(pmuDriver.driverHealth!.reads > 0, 'sim-pmu reads counted');

  // Stop sending: the device turns stale after STALE_AFTER_MS, seen within one sweep after that.
  const stale = await waitFor('z-meter-1 to become stale', async () => {
    const s = await status(agent);
    return s.devices.find((d) => d.device === 'z-meter-1')?.stale ? s : undefined;
  }, { intervalMs: 50, timeoutMs: 10_000 });
  // The value arrived between publishedAt and seenFreshAt.
  const now = Date.now();
  t.ok(now - publishedAt >= STALE_AFTER_MS, `not stale before staleAfterMs (${now - publishedAt} ms after the publish)`);
  t.ok(now - seenFreshAt <= STALE_AFTER_MS + SWEEP_MS + 1500, `stale within staleAfterMs + one sweep + slack (${now - seenFreshAt} ms after it was seen fresh)`);
  const d0 = stale.devices[0]!;
  t.match(d0, { device: 'z-meter-1', stale: true, reason: 'stale', driver: 'src' }, 'the stale device is listed first although its name sorts last');
  t.ok(d0.ageMs! > STALE_AFTER_MS && d0.ageMs! <= STALE_AFTER_MS + SWEEP_MS + 1500, `ageMs ${d0.ageMs} is past the threshold, by at most a sweep and slack`);
  t.equal(stale.health, 'degraded');
  t.ok(stale.problems.some((p) => /device z-meter-1 \(driver src\) is stale/.test(p)), 'named in problems');
  t.match(stale.staleDevices, [{ device: 'z-meter-1', reason: 'stale', staleAfterMs: STALE_AFTER_MS }]);
  t.equal((stale.counters['device_stale_total'] as Record<string, number>)['driver=src'], 1, 'the transition is counted');
  t.equal(stale.counters['devices_stale'], 1, 'devices_stale gauge');

  const json = await runCli(['status', '--url', agent.httpUrl, '--json']);
  t.equal(json.code, 1, 'gridedge status --json exits 1 (degraded)');
  const doc = JSON.parse(json.stdout) as AgentStatus;
  t.equal(doc.devices[0]!.device, 'z-meter-1', 'listed first in --json');
  t.equal(doc.devices[0]!.stale, true);
  const text = await runCli(['status', '--url', agent.httpUrl]);
  t.equal(text.code, 1, 'gridedge status exits 1');
  const devLines = text.stdout.split('\n').slice(text.stdout.split('\n').indexOf('Devices') + 1);
  t.match(devLines[0], /z-meter-1\s+STALE good/, 'the text summary lists it first, marked STALE');
  const page = await (await fetch(`${agent.httpUrl}/`)).text();
  t.match(page, /z-meter-1 \(stale\)/, 'the status page marks it in the drivers table');
  t.match(page, /class="q invalid stale">stale</, 'and in the devices table');

  // Values come back: it recovers and the status is healthy again.
  await pub.publishAsync('m/1', JSON.stringify({ P: 2 }), { qos: 1 });
  const back = await waitFor('z-meter-1 to recover', async () => {
    const s = await status(agent);
    const d = s.devices.find((x) => x.device === 'z-meter-1');
    return d && d.stale === false && s.health === 'healthy' ? s : undefined;
  }, { intervalMs: 50 });
  t.equal(back.counters['devices_stale'], 0, 'no stale device now');
  t.equal((back.counters['device_stale_total'] as Record<string, number>)['driver=src'], 1, 'still one transition');
  t.equal((await runCli(['status', '--url', agent.httpUrl, '--json'])).code, 0, 'gridedge status exits 0 again');
});
