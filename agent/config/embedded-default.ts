/**
 * The embedded default: what `gridedge run` runs with no `--config` and no GRIDEDGE_CONFIG. It is a
 * config document like a file's, laid over the schema defaults: one simulated PMU, nothing external.
 *
 * It is kept apart from the schema defaults on purpose: a config file that lists no drivers gets no
 * drivers — a simulated PMU must never end up forwarding invented data next to real devices.
 */
import type { ConfigDocument } from './migrate.js';

export const EMBEDDED_DEFAULT: Readonly<ConfigDocument> = Object.freeze({
  drivers: [{ type: 'sim-pmu', id: 'pmu1', rate: 50 }],
  forwarders: [],
  storage: { dir: './gridedge-data' },
});

/** A fresh copy to load (the loader may modify what it is given). */
export function embeddedDefault(): ConfigDocument {
  return structuredClone(EMBEDDED_DEFAULT) as ConfigDocument;
}
