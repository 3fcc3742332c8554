/**
 * The health document: `GET /api/v1/status`, the retained `gridedge/<id>/status` topic, the status
 * page and `gridedge status` all render this one shape.
 */
import type { BufferStats } from './buffer-types.js';
import type { Measurement } from '../../algorithms/common/measurement.js';
import type { PluginHealth } from './plugin.js';
import type { DeviceHealth, DriverHealthSummary } from './driver-health.js';

export type { DeviceHealth, DriverHealthSummary } from './driver-health.js';
import type { ListKey } from './kinds.js';
import type { MetricDef } from './metrics.js';

export interface DeviceStatus {
  device: string;
  /** The latest processed measurement. */
  latest: Measurement;
  /** Seconds since `latest.ts`. */
  ageSeconds: number;
  /** For a driver's device: the driver, and ms since its last value arrived (on the agent's clock). */
  driver?: string;
  ageMs?: number;
  /** For a driver's device: no value for longer than its threshold (then `reason` is `stale`). */
  stale?: boolean;
  reason?: 'stale';
}

export interface PluginStatus extends PluginHealth {
  id: string;
  type: string;
  /** Drivers: connected, totals (reads, errors, retries, reconnects) and each device's age and stale mark. */
  driverHealth?: DriverHealthSummary;
}

export interface ForwarderStatus {
  id: string;
  type: string;
  connected: boolean;
  /** Wall-clock ms of the last acknowledged send. */
  lastSuccess?: number;
  lag: number;
  lagSeconds: number;
  /** Rows per second delivered over the last interval. */
  drainRate: number;
  /** The last problem, kept after recovery; `lastErrorAt` (wall-clock ms) says when it happened. */
  lastError?: string;
  lastErrorAt?: number;
  dropped: number;
  /** Upstream topics refused for good (not authorized) whose rows are skipped for now (absent when none). */
  refusedTopics?: string[];
}

/** The broker's MQTT over TLS listener (mqtt.tls). */
export interface BrokerTlsStatus {
  host: string;
  port: number;
  /** Whether clients must present a certificate signed by mqtt.tls.ca. */
  clientCertificates: boolean;
  /** When the broker's certificate stops being valid (ISO 8601). */
  certificateExpires: string;
  /** With mqtt.tls.crl: the earliest nextUpdate of its CRLs (ISO 8601; null: none names one), and how many certificates they revoke. */
  crlNextUpdate?: string | null;
  /** The thisUpdate (issue date) of the CRL with that nextUpdate. */
  crlThisUpdate?: string;
  revokedCertificates?: number;
}

export interface BrokerStatus {
  host: string;
  port: number;
  /** Present when the TLS listener is open. */
  tls?: BrokerTlsStatus;
  clients: number;
  subscriptions: number;
  /** Persistent sessions (clean: false) kept now, connected or not (GET /api/v1/broker/sessions lists them). */
  sessions: number;
  /** Of those, the ones no client is connected to now. */
  offlineSessions: number;
}

export interface AgentStatus {
  gateway: string;
  version: string;
  /** healthy: everything running; degraded: something is down or failing (see problems). */
  health: 'healthy' | 'degraded';
  problems: string[];
  startedAt: number;
  uptimeSeconds: number;
  broker: BrokerStatus;
  /**
   * The certificates of the TLS listeners that run (mqtt.tls, http.tls), with when each ends (ISO
   * 8601); and mqtt.tls.crl with the earliest nextUpdate of its CRLs (when the CRL is out of date).
   */
  certificates?: { option: 'mqtt.tls' | 'http.tls' | 'mqtt.tls.crl'; expires: string }[];
  /** The drivers' health (the same as `plugins.drivers`; kept for existing readers). */
  drivers: PluginStatus[];
  /** Every configured plugin's health, by kind (`drivers`, `processors`, `aggregators` ...). */
  plugins: Record<ListKey, PluginStatus[]>;
  /** The latest measurement of each device, at most 200: stale ones first, then the worst quality, then by name (see devicesTotal). */
  devices: DeviceStatus[];
  /** How many devices the agent knows (devices may list fewer). */
  devicesTotal?: number;
  /** Drivers' devices that are stale now, by name (also those that never sent a value). */
  staleDevices?: DeviceHealth[];
  buffer: BufferStats | null;
  forwarders: ForwarderStatus[];
  counters: Record<string, number | Record<string, number>>;
  /** The metric catalogue: what each counter and gauge means (type, help, label names). */
  metrics?: Record<string, MetricDef>;
  /** process.memoryUsage() in MiB: rss, heapUsed, heapTotal, external, arrayBuffers. */
  memory?: Record<string, number>;
}
