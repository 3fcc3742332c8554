/** A status document with known values for the HTTP tests. */
import { withPlugins } from '../helpers/status.js';
import type { AgentStatus } from '../../agent/core/status-types.js';

export const HOSTILE = '<script>alert("x")</script>&co';

/**
 * pmu1: balanced 230 V ∠0°/−120°/120°, 10 A lagging by 30°. Per phase S = V·conj(I) = 2300 VA ∠30°,
 * so P = 2300·cos 30° = 1991.858 W, Q = 2300·sin 30° = 1150 var, PF = cos 30° = 0.866; totals are three times that.
 */
export function sampleStatus(now = Date.now()): AgentStatus {
  const P = 2300 * Math.cos(Math.PI / 6);
  return withPlugins({
    gateway: 'gw-test',
    version: '0.1.0',
    health: 'degraded',
    problems: ['forwarder central: not connected (ECONNREFUSED)'],
    startedAt: now - 3_600_000,
    uptimeSeconds: 3600,
    broker: { host: '127.0.0.1', port: 1883, clients: 3, subscriptions: 5, sessions: 2, offlineSessions: 1 },
    drivers: [
      { id: 'pmu1', type: 'sim-pmu', state: 'running', devices: ['pmu1'], info: { frames: 1234 } },
      { id: 'meter1', type: 'modbus', state: 'degraded', devices: ['meter1'], lastError: 'timeout <unit 1>', lastErrorAt: now - 5000 },
    ],
    devices: [
      {
        device: 'pmu1',
        ageSeconds: 0.4,
        latest: {
          device: 'pmu1',
          ts: now * 1000 - 400_000,
          quality: 'good',
          freq: 50.01,
          rocof: 0,
          v: { a: { mag: 230, ang: 0 }, b: { mag: 230, ang: -120 }, c: { mag: 230, ang: 120 } },
          i: { a: { mag: 10, ang: -30 }, b: { mag: 10, ang: -150 }, c: { mag: 10, ang: 90 } },
          p: { a: P, b: P, c: P, total: 3 * P },
          q: { a: 1150, b: 1150, c: 1150, total: 3450 },
          s: { a: 2300, b: 2300, c: 2300, total: 6900 },
          pf: { a: Math.cos(Math.PI / 6), b: Math.cos(Math.PI / 6), c: Math.cos(Math.PI / 6), total: Math.cos(Math.PI / 6) },
          v_total: 690,
          i_total: 30,
          seq: { v_unbalance_pct: 0, i_unbalance_pct: 0 },
          vendor_extra: { note: 'kept' },
        },
      },
      {
        device: HOSTILE,
        ageSeconds: 12,
        latest: { device: HOSTILE, ts: now * 1000 - 12_000_000, quality: 'questionable', reasons: ['stale', '<b>bold</b>'], v: { a: { mag: 231.5 } } },
      },
    ],
    buffer: {
      path: '/var/lib/gridedge/buffer.db',
      rows: 1500,
      bytes: 450_000,
      firstSeq: 100,
      lastSeq: 1599,
      oldestAgeSeconds: 42,
      cursors: [{ forwarder: 'central', cursor: 99, lag: 1500, lagSeconds: 42, dropped: 0 }],
    },
    forwarders: [
      { id: 'central', type: 'mqtt', connected: false, lag: 1500, lagSeconds: 42, drainRate: 0, lastError: 'connect ECONNREFUSED 127.0.0.1:1884', dropped: 0 },
      { id: 'hub', type: 'azure-iothub', connected: true, lastSuccess: now - 2000, lag: 0, lagSeconds: 0, drainRate: 49.5, dropped: 7 },
    ],
    counters: { received: 1000, broker_refused: { 'reason=publish_acl': 2 } },
  });
}
