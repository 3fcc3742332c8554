/** Plugin config entries for tests and benchmarks, with every key at its schema default. */
import convict from 'convict';
import type { PluginSpec } from '../../agent/core/plugin.js';

/**
 * `entry` over the plugin schema's own defaults. Not validated: tests also build entries the
 * plugin must refuse at run time (missing certificate files and the like).
 */
export function withDefaults<C>(spec: PluginSpec<C, unknown>, entry: Record<string, unknown>): C {
  const defaults = convict(spec.schema as convict.Schema<Record<string, unknown>>).getProperties();
  return { ...defaults, ...entry } as C;
}
