/**
 * Upstream MQTT forwarder: sends buffered rows to another MQTT broker (mqtt, mqtts, ws, wss), with
 * username/password, client certificates and a CA, under the topics its `map` gives.
 * Every message gets `"gw"` and `"seq"`. QoS 1 by default: a row counts as delivered on PUBACK.
 * See README.md.
 */
import { intRange, optionalFile, optionalString } from '../../config/formats.js';
import type { Forwarder, ForwarderSpec, InvalidPaths, PluginContext, RejectedRow, SendResult, StoredMessage } from '../../core/plugin.js';
import { maskUrlPassword } from '../../core/secrets.js';
import { ForwardError, PartialSendError } from '../errors.js';
import { MqttLink, PublishRefused } from '../mqtt-link.js';
import {
  makeRouter,
  applyCredentials,
  mqttConnectionProblems,
  type MqttConnectionConfig,
  routingSchema,
  runnerSchema,
  upstreamUrl,
  type RoutingConfig,
  type RunnerConfig,
} from '../options.js';
import { splicedRow } from '../payload.js';
import { reconnectProblems } from '../../config/reconnect.js';

/** `clientId` empty: `gridedge-<gateway>-<id>`. */
export interface MqttForwarderConfig extends RoutingConfig, RunnerConfig, MqttConnectionConfig {
  id: string;
  type?: string;
  qos: number;
  keepalive: number;
  protocolVersion: number;
  connectTimeoutMs: number;
}

/** PUBACK reason codes that refuse the topic rather than the one message: 0x87 not authorized, 0x90 topic name invalid. */
const TOPIC_REFUSALS = new Set([0x87, 0x90]);

/** Rows per publish batch and batches in flight (see `maxInFlight`). */
const MQTT_BATCH = 100;
const MQTT_IN_FLIGHT = 4;

const schema = {
  url: {
    doc: 'Upstream broker URL: mqtt://host:1883, mqtts://host:8883, ws://host/path or wss://host/path',
    format: upstreamUrl,
    default: 'mqtt://127.0.0.1:1884',
  },
  username: { doc: 'MQTT username (empty: none)', format: optionalString, default: '' },
  password: { doc: 'MQTT password (empty: none)', format: optionalString, default: '', sensitive: true },
  clientId: { doc: 'MQTT client id (empty: gridedge-<gateway id>-<forwarder id>)', format: optionalString, default: '' },
  ca: { doc: 'PEM file of the CA(s) that signed the broker certificate (empty: the system CAs)', format: optionalFile, default: '' },
  cert: { doc: 'PEM file of our client certificate (with `key`)', format: optionalFile, default: '' },
  key: { doc: 'PEM file of our client private key (with `cert`)', format: optionalFile, default: '' },
  rejectUnauthorized: {
    doc: 'Check the broker certificate against the CA and the host name (turn off only for tests)',
    format: Boolean,
    default: true,
  },
  qos: { doc: 'QoS of upstream publishes: 1 (a row counts as delivered on PUBACK) or 0 (best effort)', format: intRange(0, 1), default: 1 },
  keepalive: { doc: 'MQTT keepalive in seconds', format: intRange(5, 65535), default: 30 },
  protocolVersion: {
    doc: 'MQTT protocol version: 5 (the broker can refuse a single publish, counted in forward_rejected) or 4 (3.1.1)',
    format: (v: unknown) => {
      if (v !== 4 && v !== 5) throw new Error('must be 4 (MQTT 3.1.1) or 5 (MQTT 5.0)');
    },
    default: 5,
  },
  connectTimeoutMs: { doc: 'Give up a connection attempt after this many ms', format: intRange(100, 600_000), default: 10_000 },
  ...routingSchema,
  ...runnerSchema({ batchSize: MQTT_BATCH }),
};

/** What convict cannot check key by key; one message per problem, each naming its key. */
export function validateMqttForwarder(cfg: Partial<MqttForwarderConfig>, invalid?: InvalidPaths): string[] {
  return [...mqttConnectionProblems(cfg, invalid), ...reconnectProblems(cfg, invalid)];
}

