/**
 * Every plugin the agent knows, by kind. The config loader validates `drivers[]` / `forwarders[]`
 * entries against these specs' sub-schemas; the composition root (agent/agent.ts) creates them.
 *
 * Adding a plugin: import its spec and append it to the matching list below. Nothing else changes:
 * `gridedge config schema` and the README's config reference pick up its keys from the spec.
 * A spec may also have `validate(entry): string[]` for rules across its keys ("key: message" each,
 * run by the loader on the entry with its defaults filled in).
 */
import type { PluginInstanceConfig } from './core/config-types.js';
import type { Driver, Forwarder, PluginSpec } from './core/plugin.js';
import { simPmuDriver } from '../drivers/sim-pmu/index.js';
import { azureIotForwarder } from './forwarders/azure-iot/index.js';
import { mqttForwarder } from './forwarders/mqtt/index.js';

/** A spec as the agent calls it: with a config entry the loader validated against the spec's schema. */
export type RegisteredDriver = PluginSpec<PluginInstanceConfig, Driver>;
export type RegisteredForwarder = PluginSpec<PluginInstanceConfig, Forwarder>;

/**
 * The one place a plugin's own config type is widened: the loader has validated each entry against
 * `spec.schema` (and filled its defaults) before `create` sees it.
 */
function entry<C, I>(spec: PluginSpec<C, I>): PluginSpec<PluginInstanceConfig, I> {
  return spec as unknown as PluginSpec<PluginInstanceConfig, I>;
}

const drivers: readonly RegisteredDriver[] = [
  entry(simPmuDriver),
  // later: modbus, opcua, c37118, mqtt-source
];

const forwarders: readonly RegisteredForwarder[] = [
  entry(mqttForwarder),
  entry(azureIotForwarder),
];

function byType<S extends PluginSpec<unknown, unknown>>(kind: string, specs: readonly S[]): ReadonlyMap<string, S> {
  const m = new Map<string, S>();
  for (const s of specs) {
    if (m.has(s.type)) throw new Error(`registry: two ${kind} plugins have the type "${s.type}"`);
    m.set(s.type, s);
  }
  return m;
}

export const driverSpecs: ReadonlyMap<string, RegisteredDriver> = byType('driver', drivers);
export const forwarderSpecs: ReadonlyMap<string, RegisteredForwarder> = byType('forwarder', forwarders);

/** The plugin specs by kind, as the config loader takes them (tests pass their own). */
export interface PluginRegistry {
  drivers: ReadonlyMap<string, PluginSpec<unknown, unknown>>;
  forwarders: ReadonlyMap<string, PluginSpec<unknown, unknown>>;
}

export const registry: PluginRegistry = { drivers: driverSpecs, forwarders: forwarderSpecs };
