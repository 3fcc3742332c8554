/**
 * The options of the `stats` aggregator. The same keys form the `stats` section of the config, which
 * configures the default aggregator when the config gives no `aggregators` list.
 */
import * as f from '../../config/formats.js';

const PHASES = ['a', 'b', 'c'] as const;
const MAGNITUDES = [...PHASES.map((p) => `v.${p}.mag`), ...PHASES.map((p) => `i.${p}.mag`)];
const POWERS = ['p', 'q', 's'].flatMap((q) => [...PHASES, 'total'].map((p) => `${q}.${p}`));

export const STATS_SCHEMA = {
  windows: {
    doc: 'Window lengths, aligned to the clock by measurement timestamp; comma-separated or JSON in the environment',
    format: f.durationList,
    default: ['10s', '1m', '10min'],
  },
  fields: {
    doc: 'Dotted paths of numeric values aggregated with Telegraf basicstats meanings (electrical or not: "p.total", "soc")',
    format: f.fieldPathList,
    default: [...MAGNITUDES, ...POWERS, 'pf.total', 'freq'],
  },
  rmsFields: {
    doc: 'Fields that also get an RMS aggregate (square root of the mean of squares, IEC 61000-4-30)',
    format: f.fieldPathList,
    default: [...MAGNITUDES],
  },
  graceMs: {
    doc: 'Samples arriving up to this many ms after their window ended are still counted; later ones count as late',
    format: f.intRange(0, 3_600_000),
    default: 2000,
  },
};

export interface StatsAggregatorConfig {
  id: string;
  windows: string[];
  fields: string[];
  rmsFields: string[];
  graceMs: number;
}
