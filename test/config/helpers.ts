/** Shared by the config tests: fixture paths and a registry with two test-only plugin schemas. */
import { join } from 'node:path';
import * as f from '../../agent/config/formats.js';
import type { PluginSpec } from '../../agent/core/plugin.js';
import { buildRegistry, plugin, registry, type PluginRegistry } from '../../agent/registry.js';
import { simPmuDriver } from '../../drivers/sim-pmu/index.js';
import { repoRoot } from '../helpers/agent-process.js';

export const fixture = (name: string): string => join(repoRoot(), 'test', 'fixtures', 'config', name);

const notCreated = (): never => {
  throw new Error('test plugin: create() is not used by config tests');
};

/** A driver with the keys a Modbus TCP meter has (a port, a host), to check plugin sub-schemas. */
export const testMeter: PluginSpec<unknown, unknown> = {
  type: 'test-meter',
  doc: 'Test meter',
  schema: {
    host: { doc: 'Meter address', format: f.host, default: '127.0.0.1' },
    port: { doc: 'Meter TCP port', format: f.port, default: 502 },
    unit: { doc: 'Unit id', format: f.intRange(0, 255), default: 1 },
    serial: {
      path: { doc: 'Serial device', format: f.optionalString, default: '/dev/ttyUSB0' },
      baud: { doc: 'Baud rate', format: f.intRange(300, 921600), default: 9600 },
    },
  },
  create: notCreated,
};

/** A forwarder with a topic map. */
export const testUp: PluginSpec<unknown, unknown> = {
  type: 'test-up',
  doc: 'Test upstream',
  schema: {
    url: { doc: 'Upstream URL', format: f.nonEmptyString, default: 'mqtt://127.0.0.1:1884' },
    map: { doc: 'Topic map', format: f.topicMap, default: [] },
  },
  create: notCreated,
};

/** The agent's processors and aggregators, sim-pmu and the two test plugins. */
export const testRegistry: PluginRegistry = buildRegistry({
  drivers: [plugin(simPmuDriver), plugin(testMeter)],
  processors: [...registry.processors.values()],
  aggregators: [...registry.aggregators.values()],
  forwarders: [plugin(testUp)],
});
