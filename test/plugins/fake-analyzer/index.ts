/**
 * `fake-sum`: an analyzer used only by the tests. On each run it adds up `p.total` over the latest
 * measurements of its devices and publishes { ts, devices, p_total } on
 * bal/processed/analyzers/<id>. It exists to show that adding a plugin of a kind means this folder
 * and one line in the kinds table (here: the registry the test extends).
 */
import * as f from '../../../agent/config/formats.js';
import type { Analyzer, AnalyzerSpec, PluginHealth } from '../../../agent/core/plugin.js';

export interface FakeSumConfig {
  id: string;
  devices: string[];
  intervalMs: number;
  onChange: boolean;
}

export const fakeSumAnalyzer: AnalyzerSpec<FakeSumConfig> = {
  type: 'fake-sum',
  doc: 'Test analyzer: the sum of p.total over chosen devices',
  schema: {
    devices: { doc: 'Devices to add up', format: f.stringList, default: [] },
    intervalMs: { doc: 'Run period in ms (0: on change only)', format: f.intRange(0, 3_600_000), default: 0 },
    onChange: { doc: 'Run after a new measurement of one of the devices', format: f.boolean, default: true },
  },
  validate: (cfg) => (cfg.devices.length === 0 ? ['devices: must name at least one device'] : []),
  create(cfg): Analyzer {
    let runs = 0;
    return {
      devices: cfg.devices,
      trigger: { intervalMs: cfg.intervalMs || undefined, onChange: cfg.onChange ? cfg.devices : undefined, minIntervalMs: 0 },
      analyze({ latest, nowMicros }) {
        runs++;
        let sum = 0;
        for (const m of latest.values()) sum += typeof m.p?.total === 'number' ? m.p.total : 0;
        return [{ topic: `bal/processed/analyzers/${cfg.id}`, message: { ts: nowMicros, devices: [...latest.keys()].sort(), p_total: sum } }];
      },
      health: (): PluginHealth => ({ state: 'running', info: { runs } }),
    };
  },
};