class MqttForwarder implements Forwarder {
  /**
   * Several small batches in flight: the next one is written while the PUBACKs of the earlier ones
   * come back, so the connection never idles waiting for them (a broker that delays its small
   * writes — Nagle's algorithm, mosquitto's default — would otherwise stall every batch by up to a
   * delayed-ACK timeout), and a live row waits behind at most MQTT_IN_FLIGHT × batchSize rows.
   */
  readonly maxInFlight = MQTT_IN_FLIGHT;
  private link: MqttLink | null = null;
  private opening: AbortController | null = null;
  private gwJson = '""';
  readonly route: (topic: string) => string | null;

  constructor(private readonly cfg: MqttForwarderConfig) {
    this.route = makeRouter(cfg);
  }

  async connect(ctx: PluginContext): Promise<void> {
    this.gwJson = JSON.stringify(ctx.gateway);
    await this.drop();
    const cfg = this.cfg;
    const opening = new AbortController();
    this.opening = opening;
    try {
      const opts: Parameters<typeof MqttLink.open>[0] = {
        url: cfg.url,
        clientId: cfg.clientId || `gridedge-${ctx.gateway}-${cfg.id}`,
        rejectUnauthorized: cfg.rejectUnauthorized,
        keepaliveS: cfg.keepalive,
        protocolVersion: cfg.protocolVersion === 4 ? 4 : 5,
        connectTimeoutMs: cfg.connectTimeoutMs,
      };
      applyCredentials(opts, cfg); // reads the PEM files at each connect
      this.link = await MqttLink.open(opts, opening.signal);
    } finally {
      if (this.opening === opening) this.opening = null;
    }
  }

  connected(): boolean {
    return this.link?.connected ?? false;
  }

  async send(batch: readonly StoredMessage[]): Promise<SendResult> {
    const link = this.link;
    if (!link || !link.connected) throw link?.error ?? new ForwardError('closed', `${maskUrlPassword(this.cfg.url)}: not connected`);
    const qos = this.cfg.qos === 0 ? 0 : 1;
    const gw = this.gwJson;
    const outcomes = await Promise.allSettled(batch.map((r) => link.publish(r.topic, splicedRow(r, [['gw', gw], ['seq', String(r.seq)]]), qos)));
    const delivered: number[] = [];
    const rejected: RejectedRow[] = [];
    let failure: ForwardError | undefined;
    outcomes.forEach((o, k) => {
      const seq = batch[k]!.seq;
      if (o.status === 'fulfilled') delivered.push(seq);
      else if (o.reason instanceof PublishRefused) {
        const r: RejectedRow = { seq, reason: `${batch[k]!.topic}: ${o.reason.message}` };
        if (TOPIC_REFUSALS.has(o.reason.code)) r.topicRefused = true;
        rejected.push(r);
      }
      else failure ??= o.reason instanceof ForwardError ? o.reason : new ForwardError('error', String(o.reason));
    });
    if (failure) {
      if (delivered.length || rejected.length) throw new PartialSendError(failure, delivered, rejected);
      throw failure;
    }
    return { delivered, rejected };
  }

  private async drop(deadline?: AbortSignal): Promise<void> {
    const old = this.link;
    this.link = null;
    if (old) await old.close(deadline);
  }

  async close(deadline?: AbortSignal): Promise<void> {
    this.opening?.abort();
    await this.drop(deadline);
  }
}

export const mqttForwarder: ForwarderSpec<MqttForwarderConfig> & {
  validate(cfg: Partial<MqttForwarderConfig>, invalid?: InvalidPaths): string[];
} = {
  type: 'mqtt',
  doc: 'Upstream MQTT broker (mqtt/mqtts/ws/wss), topic map, QoS 1, gw and seq in every message',
  schema,
  validate: validateMqttForwarder,
  create(config) {
    const problems = validateMqttForwarder(config);
    if (problems.length) throw new Error(`forwarder ${config.id}: ${problems.join('; ')}`);
    return new MqttForwarder(config);
  },
};

