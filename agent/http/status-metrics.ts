/** Gauges read off the status document for /metrics (uptime, devices, broker, buffer, forwarders, drivers). */
import type { AgentStatus } from '../core/status-types.js';
import { METRIC_PREFIX, type MetricFamily } from './prometheus.js';

const gauge = (name: string, help: string, samples: MetricFamily['samples']): MetricFamily => ({
  name: METRIC_PREFIX + name,
  type: 'gauge',
  help,
  samples,
});
const one = (value: number): MetricFamily['samples'] => [{ labels: {}, value }];

export function familiesFromStatus(s: AgentStatus): MetricFamily[] {
  const out: MetricFamily[] = [
    gauge('info', 'Gateway id and agent version (always 1)', [{ labels: { gateway: s.gateway, version: s.version }, value: 1 }]),
    gauge('healthy', '1 when healthy, 0 when degraded', one(s.health === 'healthy' ? 1 : 0)),
    gauge('problems', 'Problems listed by the status document', one(s.problems.length)),
    gauge('uptime_seconds', 'Seconds since the agent started', one(s.uptimeSeconds)),
    gauge('start_time_seconds', 'Unix time the agent started', one(s.startedAt / 1000)),
    gauge('devices', 'Devices with a processed measurement', one(s.devices.length)),
    gauge(
      'device_age_seconds',
      'Seconds since the latest measurement of each device',
      s.devices.map((d) => ({ labels: { device: d.device }, value: d.ageSeconds })),
    ),
    gauge('broker_clients', 'MQTT clients connected now', one(s.broker.clients)),
    gauge('broker_subscriptions', 'MQTT subscriptions now', one(s.broker.subscriptions)),
    gauge(
      'tls_certificate_expiry_seconds',
      'Unix time the certificate of a TLS listener ends (option: mqtt.tls, http.tls), or the CRL of mqtt.tls.crl is due to be replaced (its first nextUpdate)',
      (s.certificates ?? []).map((c) => ({ labels: { option: c.option }, value: Date.parse(c.expires) / 1000 })),
    ),
    gauge(
      'driver_running',
      '1 when the driver is running',
      s.drivers.map((d) => ({ labels: { driver: d.id, type: d.type }, value: d.state === 'running' ? 1 : 0 })),
    ),
  ];
  if (s.buffer) {
    const b = s.buffer;
    out.push(
      gauge('buffer_rows', 'Rows in the store-and-forward buffer, local history included (forwarder_lag_rows: what is not yet sent)', one(b.rows)),
      gauge('buffer_bytes', 'Payload bytes in the buffer', one(b.bytes)),
      gauge('buffer_last_seq', 'Last sequence number written', one(b.lastSeq)),
      gauge('buffer_oldest_age_seconds', 'Age of the oldest buffered row, local history included (forwarder_lag_seconds: the oldest not yet sent)', one(b.oldestAgeSeconds)),
      gauge('buffer_write_error', '1 while the buffer cannot be written (disk full ...)', one(b.writeError ? 1 : 0)),
    );
  }
  out.push(
    gauge('forwarder_connected', '1 when the forwarder is connected upstream', s.forwarders.map((f) => ({ labels: { forwarder: f.id, type: f.type }, value: f.connected ? 1 : 0 }))),
    gauge('forwarder_lag_rows', 'Buffered rows not yet delivered by the forwarder', s.forwarders.map((f) => ({ labels: { forwarder: f.id }, value: f.lag }))),
    gauge('forwarder_lag_seconds', 'Age of the oldest row not yet delivered by the forwarder', s.forwarders.map((f) => ({ labels: { forwarder: f.id }, value: f.lagSeconds }))),
    gauge('forwarder_drain_rate', 'Rows per second delivered over the last interval', s.forwarders.map((f) => ({ labels: { forwarder: f.id }, value: f.drainRate }))),
    gauge(
      'forwarder_last_success_seconds',
      'Unix time of the last acknowledged send',
      s.forwarders.filter((f) => f.lastSuccess !== undefined).map((f) => ({ labels: { forwarder: f.id }, value: f.lastSuccess! / 1000 })),
    ),
  );
  return out.filter((f) => f.samples.length > 0);
}
