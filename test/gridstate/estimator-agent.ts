/**
 * The live estimator tests' set-up: case14's reference measurements as one SCADA device (`scada`,
 * field m<k> for measurement k, from MATPOWER's solved case14 in ./fixtures), and a real agent
 * estimating from them with an MQTT subscriber on bal/processed/estimator/state.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Test } from 'tap';
import type { EstimatorConfig, EstimatorState } from '../../agent/analyzers/estimator/index.js';
import { startAgent, type AgentProcess } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/wait.js';
import { casePath, loadCase, reference, referenceMeasurements } from './fixtures.js';

const full = referenceMeasurements(loadCase('case14'), reference('case14'));
/** One SCADA device carrying every measurement as field m<k>. */
export const scadaMapping: EstimatorConfig['measurements'] = full.map((z, k) => ({
  device: 'scada',
  field: `m${k}`,
  type: z.type as EstimatorConfig['measurements'][number]['type'],
  sigma: z.sigma,
  ...(z.bus !== undefined ? { bus: z.bus } : { branch: z.branch!, end: z.end as 'from' | 'to' }),
}));
/** The measured values, as the fields of one `scada` message. */
export const scadaValues: Record<string, number> = Object.fromEntries(full.map((z, k) => [`m${k}`, z.value]));

export interface EstimatorAgent {
  agent: AgentProcess;
  /** A client to publish on bal/raw/scada. */
  pub: MqttClient;
  /** The first state published from now on that satisfies `pred` (15 s at most, else fails naming `what`). */
  next(what: string, pred: (s: EstimatorState) => boolean): Promise<EstimatorState>;
}

/** An agent estimating case14 every 0.2 s from `scada` (inputs up to 30 s old); `config` is laid over that. Stopped at the test's end. */
export async function startEstimatorAgent(t: Test, config: Record<string, unknown> = {}): Promise<EstimatorAgent> {
  const agent = await startAgent({ config: { estimator: { network: casePath('case14'), intervalS: 0.2, maxAgeS: 30, measurements: scadaMapping }, ...config } });
  t.teardown(() => agent.stop('SIGKILL'));
  const sub = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'se-sub' });
  const pub = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'se-pub' });
  t.teardown(() => {
    sub.end(true);
    pub.end(true);
  });
  const states: EstimatorState[] = [];
  sub.on('message', (_topic, payload) => states.push(JSON.parse(payload.toString()) as EstimatorState));
  await sub.subscribeAsync('bal/processed/estimator/state');
  const next = (what: string, pred: (s: EstimatorState) => boolean): Promise<EstimatorState> => {
    const from = states.length;
    return waitFor(what, () => states.slice(from).find(pred), { timeoutMs: 15_000, detail: () => JSON.stringify(states.at(-1))?.slice(0, 300) ?? 'nothing published' });
  };
  return { agent, pub, next };
}
