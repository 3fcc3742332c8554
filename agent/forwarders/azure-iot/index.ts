/**
 * Azure IoT Hub forwarder over MQTT 3.1.1 with mqtt.js (no Azure SDK): a device (or module)
 * identity authenticated by a SAS token made from its key — renewed by reconnecting before it
 * expires — or by an X.509 client certificate. Rows go to `devices/{deviceId}/messages/events/`
 * with `$.mid`, `$.ct`, `$.ce`, packed several per message up to the hub's size limit, at a bounded
 * message rate. See README.md.
 */
import { setLongTimeout, type LongTimer } from '../../core/long-timer.js';
import { intRange, optionalFile, optionalString } from '../../config/formats.js';
import { NO_INVALID_PATHS, type Forwarder, type ForwarderSpec, type InvalidPaths, type PluginContext, type SendResult, type StoredMessage } from '../../core/plugin.js';
import { sleep } from '../backoff.js';
import { ForwardError, PartialSendError } from '../errors.js';
import { MqttLink } from '../mqtt-link.js';
import { makeRouter, optionalUpstreamUrl, readPem, routingSchema, runnerSchema, type RoutingConfig, type RunnerConfig } from '../options.js';
import { reconnectProblems } from '../../config/reconnect.js';
import { RateLimiter } from '../../core/rate-limiter.js';
import { maskUrlPassword } from '../../core/secrets.js';
import { parseConnectionString, type DeviceCredentials } from './connection-string.js';
import { resourceUri, sasToken } from './sas.js';
import { eventsTopic, eventsTopicBase, packRows } from './telemetry.js';

export interface AzureIotConfig extends RoutingConfig, RunnerConfig {
  id: string;
  type?: string;
  /** Device connection string `HostName=…;DeviceId=…;SharedAccessKey=…` (empty: use hostName/deviceId/x509). */
  connectionString: string;
  hostName: string;
  deviceId: string;
  moduleId: string;
  x509: { cert: string; key: string };
  apiVersion: string;
  sasTtlS: number;
  url: string;
  ca: string;
  rejectUnauthorized: boolean;
  maxRate: number;
  maxMessageBytes: number;
  maxRowsPerMessage: number;
  includeTopic: boolean;
  keepalive: number;
  connectTimeoutMs: number;
}

/** IoT Hub refuses device-to-cloud messages over 256 KB ("Create and read IoT Hub messages", Microsoft Learn). */
export const HUB_MAX_MESSAGE_BYTES = 256 * 1024;

const connectionStringFormat = (v: unknown): void => {
  if (v === '' || v === null || v === undefined) return;
  if (typeof v !== 'string') throw new Error('must be a device connection string');
  try {
    parseConnectionString(v);
  } catch (e) {
    throw new Error(`must be a device connection string: it ${(e as Error).message}`);
  }
};

