/**
 * The TypeScript shape of a validated configuration. The convict schema in agent/config/schema.ts is
 * the single source of truth for every option, its default, its doc and its validation; this type
 * mirrors it so each component receives its own typed slice.
 */
import type { SchedulerOptions } from '../services/scheduler/schema.js';

export interface MqttUser {
  username: string;
  /** Plain password (hashed with scrypt at load; never kept in memory in clear) ... */
  password?: string;
  /** ... or an scrypt hash made by `gridedge passwd`: `scrypt$N$r$p$salt$hash` (base64). */
  passwordHash?: string;
  /** Topic filters this user may publish to. */
  publish: string[];
  /** Topic filters this user may subscribe to. */
  subscribe: string[];
  /**
   * Client ids this user may use, and that no other user may: exact ids or patterns with `*`
   * wildcards (agent/broker/client-ids.ts). Absent: any id no user reserved, first come first served.
   */
  clientIds?: string[];
  /** Persistent sessions this user may hold at once (absent: only `mqtt.maxSessions` applies). */
  maxSessions?: number;
}

export interface MqttConfig {
  host: string;
  port: number;
  allowAnonymous: boolean;
  users: MqttUser[];
  /** Largest accepted payload on bal/raw in bytes; larger ones are rejected and counted. */
  maxPayloadBytes: number;
  /** QoS 1/2 messages kept per persistent session (oldest dropped beyond); 0: none kept. */
  maxQueuedMessages: number;
  /** Persistent sessions (clean: false) kept at once, connected or not; a CONNECT that would create one more is refused. */
  maxSessions: number;
  /** Hours a persistent session may stay offline before the broker ends it; 0 (or absent): never. */
  sessionExpiryHours?: number;
  /** Subscriptions one client may hold at once (default 10 000); a SUBSCRIBE past it gets 0x80 for the filters over. */
  maxSubscriptionsPerClient?: number;
  /** Retained messages clients may leave on the broker (default 10 000); past it a retained publish is delivered but not retained. */
  maxRetained?: number;
  /** Bytes of topics and payloads of those retained messages (default 64 MiB). */
  maxRetainedBytes?: number;
  websocket: { enabled: boolean; path: string };
  /** MQTT over TLS beside the plain listener, when cert and key are given (host '' : mqtt.host). */
  tls?: MqttTlsConfig;
}

export interface MqttTlsConfig {
  cert: string;
  key: string;
  /** CA bundle of client certificates; '' : none asked for. */
  ca: string;
  /** With ca: PEM file of the CAs' CRLs; a client certificate they revoke is refused; '' or absent: none. */
  crl?: string;
  /** With ca: the client certificate's common name is the username (no password checked). */
  identityAsUsername?: boolean;
  host: string;
  port: number;
}

export interface HttpUser {
  username: string;
  /** Plain password (hashed with scrypt at start; never kept in memory in clear) ... */
  password?: string;
  /** ... or an scrypt hash made by `gridedge passwd`. */
  passwordHash?: string;
  role: 'viewer' | 'operator' | 'admin';
}

export interface HttpConfig {
  host: string;
  port: number;
  /** Accounts; none: open (loopback only). */
  users?: HttpUser[];
  /** Lifetime of a session or bearer token, hours. */
  sessionHours?: number;
  /** HTTPS when both are given. */
  tls?: { cert: string; key: string };
  /** Open connections at most (loopback ones a few more); default 1024. */
  maxConnections?: number;
}

export interface StorageConfig {
  dir: string;
  /** Prune oldest rows beyond this many bytes of payload (0: no limit). */
  maxBytes: number;
  /** Prune rows older than this (hours, 0: no limit). */
  maxAgeHours: number;
  /** Delivered processed rows and statistics kept this many hours for history reads (0: off). */
  historyHours: number;
  /** Group commit interval in ms. */
  commitIntervalMs: number;
}

export interface PipelineConfig {
  /** Timestamps further than this in the future are kept but flagged questionable (`ts_future`). */
  futureToleranceS: number;
  /** Timestamps older than this are kept but flagged questionable (`ts_past`). */
  pastToleranceS: number;
  /** Distinct devices kept; a new device beyond this is rejected (`too_many_devices`). */
  maxDevices: number;
  /** Ingest worker threads: "auto" or 0-16 (a decimal string from the environment). */
  workers: number | string;
}

export interface StatsConfig {
  enabled: boolean;
  /** Window lengths: "10s", "1m", "10min", "1h" ... */
  windows: string[];
  /** Dotted field paths aggregated (basicstats). */
  fields: string[];
  /** Fields that also get an IEC 61000-4-30 RMS aggregate (`rms`). */
  rmsFields: string[];
  /** Samples arriving this late (ms after the window end) are still counted. */
  graceMs: number;
}

/** The `estimator` section (see agent/analyzers/estimator/schema.ts); empty `network`: no estimator. */
export interface EstimatorSectionConfig {
  network: string;
  intervalS: number;
  maxAgeS: number;
  alpha: number;
  rnThreshold: number;
  measurements: { device: string; field: string; type: string; bus?: number; branch?: number; end?: 'from' | 'to'; sigma: number; base?: number }[];
}

export interface StatusConfig {
  /** Seconds between retained status / metrics publishes. */
  intervalS: number;
}

export interface PluginInstanceConfig {
  type: string;
  id: string;
  [key: string]: unknown;
}

export interface AgentConfig {
  version: number;
  gateway: { id: string };
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' };
  mqtt: MqttConfig;
  http: HttpConfig;
  storage: StorageConfig;
  pipeline: PipelineConfig;
  stats: StatsConfig;
  /** The scheduler service's options (its default services entry). */
  scheduler: SchedulerOptions;
  estimator: EstimatorSectionConfig;
  status: StatusConfig;
  /** One list per plugin kind (agent/core/kinds.ts), each entry validated against its plugin's schema. */
  drivers: PluginInstanceConfig[];
  processors: PluginInstanceConfig[];
  aggregators: PluginInstanceConfig[];
  analyzers: PluginInstanceConfig[];
  forwarders: PluginInstanceConfig[];
  services: PluginInstanceConfig[];
}
