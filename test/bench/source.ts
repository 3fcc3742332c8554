/**
 * mqtt-source benchmark: a client publishes QoS 1 measurements (the gateway's own format) to
 * Debian's mosquitto, the agent's mqtt-source driver subscribes there at QoS 1, and a subscriber on
 * the agent's broker receives `bal/processed`. Every message is acknowledged to mosquitto only after
 * its commit, so the rate shows how many PUBACKs the driver keeps waiting on commits at once
 * (mosquitto sends at most `max_inflight_messages` unacknowledged messages to a client: measured at
 * its default, 20, and with no limit, where the driver's own bound of 1 000 applies).
 */
import mqtt from 'mqtt';
import { getJson, startAgent, type AgentProcess } from '../helpers/agent-process.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { cpuSeconds } from './proc.js';

const round = (x: number): number => Math.round(x * 10) / 10;

function payload(k: number): string {
  return JSON.stringify({
    ts: Date.now() * 1000,
    quality: 'good',
    k,
    v: { a: { mag: 230.1, ang: 0.1 }, b: { mag: 229.8, ang: -119.9 }, c: { mag: 230.4, ang: 120.2 } },
    i: { a: { mag: 101.2, ang: -18.1 }, b: { mag: 98.7, ang: -138.2 }, c: { mag: 102.3, ang: 101.9 } },
  });
}

/** Publish `n` messages to mosquitto (1 000 in flight); resolve when the agent's subscriber has them all. */
async function run(brokerUrl: string, agentUrl: string, device: string, n: number): Promise<{ perSecond: number; received: number; ordered: boolean; published: number }> {
  const sub = await mqtt.connectAsync(agentUrl, { reconnectPeriod: 0 });
  const pub = await mqtt.connectAsync(brokerUrl, { reconnectPeriod: 0 });
  (pub.stream as unknown as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  // QoS 1: the agent's broker drops QoS 0 deliveries to a subscriber that falls behind, and this one
  // parses every message to check the order.
  await sub.subscribeAsync(`bal/processed/${device}`, { qos: 1 });
  let received = 0;
  let last = -1;
  let ordered = true;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((r) => (finish = r));
  sub.on('message', (_t, p) => {
    const k = (JSON.parse(p.toString()) as { k: number }).k;
    if (k <= last) ordered = false;
    last = k;
    if (++received >= n) finish();
  });
  const t0 = performance.now();
  let sent = 0;
  let inflight = 0;
  const pump = (): void => {
    while (inflight < 1000 && sent < n) {
      inflight++;
      pub.publish(`site/${device}/meas`, payload(sent++), { qos: 1 }, () => {
        inflight--;
        pump();
      });
    }
  };
  pump();
  const timeout = new Promise<void>((r) => setTimeout(r, 120_000).unref());
  await Promise.race([done, timeout]);
  const seconds = (performance.now() - t0) / 1000;
  await Promise.all([sub.endAsync(), pub.endAsync()]);
  return { perSecond: received / seconds, received, ordered, published: sent - inflight };
}

/** The driver's own counters, to tell where a run that did not complete stopped. */
async function driverInfo(agent: AgentProcess): Promise<unknown> {
  const s = await getJson<{ drivers?: { info?: unknown }[] }>(`${agent.httpUrl}/api/v1/status`);
  return s.drivers?.[0]?.info ?? null;
}

interface Figures {
  per_s: number;
  received: number;
  in_order: boolean;
  cpu_us_per_measurement: number;
  incomplete?: { published: number; driver: unknown };
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
      await run(broker.url, agent.mqttUrl, 'warm', 2000);
      const pid = agent.child.pid!;
      const c0 = cpuSeconds(pid);
      const r = await run(broker.url, agent.mqttUrl, 'src1', n);
      const cpuUs = ((cpuSeconds(pid) - c0) / Math.max(1, r.received)) * 1e6;
      const out: Figures = { per_s: Math.round(r.perSecond), received: r.received, in_order: r.ordered, cpu_us_per_measurement: round(cpuUs) };
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
