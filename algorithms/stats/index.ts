/** Rolling statistics windows (Telegraf basicstats meanings) with IEC 61000-4-30 RMS aggregation. */
export { WindowedStats } from './windowed-stats.js';
export type { StatsMessage, WindowedStatsOptions, AddResult, AddOutcome, StatsCounts } from './windowed-stats.js';
export type { FieldStats } from './accumulator.js';
export { parseWindow, windowStart } from './window.js';
export { compileFieldPath, fieldPathError } from './field-path.js';
export type { FieldReader } from './field-path.js';