const schema = {
  connectionString: {
    doc: 'Device connection string HostName=<hub>.azure-devices.net;DeviceId=<id>;SharedAccessKey=<key> (or empty, with hostName, deviceId and x509)',
    format: connectionStringFormat,
    default: '',
    sensitive: true,
  },
  hostName: { doc: 'IoT hub host name (<hub>.azure-devices.net) when no connectionString is given (X.509)', format: optionalString, default: '' },
  deviceId: { doc: 'Device id when no connectionString is given (X.509)', format: optionalString, default: '' },
  moduleId: { doc: 'Module id, to send as a module identity (empty: the device itself)', format: optionalString, default: '' },
  x509: {
    cert: { doc: 'PEM file of the device certificate (X.509 authentication, instead of a SAS key)', format: optionalFile, default: '' },
    key: { doc: 'PEM file of the device private key (with x509.cert)', format: optionalFile, default: '' },
  },
  apiVersion: { doc: 'api-version sent in the MQTT username', format: optionalString, default: '2021-04-12' },
  sasTtlS: {
    doc: 'Lifetime of each SAS token in seconds; the forwarder reconnects with a fresh token at 80% of it',
    format: intRange(2, 365 * 86400),
    default: 3600,
  },
  url: {
    doc: 'Broker URL override (empty: mqtts://<HostName>:8883; for WebSockets wss://<HostName>/$iothub/websocket); the TLS name and the username still use HostName',
    format: optionalUpstreamUrl,
    default: '',
  },
  ca: { doc: 'PEM file of the CA(s) to trust for the hub certificate (empty: the system CAs)', format: optionalFile, default: '' },
  rejectUnauthorized: { doc: 'Check the hub certificate (turn off only for tests)', format: Boolean, default: true },
  maxRate: {
    doc: 'Device-to-cloud messages per second at most, live and backlog together (IoT Hub throttles sends per tier and units)',
    format: intRange(1, 100_000),
    default: 10,
  },
  maxMessageBytes: {
    doc: 'Largest message body in bytes (IoT Hub allows 256 KB including properties)',
    format: intRange(1024, HUB_MAX_MESSAGE_BYTES),
    default: HUB_MAX_MESSAGE_BYTES - 4096,
  },
  maxRowsPerMessage: {
    doc: 'Rows packed into one message: 1 sends each row as a JSON object; more sends JSON arrays',
    format: intRange(1, 100_000),
    default: 500,
  },
  includeTopic: { doc: 'Add the (mapped) source topic to every row as "topic"', format: Boolean, default: true },
  keepalive: { doc: 'MQTT keepalive in seconds (IoT Hub closes idle connections after about 1177 s)', format: intRange(5, 1177), default: 60 },
  connectTimeoutMs: { doc: 'Give up a connection attempt after this many ms', format: intRange(100, 600_000), default: 15_000 },
  ...routingSchema,
  ...runnerSchema({ batchSize: 500 }),
};

export interface AzureIdentity {
  hostName: string;
  deviceId: string;
  moduleId?: string;
  /** Base64 key (SAS); absent for X.509. */
  key?: string;
}

/** The identity the config describes; throws an Error naming the key that is wrong. */
export function azureIdentity(cfg: Partial<AzureIotConfig>): AzureIdentity {
  const problems = validateAzureIot(cfg);
  if (problems.length) throw new Error(problems.join('; '));
  let c: DeviceCredentials;
  if (cfg.connectionString) c = parseConnectionString(cfg.connectionString);
  else c = { hostName: cfg.hostName!, deviceId: cfg.deviceId!, x509: true };
  const id: AzureIdentity = { hostName: c.hostName, deviceId: c.deviceId };
  const moduleId = cfg.moduleId || c.moduleId;
  if (moduleId) id.moduleId = moduleId;
  if (c.sharedAccessKey) id.key = c.sharedAccessKey;
  return id;
}

/**
 * What convict cannot check key by key; one message per problem, each naming its key. A rule that
 * reads a key `invalid` by itself is left out.
 */
export function validateAzureIot(cfg: Partial<AzureIotConfig>, invalid: InvalidPaths = NO_INVALID_PATHS): string[] {
  const p: string[] = [];
  const valid = (...keys: string[]): boolean => keys.every((k) => !invalid(k));
  const cert = cfg.x509?.cert ?? '';
  const key = cfg.x509?.key ?? '';
  if (valid('x509.cert', 'x509.key')) {
    if (cert && !key) p.push('x509.key: must be set when x509.cert is set');
    if (key && !cert) p.push('x509.cert: must be set when x509.key is set');
  }
  if (!valid('connectionString')) {
    // Which of the two ways to authenticate applies is not known: nothing to check across them.
  } else if (cfg.connectionString) {
    let c: DeviceCredentials | undefined;
    try {
      c = parseConnectionString(cfg.connectionString);
    } catch (e) {
      p.push(`connectionString: must be a device connection string: it ${(e as Error).message}`);
    }
    if (c) {
      if (valid('hostName') && cfg.hostName && cfg.hostName !== c.hostName) p.push('hostName: leave empty when connectionString is set (it has HostName)');
      if (valid('deviceId') && cfg.deviceId && cfg.deviceId !== c.deviceId) p.push('deviceId: leave empty when connectionString is set (it has DeviceId)');
      if (valid('x509.cert') && c.x509 && !cert) p.push('x509.cert: must be set: the connectionString says x509=true');
      if (valid('x509.cert') && !c.x509 && cert) p.push('x509: the connectionString has a SharedAccessKey: use either it or x509, not both');
    }
  } else {
    if (valid('hostName') && !cfg.hostName) p.push('hostName: must be set (or give connectionString)');
    if (valid('deviceId') && !cfg.deviceId) p.push('deviceId: must be set (or give connectionString)');
    if (valid('x509.cert') && !cert) p.push('x509.cert: must be set without a connectionString (X.509 authentication), or give connectionString');
  }
  p.push(...reconnectProblems(cfg, invalid));
  return p;
}

