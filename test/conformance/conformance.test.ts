/**
 * Every registered plugin, and the test-only ones, runs the conformance suite of its kind
 * (suites.ts). A plugin with no test config below fails here: being registered means being tested.
 */
import { join } from 'node:path';
import t from 'tap';
import { KINDS, type ListKey } from '../../agent/core/kinds.js';
import type { Aggregator, Analyzer, Driver, Forwarder, Processor, Service } from '../../agent/core/plugin.js';
import { extendRegistry, plugin, registry, type AnySpec } from '../../agent/registry.js';
import { repoRoot } from '../helpers/agent-process.js';
import { withDefaults } from '../helpers/plugin-config.js';
import { hangingUpstream } from '../helpers/hanging-mqtt.js';
import { fakeSumAnalyzer } from '../plugins/fake-analyzer/index.js';
import { fakeEchoService } from '../plugins/fake-echo/index.js';
import { PmuServer, threePhase } from '../c37118/pmu-server.js';
import { startTcpServer, Registers } from '../modbus/server.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import mqtt from 'mqtt';
import { startOpcuaServer } from '../opcua/server.js';
import { aggregatorSuite, analyzerSuite, driverSuite, forwarderSuite, processorSuite, serviceSuite } from './suites.js';

const all = extendRegistry(registry, { analyzers: [plugin(fakeSumAnalyzer)], services: [plugin(fakeEchoService)] });

/** A config each plugin runs with here, by kind and type (peers it needs come from `env`). */
type Env = { hangingUrl: string; pmuPort: number; modbusTcp: string; mosquittoUrl: string; opcuaUrl: string };
const CONFIGS: { [L in ListKey]: Record<string, (env: Env) => Record<string, unknown>> } = {
  drivers: {
    'sim-pmu': () => ({ id: 'c1', rate: 100 }),
    c37118: (env) => ({ id: 'c2', host: '127.0.0.1', port: env.pmuPort, idcode: 7734 }),
    modbus: (env) => ({ id: 'mb1', tcp: env.modbusTcp, interval: 100, registers: [{ field: 'v.a.mag', function: 'input', address: 0, type: 'f32' }] }),
    // A retained message waits on mosquitto for the subscription.
    'mqtt-source': (env) => ({ id: 'src1', url: env.mosquittoUrl, topics: [{ filter: 'conf/+/data', device: 'meter-+', fields: { 'p.total': '$.P' } }] }),
    opcua: (env) => ({ id: 'ua1', endpoint: env.opcuaUrl, nodes: [{ nodeId: 'ns=1;s=Va', field: 'v.a.mag', samplingInterval: 100 }] }),
  },
  processors: { power: () => ({ id: 'power' }) },
  aggregators: { stats: () => ({ id: 'stats', windows: ['1s', '1m'] }) },
  analyzers: {
    'fake-sum': () => ({ id: 'sum', devices: ['m1', 'm2'] }),
    estimator: () => ({
      id: 'estimator',
      network: join(repoRoot(), 'test', 'gridstate', 'fixtures', 'case14.m'),
      measurements: [
        { device: 'm1', field: 'p.total', type: 'p_flow', branch: 1, sigma: 0.01, base: 1e8 },
        { device: 'm2', field: 'p.total', type: 'p_inj', bus: 2, sigma: 0.01, base: 1e8 },
      ],
    }),
  },
  forwarders: {
    mqtt: (env) => ({ id: 'up', url: env.hangingUrl, connectTimeoutMs: 5000 }),
    'azure-iot': (env) => ({
      id: 'hub',
      connectionString: `HostName=hub.example;DeviceId=dev1;SharedAccessKey=${Buffer.from('k'.repeat(32)).toString('base64')}`,
      url: env.hangingUrl,
      connectTimeoutMs: 5000,
    }),
  },
  services: { 'fake-echo': () => ({ id: 'e1' }), scheduler: () => ({ id: 'scheduler', maxJobs: 5 }) },
};

t.test('conformance of every plugin of every kind', async (t) => {
  const hang = await hangingUpstream();
  t.teardown(() => new Promise<void>((r) => hang.server.close(() => r())));
  const pmu = await new PmuServer({ idcode: 7734, dataRate: 50, blocks: [threePhase(7734, 15)] }).start();
  t.teardown(() => pmu.close());
  const regs = new Registers();
  regs.set(1, 'input', 0, 230, 'f32');
  const modbus = await startTcpServer(regs);
  t.teardown(() => modbus.close());
  const opcua = await startOpcuaServer({ vars: { Va: { type: 'Double', value: 230 } } });
  t.teardown(() => opcua.stop());
  const upstream = await startMosquitto();
  t.teardown(() => upstream.stop());
  const pub = await mqtt.connectAsync(upstream.url, { reconnectPeriod: 0 });
  await pub.publishAsync('conf/1/data', JSON.stringify({ P: 1000 }), { qos: 1, retain: true });
  await pub.endAsync();
  const env: Env = { hangingUrl: `mqtt://127.0.0.1:${hang.port}`, pmuPort: pmu.port, modbusTcp: `127.0.0.1:${modbus.port}`, mosquittoUrl: upstream.url, opcuaUrl: opcua.url };
  for (const kind of KINDS) {
    for (const spec of all[kind.list].values()) {
      await t.test(`${kind.kind} ${spec.type}`, async (t) => {
        const make = CONFIGS[kind.list][spec.type];
        if (!make) {
          t.fail(`no conformance config for ${kind.kind} ${spec.type}: add one to test/conformance/conformance.test.ts`);
          return;
        }
        const cfg = withDefaults(spec as AnySpec, { type: spec.type, ...make(env) }) as Parameters<AnySpec['create']>[0];
        const problems = spec.validate?.(cfg) ?? [];
        t.same(problems, [], 'the test config is valid for the plugin');
        const create = <I>() => spec.create(cfg) as I;
        switch (kind.kind) {
          case 'driver':
            return driverSuite(t, () => create<Driver>(), cfg.id);
          case 'processor':
            return processorSuite(t, () => create<Processor>());
          case 'aggregator':
            return aggregatorSuite(t, () => create<Aggregator>());
          case 'analyzer':
            return analyzerSuite(t, () => create<Analyzer>(), ['m1', 'm2']);
          case 'forwarder':
            return forwarderSuite(t, () => create<Forwarder>(), cfg.id);
          case 'service':
            return serviceSuite(t, () => create<Service>(), cfg.id);
        }
      });
    }
  }
});
