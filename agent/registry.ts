/**
 * Every plugin the agent knows, by kind (the kinds are listed in agent/core/kinds.ts). The config
 * loader validates each list entry against the sub-schema of the plugin its `type` names;
 * `gridedge config schema` and the README's config reference describe them; the composition root
 * (agent/agent.ts) creates and runs them.
 *
 * Adding a plugin: one folder (its spec, README, sample config, tests) and one line below.
 */
import type { PluginInstanceConfig } from './core/config-types.js';
import type { PluginSpec } from './core/plugin.js';
import { LIST_KEYS, type ListKey } from './core/kinds.js';
import { simPmuDriver } from '../drivers/sim-pmu/index.js';
import { c37118Driver } from '../drivers/c37118/index.js';
import { modbusDriver } from '../drivers/modbus/index.js';
import { mqttSourceDriver } from '../drivers/mqtt-source/index.js';
import { opcuaDriver } from '../drivers/opcua/index.js';
import { powerProcessor } from './processors/power/index.js';
import { statsAggregator } from './aggregators/stats/index.js';
import { estimatorAnalyzer } from './analyzers/estimator/index.js';
import { azureIotForwarder } from './forwarders/azure-iot/index.js';
import { mqttForwarder } from './forwarders/mqtt/index.js';
import { schedulerService } from './services/scheduler/index.js';

/**
 * A spec as the loader and the agent handle it. Each spec declares its own config type; `create` and
 * `validate` are methods, so a spec of a narrower config type fits here: the loader has validated the
 * entry against that spec's schema (defaults filled in) before either is called.
 */
export type AnySpec = PluginSpec<PluginInstanceConfig, unknown>;

/** The one place a plugin's own config type is widened (see AnySpec). */
export function plugin<C, I>(spec: PluginSpec<C, I>): AnySpec {
  return spec as unknown as AnySpec;
}

/** The plugin specs by kind and type, as the config loader and the agent take them (tests pass their own). */
export type PluginRegistry = { readonly [L in ListKey]: ReadonlyMap<string, AnySpec> };

/** The table: each kind's plugins. */
export const PLUGINS: { readonly [L in ListKey]: readonly AnySpec[] } = {
  drivers: [plugin(simPmuDriver), plugin(c37118Driver), plugin(modbusDriver), plugin(mqttSourceDriver), plugin(opcuaDriver)],
  processors: [plugin(powerProcessor)],
  aggregators: [plugin(statsAggregator)],
  analyzers: [plugin(estimatorAnalyzer)],
  forwarders: [plugin(mqttForwarder), plugin(azureIotForwarder)],
  services: [plugin(schedulerService)],
};

/** Build a registry from lists of specs per kind (a spec type may appear once per kind). */
export function buildRegistry(lists: { readonly [L in ListKey]?: readonly AnySpec[] }): PluginRegistry {
  const out = {} as { [L in ListKey]: Map<string, AnySpec> };
  for (const list of LIST_KEYS) {
    const m = new Map<string, AnySpec>();
    for (const s of lists[list] ?? []) {
      if (m.has(s.type)) throw new Error(`registry: two ${list} have the type "${s.type}"`);
      m.set(s.type, s);
    }
    out[list] = m;
  }
  return out;
}

/** A copy of `base` with more plugins added (tests add their own, e.g. a fake analyzer). */
export function extendRegistry(base: PluginRegistry, more: { readonly [L in ListKey]?: readonly AnySpec[] }): PluginRegistry {
  const lists = {} as { [L in ListKey]: AnySpec[] };
  for (const list of LIST_KEYS) lists[list] = [...base[list].values(), ...(more[list] ?? [])];
  return buildRegistry(lists);
}

export const registry: PluginRegistry = buildRegistry(PLUGINS);