class AzureIotForwarder implements Forwarder {
  readonly route: (topic: string) => string | null;
  private readonly identity: AzureIdentity;
  private readonly url: string;
  private readonly topicBase: string;
  private readonly limiter: RateLimiter;
  private link: MqttLink | null = null;
  private ctx: PluginContext | undefined;
  private opening: AbortController | null = null;
  private renewTimer: LongTimer | undefined;
  private renewing: Promise<void> | null = null;
  private renewDue = false;
  private sending = false;
  private closed = false;
  private closing = new AbortController();

  constructor(private readonly cfg: AzureIotConfig) {
    this.identity = azureIdentity(cfg);
    this.route = makeRouter(cfg);
    this.url = cfg.url || `mqtts://${this.identity.hostName}:8883`;
    this.topicBase = eventsTopicBase(this.identity.deviceId, this.identity.moduleId);
    this.limiter = new RateLimiter(cfg.maxRate, Math.max(1, Math.ceil(cfg.maxRate)));
  }

  /** MQTT username: `{HostName}/{deviceId}[/{moduleId}]/?api-version=…`. */
  username(): string {
    const { hostName, deviceId, moduleId } = this.identity;
    return `${hostName}/${deviceId}/` + (moduleId ? `${moduleId}/` : '') + `?api-version=${this.cfg.apiVersion}`;
  }

  async connect(ctx: PluginContext): Promise<void> {
    this.ctx = ctx;
    if (this.closed) {
      this.closed = false;
      this.closing = new AbortController();
    }
    await this.open();
  }

  private async open(): Promise<void> {
    this.renewTimer?.clear();
    const old = this.link;
    this.link = null;
    // IoT Hub allows one connection per identity: close the old one before opening the next.
    if (old) await old.close();
    const { hostName, deviceId, moduleId, key } = this.identity;
    const cfg = this.cfg;
    const opts: Parameters<typeof MqttLink.open>[0] = {
      url: this.url,
      clientId: moduleId ? `${deviceId}/${moduleId}` : deviceId,
      username: this.username(),
      servername: hostName,
      rejectUnauthorized: cfg.rejectUnauthorized,
      keepaliveS: cfg.keepalive,
      protocolVersion: 4,
      connectTimeoutMs: cfg.connectTimeoutMs,
    };
    const ttl = cfg.sasTtlS;
    if (key) opts.password = sasToken(resourceUri(hostName, deviceId, moduleId), key, Math.floor(Date.now() / 1000) + ttl);
    const ca = readPem(cfg.ca, 'ca');
    const cert = readPem(cfg.x509?.cert, 'x509.cert');
    const pkey = readPem(cfg.x509?.key, 'x509.key');
    if (ca) opts.ca = ca;
    if (cert) opts.cert = cert;
    if (pkey) opts.key = pkey;
    const opening = new AbortController();
    this.opening = opening;
    try {
      this.link = await MqttLink.open(opts, opening.signal);
    } finally {
      if (this.opening === opening) this.opening = null;
    }
    if (key) {
      // At 80 % of the token's life; sasTtlS may exceed what one setTimeout can wait (24.8 days).
      this.renewTimer = setLongTimeout(() => this.renewSoon(), ttl * 800);
    }
  }

