/**
 * mqtt-source benchmark: a client publishes QoS 1 measurements (the gateway's own format) to
 * Debian's mosquitto and the agent's mqtt-source driver subscribes there at QoS 1. Every message is
 * acknowledged to mosquitto only after its commit, so the rate shows how many PUBACKs the driver keeps waiting on commits at once
 * (mosquitto sends at most `max_inflight_messages` unacknowledged messages to a client: measured at
 * its default, 20, and with no limit, where the driver's own bound of 1 000 applies).
 */
import mqtt from 'mqtt';
import { getJson, startAgent, type AgentProcess } from '../helpers/agent-process.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { rawPayload } from './payload.js';
import { cpuSeconds } from './proc.js';
import { round } from './figures.js';



interface DriverInfo {
  received: number;
  awaitingCommit: number;
}

/** The driver's own counters (the only driver of the agent). */
async function driverInfo(agent: AgentProcess): Promise<DriverInfo> {
  const s = await getJson<{ drivers?: { info?: Partial<DriverInfo> }[] }>(`${agent.httpUrl}/api/v1/status`);
  const i = s.drivers?.[0]?.info;
  return { received: i?.received ?? 0, awaitingCommit: i?.awaitingCommit ?? 0 };
}

/**
 * Publish `n` messages to mosquitto (1 000 in flight); done when the driver has taken them all in and
 * none waits for its commit, i.e. every one is committed and acknowledged to mosquitto. (Counted at the
 * driver, not by a subscriber of `bal/processed`: the agent's broker drops QoS 0 deliveries to a
 * subscriber that falls behind, which would be measuring the subscriber.)
 */
async function run(brokerUrl: string, agent: AgentProcess, device: string, n: number): Promise<{ perSecond: number; received: number; published: number }> {
  const before = (await driverInfo(agent)).received;
  const pub = await mqtt.connectAsync(brokerUrl, { reconnectPeriod: 0 });
  (pub.stream as unknown as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  const t0 = performance.now();
  let sent = 0;
  let inflight = 0;
  const pump = (): void => {
    while (inflight < 1000 && sent < n) {
      inflight++;
      pub.publish(`site/${device}/meas`, rawPayload(sent++, 0), { qos: 1 }, () => {
        inflight--;
        pump();
      });
    }
  };
  pump();
  let info = await driverInfo(agent);
  const deadline = t0 + 120_000;
  while ((info.received - before < n || info.awaitingCommit > 0) && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
    info = await driverInfo(agent);
  }
  const seconds = (performance.now() - t0) / 1000;
  await pub.endAsync();
  const received = info.received - before;
  return { perSecond: received / seconds, received, published: sent - inflight };
}

interface Figures {
  per_s: number;
  received: number;
  cpu_us_per_measurement: number;
  incomplete?: { published: number; driver: DriverInfo };
}

async function measure(maxInflight: number, n: number): Promise<Figures> {
  const broker = await startMosquitto({ tcpNoDelay: true, maxInflight });
  try {
    const agent = await startAgent({
      config: {
        drivers: [{ type: 'mqtt-source', id: 'bench', url: broker.url, topics: [{ filter: 'site/+/meas', device: '+' }] }],
      },
    });
    try {
      await broker.waitForLog(/ 1 site\/\+\/meas/, 'the mqtt-source subscription');
      await run(broker.url, agent, 'warm', 2000);
      const pid = agent.child.pid!;
      const c0 = cpuSeconds(pid);
      const r = await run(broker.url, agent, 'src1', n);
      const cpuUs = ((cpuSeconds(pid) - c0) / Math.max(1, r.received)) * 1e6;
      const out: Figures = { per_s: Math.round(r.perSecond), received: r.received, cpu_us_per_measurement: round(cpuUs, 1) };
      // An incomplete run says how far each side got (published: acknowledged by mosquitto).
      if (r.received < n) out.incomplete = { published: r.published, driver: await driverInfo(agent) };
      return out;
    } finally {
      await agent.stop('SIGTERM');
    }
  } finally {
    await broker.stop();
  }
}

export async function benchSource(): Promise<Record<string, unknown>> {
  const n = Math.min(Number(process.env.GRIDEDGE_BENCH_N ?? 20_000), 20_000);
  // mosquitto's default window (20 unacknowledged messages per client), then no limit (the driver's own, 1 000).
  const window20 = await measure(20, n);
  const unlimited = await measure(0, n);
  return {
    messages: n,
    source_measurements_per_s: window20.per_s,
    mosquitto_window_20: window20,
    mosquitto_window_unlimited: unlimited,
  };
}
