/**
 * The `stats` aggregator: rolling statistics windows per device (algorithms/stats), published on
 * bal/processed/<device>/stats/<window>. See README.md.
 */
import { parseDuration } from '../../../algorithms/common/duration.js';
import { WindowedStats, type StatsMessage } from '../../../algorithms/stats/index.js';
import { NO_INVALID_PATHS, type Aggregator, type AggregatorAddResult, type AggregatorSpec, type DerivedMessage, type PluginHealth } from '../../core/plugin.js';
import { statsTopic } from '../../core/topics.js';
import { STATS_SCHEMA, type StatsAggregatorConfig } from './schema.js';

export { STATS_SCHEMA, type StatsAggregatorConfig };

const toDerived = (w: StatsMessage): DerivedMessage => ({ topic: statsTopic(w.device, w.window), message: w });

class StatsAggregator implements Aggregator {
  private readonly stats: WindowedStats;
  constructor(readonly name: string, cfg: StatsAggregatorConfig) {
    this.stats = new WindowedStats({ windows: cfg.windows, fields: cfg.fields, rmsFields: cfg.rmsFields, graceMs: cfg.graceMs });
  }

  reads(): readonly string[] {
    return this.stats.fields();
  }

  add(m: Parameters<Aggregator['add']>[0]): AggregatorAddResult {
    const { result, excludedFields, overLimit } = this.stats.add(m);
    // Left out of one window length for the open-window limit counts as not placed, like all of them.
    return { late: result === 'late', ignored: result === 'ignored' || overLimit, excluded: result === 'excluded', excludedFields };
  }

  push(nowMicros: number): readonly DerivedMessage[] {
    return this.stats.push(nowMicros).map(toDerived);
  }

  flushAll(): readonly DerivedMessage[] {
    return this.stats.flushAll().map(toDerived);
  }

  health(): PluginHealth {
    const c = this.stats.counts();
    return { state: 'running', info: { accepted: c.accepted, late: c.late, excluded: c.excluded, excludedFields: c.excludedFields, ignored: c.ignored, overLimit: c.overLimit, openWindows: c.open, clockStepsBack: c.clockStepsBack } };
  }
}

export const statsAggregator: AggregatorSpec<StatsAggregatorConfig> = {
  type: 'stats',
  doc: 'Rolling statistics per device and window (Telegraf basicstats meanings, IEC 61000-4-30 RMS), aligned to the clock',
  schema: STATS_SCHEMA,
  validate(cfg, invalid = NO_INVALID_PATHS) {
    const problems: string[] = [];
    const seen = new Map<number, number>();
    if (!Array.isArray(cfg.windows)) return problems;
    cfg.windows.forEach((w, k) => {
      if (invalid(`windows[${k}]`)) return;
      const ms = parseDuration(w);
      if (ms === null) return;
      const first = seen.get(ms);
      if (first !== undefined) problems.push(`windows[${k}]: must differ from the other windows (windows[${first}] is as long), got "${w}"`);
      else seen.set(ms, k);
    });
    return problems;
  },
  create: (config) => new StatsAggregator(config.id, config),
};