  private renewSoon(): void {
    if (this.closed) return;
    this.renewDue = true;
    if (!this.sending) void this.renew();
  }

  /** Reconnect with a fresh token. On failure the link stays down and the runner reconnects with backoff. */
  private renew(): Promise<void> {
    if (this.renewing) return this.renewing;
    this.renewDue = false;
    this.renewing = this.open()
      .then(() => this.ctx?.log.debug(`forwarder ${this.cfg.id}: SAS token renewed`))
      .catch((e: unknown) => this.ctx?.log.warn(`forwarder ${this.cfg.id}: reconnect with a fresh SAS token failed: ${(e as Error).message}`))
      .finally(() => {
        this.renewing = null;
      });
    return this.renewing;
  }

  connected(): boolean {
    return this.renewing !== null || (this.link?.connected ?? false);
  }

  async send(batch: readonly StoredMessage[]): Promise<SendResult> {
    if (this.renewing) await this.renewing;
    const link = this.link;
    if (!link || !link.connected) throw link?.error ?? new ForwardError('closed', `${maskUrlPassword(this.url)}: not connected`);
    this.sending = true;
    try {
      return await this.publish(link, batch);
    } finally {
      this.sending = false;
      if (this.renewDue && !this.closed) void this.renew();
    }
  }

  private async publish(link: MqttLink, batch: readonly StoredMessage[]): Promise<SendResult> {
    const cfg = this.cfg;
    const { messages, tooLarge } = packRows(batch, {
      gw: this.ctx?.gateway ?? '',
      maxMessageBytes: cfg.maxMessageBytes,
      maxRowsPerMessage: cfg.maxRowsPerMessage,
      includeTopic: cfg.includeTopic,
    });
    const rejected = tooLarge.map((t) => ({ seq: t.seq, reason: `${t.bytes} bytes: larger than maxMessageBytes ${cfg.maxMessageBytes}` }));
    const pubs: Promise<void>[] = [];
    for (const m of messages) {
      const wait = this.limiter.waitMs(1);
      if (wait > 0) await sleep(wait, this.closing.signal);
      if (!link.connected) break;
      this.limiter.take(1);
      pubs.push(link.publish(eventsTopic(this.topicBase, m.messageId), m.body, 1));
    }
    const outcomes = await Promise.allSettled(pubs);
    const delivered: number[] = [];
    let failure: ForwardError | undefined;
    outcomes.forEach((o, k) => {
      if (o.status === 'fulfilled') delivered.push(...messages[k]!.seqs);
      else failure ??= o.reason instanceof ForwardError ? o.reason : new ForwardError('error', String(o.reason));
    });
    if (pubs.length < messages.length) failure ??= link.error ?? new ForwardError('closed', `${maskUrlPassword(this.url)}: connection lost`);
    if (failure) {
      if (delivered.length || rejected.length) throw new PartialSendError(failure, delivered, rejected);
      throw failure;
    }
    return { delivered, rejected };
  }

  async close(deadline?: AbortSignal): Promise<void> {
    this.closed = true;
    this.closing.abort();
    this.renewTimer?.clear();
    this.opening?.abort();
    if (this.renewing) await this.renewing;
    const old = this.link;
    this.link = null;
    if (old) await old.close(deadline);
  }
}

export const azureIotForwarder: ForwarderSpec<AzureIotConfig> & {
  validate(cfg: Partial<AzureIotConfig>, invalid?: InvalidPaths): string[];
} = {
  type: 'azure-iot',
  doc: 'Azure IoT Hub device-to-cloud telemetry over MQTT (SAS token renewed, or X.509), batched, rate-limited',
  schema,
  validate: validateAzureIot,
  create(config) {
    const problems = validateAzureIot(config);
    if (problems.length) throw new Error(`forwarder ${config.id}: ${problems.join('; ')}`);
    return new AzureIotForwarder(config);
  },
};
