/**
 * The metric catalogue: every counter and gauge the agent keeps, with its type, its help text and
 * its label names. The counters (agent/core/counters.ts), `/metrics` (HELP and TYPE lines), the
 * status JSON (`metrics`), the status page and `gridedge status` all read it. A plugin that keeps
 * counters of its own declares them in its spec (`PluginSpec.metrics`); the agent adds them at start.
 * A name counted without an entry here still counts, and is listed by `Counters.uncatalogued()`
 * (a test runs the agent and checks that list is empty).
 */

export interface MetricDef {
  type: 'counter' | 'gauge';
  help: string;
  /** Label names every series of this metric has (empty: one unlabelled series). */
  labels: readonly string[];
}

const counter = (help: string, ...labels: string[]): MetricDef => ({ type: 'counter', help, labels });
const gauge = (help: string, ...labels: string[]): MetricDef => ({ type: 'gauge', help, labels });

export const METRICS = {
  // The data path (agent/pipeline).
  received: counter('Measurements received on bal/raw, by source (driver, mqtt)', 'source'),
  processed: counter('Measurements processed and published on bal/processed'),
  rejected: counter('Raw payloads rejected, by reason', 'reason'),
  devices_removed: counter('Devices taken off the device list because a config reload stopped the driver that produced them (removed, or restarted with new options: those come back with their next value)'),
  devices_forgotten: counter('Devices silent for over an hour forgotten at pipeline.maxDevices to make room for new ones'),
  flagged: counter('Measurements kept but flagged questionable, by reason', 'reason'),
  dropped: counter('Accepted data that could not be stored, by reason', 'reason'),
  qos0_received: counter('QoS 0 publishes on bal/raw (best effort)'),
  processor_errors: counter('Processor exceptions, by processor', 'processor'),
  pipeline_worker_exits: counter('Ingest worker threads (pipeline.workers) that exited; their publishes were not acknowledged and a new worker started'),
  late: counter('Samples that arrived after their statistics window was published'),
  stats_published: counter('Aggregator windows published'),
  stats_excluded: counter('Measurements left out of statistics whole (no field sample included, something invalid)'),
  stats_excluded_fields: counter('Field samples left out of statistics because their quality was invalid'),
  aggregator_ignored: counter('Measurements an aggregator could not place (no usable timestamp, open-window limit), by aggregator', 'aggregator'),
  aggregator_errors: counter('Aggregator exceptions, by aggregator', 'aggregator'),
  derived_refused: counter('Messages from aggregators, analyzers or services refused (topic not under bal/processed/, not serialisable), by reason', 'reason'),
  // Plugins and the agent.
  plugin_errors: counter('Plugin start failures and exceptions, by kind and id (each start failure is retried with backoff)', 'kind', 'id'),
  driver_errors: counter('Driver start failures, measurements the pipeline could not take, and the errors the driver itself reports (read failures, timeouts), by driver', 'driver'),
  driver_reads: counter('Measurements a driver emitted, by driver', 'driver'),
  driver_retries: counter('Requests a driver sent again (as the driver reports them in its health), by driver', 'driver'),
  driver_reconnects: counter('Connections a driver re-opened after a loss (as the driver reports them in its health), by driver', 'driver'),
  device_stale_total: counter('Devices that became stale (no value for 3 × their expected interval, or the driver entry\'s staleAfterMs), by driver', 'driver'),
  devices_stale: gauge('Devices of drivers that are stale now'),
  analyzer_runs: counter('Analyzer runs completed, by analyzer', 'analyzer'),
  analyzer_errors: counter('Analyzer runs that failed, by analyzer', 'analyzer'),
  uncaught_errors: counter('Exceptions and rejections no component caught (logged; the agent keeps running), by kind', 'kind'),
  // systemd integration and config reload (agent/core/sd-notify.ts, agent/reload.ts).
  sd_notify_errors: counter('sd_notify datagrams that could not be sent to systemd'),
  config_reloads: counter('Config reloads (SIGHUP), by result: applied, refused, failed (an unexpected error part way; logged)', 'result'),
  // The broker.
  broker_connections: counter('MQTT sessions established (after authentication)'),
  broker_clients: gauge('MQTT clients connected now'),
  broker_subscriptions: gauge('MQTT subscriptions now'),
  broker_refused: counter(
    'MQTT connections, publishes and subscriptions refused, by reason (among them client_id_taken: the session of the client id belongs to another user; client_id_not_allowed: the id is outside the user\'s mqtt.users[].clientIds or reserved for another user; too_many_sessions: a new persistent session past mqtt.maxSessions or the user\'s maxSessions; tls_handshake: a connection to the TLS listener whose handshake failed, e.g. no or an untrusted client certificate; certificate_revoked: a client certificate revoked by mqtt.tls.crl; too_many_subscriptions: a new filter past mqtt.maxSubscriptionsPerClient)',
    'reason',
  ),
  broker_sessions: gauge('Persistent MQTT sessions (clean: false) kept now, connected or not (bounded by mqtt.maxSessions)'),
  broker_sessions_offline: gauge('Persistent MQTT sessions kept now that no client is connected to (part of broker_sessions)'),
  broker_sessions_ended: counter(
    'Persistent MQTT sessions ended by the broker, by reason (operator: DELETE /api/v1/broker/sessions/{clientId} or gridedge sessions end; expired: offline longer than mqtt.sessionExpiryHours); their queued messages and subscriptions are dropped',
    'reason',
  ),
  broker_session_takeovers: counter("Persistent or live sessions of another user ended because the client id's owner (mqtt.users[].clientIds) connected with it"),
  broker_dropped: counter(
    "Deliveries dropped by the broker, by reason (slow_subscriber: QoS 0 to a client not reading; read_acl: topic outside the receiver's subscribe ACL; payload_rejected: a bal/raw publish the pipeline refused, not relayed; queue_full: the oldest QoS 1/2 message of a persistent session's queue, dropped for a new one at mqtt.maxQueuedMessages; qos2_duplicate: a QoS 2 publish repeating a packet id not yet released by PUBREL, acknowledged but not handled again)",
    'reason',
  ),
  broker_retained: gauge('Retained messages clients left on the embedded broker now (bounded by mqtt.maxRetained; the agent\'s own status topic is not counted)'),
  broker_retained_bytes: gauge('Bytes of topics and payloads of those retained messages (bounded by mqtt.maxRetainedBytes)'),
  broker_retained_refused: counter('Retained publishes delivered to the live subscribers but not retained, because mqtt.maxRetained or mqtt.maxRetainedBytes was reached'),
  broker_queued_messages: gauge('QoS 1/2 messages queued for persistent MQTT sessions now (sent or not yet acknowledged), all sessions together'),
  broker_slow_disconnects: counter('MQTT subscribers disconnected because they stopped reading while QoS 1/2 deliveries to them piled up past the bound (4 MiB plus two packets)'),
  broker_disconnects: counter(
    'Connected MQTT clients closed by the broker, by reason (user_changed: a config reload removed their user or changed its password, or stopped letting anonymous clients in; session_ended: their persistent session was ended, see broker_sessions_ended; certificate_revoked: a reload read an mqtt.tls.crl that revokes their client certificate)',
    'reason',
  ),
  broker_qos0: counter('QoS 0 publishes to bal/raw (best effort: not acknowledged)'),
  broker_publish_errors: counter('In-process publishes the embedded broker failed to deliver'),
  broker_auth: counter('MQTT password checks by result: cache_hit (no scrypt), scrypt_ok, scrypt_failed, joined (shared an identical running check), abandoned (client left while waiting)', 'result'),
  broker_auth_pending: gauge('MQTT password checks waiting for or running scrypt now'),
  // The buffer.
  buffer_appended: counter('Rows committed to the store-and-forward buffer'),
  buffer_pruned: counter('Rows deleted from the buffer (delivered everywhere, or dropped by a limit)'),
  buffer_prune_rounds: counter('Prune rounds the buffer ran (each looks at the limits and cursors once)'),
  buffer_dropped: counter('Rows deleted by the size/age limit before this forwarder delivered them', 'forwarder'),
  buffer_write_errors: counter('Buffer transactions that could not be written, or appends refused while it cannot write (disk full, I/O error, file lost, a reader holding the WAL at its part of maxBytes)'),
  buffer_corrupt: counter('Corrupt buffer databases moved aside at open'),
  buffer_file_lost: counter('Times the buffer database was found deleted or replaced (while running or at start)'),
  buffer_lost_rows: counter('Rows of a deleted or replaced buffer database that could not be copied to its successor'),
  buffer_clock_steps: counter('Wall-clock steps seen by the buffer (age limits follow them)'),
  buffer_listener_errors: counter('onCommit listeners that threw'),
  history_dropped_rows: counter('Delivered rows kept for history (storage.historyHours) deleted before their time, for space (or the age limit)'),
  // Forwarders.
  forward_sent: counter('Rows delivered upstream (acknowledged by the peer), per forwarder', 'forwarder'),
  forward_retries: counter('Reconnects and re-sends after a failure, per forwarder', 'forwarder'),
  forward_errors: counter('Connection and send failures, per forwarder and reason', 'forwarder', 'reason'),
  forward_rejected: counter('Rows the peer refused for good (skipped, not retried), per forwarder', 'forwarder'),
  // HTTP.
  http_requests: counter('HTTP requests answered, by route and status code', 'route', 'code'),
  http_logins: counter('Logins to the page and the API, by result (ok, bad_credentials, rate_limited; a login form: cross_site, bad_form)', 'result'),
  http_sessions_ended: counter('Login sessions of the page and the API ended by the agent, by reason (too_many: a login past the 100 sessions one account may hold ended its oldest)', 'reason'),
  http_upgrades_refused: counter('HTTP upgrade requests refused (not the MQTT-over-WebSocket path, or WebSocket disabled)'),
  http_sse_clients: gauge('Server-sent event streams (GET /api/v1/events) open now'),
  http_sse_refused: counter(
    'Server-sent event streams refused, by reason (streams: the 32 allowed were open, or the 28 of them other machines may hold; address: the remote address, an IPv6 one by its /64, held the 8 one address may)',
    'reason',
  ),
  http_connections: gauge('TCP connections open to the HTTP server now (event streams and MQTT over WebSocket among them)'),
  http_connections_refused: counter('TCP connections to the HTTP server closed at once because http.maxConnections were open (loopback ones: 16 more)'),
  http_sse_skipped: counter('Update ticks not sent to a server-sent event client whose connection was not taking data (it gets every device again once it drains)'),
  http_sse_cut: counter('Server-sent event clients disconnected because their connection took nothing for a minute (a client that never reads would hold a stream for good)'),
} as const satisfies Record<string, MetricDef>;

export type MetricName = keyof typeof METRICS;
export type MetricCatalogue = Readonly<Record<string, MetricDef>>;
