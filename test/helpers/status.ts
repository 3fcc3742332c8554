/** Completes a status fixture with `plugins`, as the agent fills it (drivers and forwarders by kind). */
import type { AgentStatus, PluginStatus } from '../../agent/core/status-types.js';

export function withPlugins(s: Omit<AgentStatus, 'plugins'>, more: Partial<AgentStatus['plugins']> = {}): AgentStatus {
  const forwarders: PluginStatus[] = s.forwarders.map((f) => ({ id: f.id, type: f.type, state: f.connected ? 'running' : 'degraded' }));
  return {
    ...s,
    plugins: {
      drivers: s.drivers,
      processors: [{ id: 'power', type: 'power', state: 'running' }],
      aggregators: [{ id: 'stats', type: 'stats', state: 'running' }],
      analyzers: [],
      forwarders,
      services: [],
      ...more,
    },
  };
}
