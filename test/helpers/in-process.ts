/**
 * An agent in this test process (not a child): for tests that add plugins to the registry or read
 * the agent's counters directly. It binds port 0 for MQTT and HTTP, keeps its data in a temp dir,
 * and is stopped at the end of the test.
 */
import mqtt from 'mqtt';
import { Agent } from '../../agent/agent.js';
import { loadConfig } from '../../agent/config/index.js';
import { createLogger } from '../../agent/core/logger.js';
import { registry as defaultRegistry, type PluginRegistry } from '../../agent/registry.js';
import { tempDir } from './agent-process.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface InProcessAgent {
  agent: Agent;
  mqttUrl: string;
  httpUrl: string;
  /** An mqtt.js client connected to it (ended at teardown). */
  client(clientId: string): Promise<mqtt.MqttClient>;
}

/** Load `doc` (over port 0 and a temp storage dir) with `registry`, start the agent. */
export async function startInProcess(t: Teardown, doc: Record<string, unknown>, registry: PluginRegistry = defaultRegistry): Promise<InProcessAgent> {
  const r = loadConfig({ document: { mqtt: { port: 0 }, http: { port: 0 }, storage: { dir: tempDir() }, ...doc } }, { registry });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  const agent = new Agent(r.config, createLogger('silent'), registry);
  const addr = await agent.start();
  t.teardown(() => agent.stop());
  const mqttUrl = `mqtt://127.0.0.1:${addr.mqtt.port}`;
  return {
    agent,
    mqttUrl,
    httpUrl: `http://127.0.0.1:${addr.http.port}`,
    async client(clientId) {
      const c = await mqtt.connectAsync(mqttUrl, { clientId });
      t.teardown(() => c.end(true));
      return c;
    },
  };
}
