/**
 * The reconnect delays every plugin that keeps a connection has (`reconnectMinMs`, `reconnectMaxMs`):
 * their schema entries and the rule across them, one copy for the forwarders and the drivers.
 * Two ways of waiting use them, and the doc says which: `jittered` (agent/forwarders/backoff.ts:
 * each delay drawn at random up to a ceiling that doubles per failure; the forwarders and
 * mqtt-source, many of which may reconnect to one broker at once) and `doubling` (the delay itself
 * doubles per failure; the Modbus, C37.118 and OPC UA drivers, each talking to its own device).
 */
import { intRange } from './formats.js';
import { NO_INVALID_PATHS, type InvalidPaths } from '../core/plugin.js';

export interface ReconnectDelays {
  reconnectMinMs: number;
  reconnectMaxMs: number;
}

export const RECONNECT_DEFAULTS: ReconnectDelays = { reconnectMinMs: 500, reconnectMaxMs: 30_000 };

type Entry = { doc: string; format: (v: unknown) => void; default: number };

/** convict schema entries of the two delays. */
export function reconnectSchema(style: 'jittered' | 'doubling', d: ReconnectDelays = RECONNECT_DEFAULTS): Record<keyof ReconnectDelays, Entry> {
  return {
    reconnectMinMs: {
      doc:
        style === 'jittered'
          ? 'Shortest reconnect delay in ms; the delay is drawn at random up to a ceiling that doubles per failure'
          : 'First wait in ms before reconnecting after a failure or a lost connection, doubled per failed attempt up to reconnectMaxMs',
      format: intRange(10, 3_600_000),
      default: d.reconnectMinMs,
    },
    reconnectMaxMs: { doc: 'Longest reconnect delay in ms', format: intRange(10, 3_600_000), default: d.reconnectMaxMs },
  };
}

/** "reconnectMaxMs: ..." when the longest delay is below the first (not checked when either is invalid by itself). */
export function reconnectProblems(cfg: Partial<ReconnectDelays>, invalid: InvalidPaths = NO_INVALID_PATHS): string[] {
  if (invalid('reconnectMinMs') || invalid('reconnectMaxMs')) return [];
  const { reconnectMinMs: min, reconnectMaxMs: max } = cfg;
  return min !== undefined && max !== undefined && max < min ? [`reconnectMaxMs: must be at least reconnectMinMs (${min}), got ${max}`] : [];
}
