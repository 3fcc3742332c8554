/** AgentStatus documents as a running agent serves them at /api/v1/status. */
import { withPlugins } from '../helpers/status.js';
import type { AgentStatus } from '../../agent/core/status-types.js';

export function healthyStatus(now = Date.now()): AgentStatus {
  return withPlugins({
    gateway: 'gw-test',
    version: '0.1.0',
    health: 'healthy',
    problems: [],
    startedAt: now - 7_980_000,
    uptimeSeconds: 7980,
    broker: { host: '127.0.0.1', port: 1883, clients: 3, subscriptions: 5, sessions: 2, offlineSessions: 1 },
    drivers: [
      { id: 'pmu1', type: 'sim-pmu', state: 'running', devices: ['pmu1'], info: { emitted: 399000 } },
      { id: 'meter1', type: 'modbus', state: 'running', devices: ['meter1'] },
    ],
    devices: [
      {
        device: 'pmu1',
        ageSeconds: 0.02,
        latest: { device: 'pmu1', ts: (now - 20) * 1000, quality: 'good', freq: 50.01 },
      },
      {
        device: 'meter1',
        ageSeconds: 4.5,
        latest: { device: 'meter1', ts: (now - 4500) * 1000, quality: 'questionable', reasons: ['stale'] },
      },
    ],
    buffer: {
      path: '/var/lib/gridedge/buffer.db',
      rows: 12345,
      bytes: 4_300_000,
      firstSeq: 1001,
      lastSeq: 13345,
      oldestAgeSeconds: 192,
      cursors: [
        { forwarder: 'central', cursor: 13345, lag: 0, lagSeconds: 0, dropped: 0 },
        { forwarder: 'hub', cursor: 8345, lag: 5000, lagSeconds: 43, dropped: 12 },
      ],
    },
    forwarders: [
      { id: 'central', type: 'mqtt', connected: true, lastSuccess: now - 1000, lag: 0, lagSeconds: 0, drainRate: 50, dropped: 0 },
      { id: 'hub', type: 'azure-iot', connected: true, lastSuccess: now - 2000, lag: 5000, lagSeconds: 43, drainRate: 900, dropped: 12 },
    ],
    counters: {
      received: { 'source=driver': 1000, 'source=mqtt': 234 },
      processed: 1230,
      rejected: { 'reason=bad_json': 3, 'reason=too_large': 1 },
      late: 2,
      stats_published: 77,
    },
  });
}

export function degradedStatus(now = Date.now()): AgentStatus {
  const s = healthyStatus(now);
  s.health = 'degraded';
  s.problems = ['driver meter1: ECONNREFUSED 10.0.0.5:502', 'forwarder hub: disconnected'];
  s.drivers[1] = { ...s.drivers[1]!, state: 'degraded', lastError: 'connect ECONNREFUSED 10.0.0.5:502', lastErrorAt: now - 12_000 };
  s.forwarders[1] = { ...s.forwarders[1]!, connected: false, lastError: 'Connection refused: Not authorized', lastErrorAt: now - 5_000 };
  return s;
}
