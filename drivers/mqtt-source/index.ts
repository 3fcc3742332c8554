/**
 * mqtt-source: subscribes to topics on an external MQTT broker and republishes what arrives as
 * measurements on bal/raw/<device>. See README.md.
 *
 * Lifecycle: `start` launches the connection loop and resolves at once. The loop connects with a
 * stable client id and a persistent session (clean start off), subscribes every configured filter,
 * and runs until the connection closes; it then waits (backoff from reconnectMinMs doubling to
 * reconnectMaxMs, back to the minimum after a connection that got its CONNACK) and connects again.
 * `stop` ends the loop, waits (until `deadline`) for the acknowledgements still waiting on a
 * commit, and closes the connection.
 *
 * Acknowledgements: every message goes through the client's `handleMessage` hook. A QoS 1
 * message's PUBACK is sent only after `onDurable` reported it committed to the buffer, or refused
 * (a bad payload is consumed: counted, logged, acknowledged, never retried). The connection's
 * `PubackGate` holds the PUBACKs back while the client goes on to the next messages, so many
 * messages wait on one group commit, and sends them in the order the messages came. When the
 * buffer cannot write, that PUBACK and every later one are withheld and the connection is closed,
 * so the broker sends them again after the reconnect. With an mqtt.js the gate cannot wrap, the
 * `handleMessage` callback (which sends the PUBACK, and after which mqtt.js hands over the next
 * message) is called only from `onDurable`: one message at a time, in order.
 */
import type { IClientOptions, IPublishPacket, MqttClient } from 'mqtt';
import { loadMqtt } from '../../agent/core/load-mqtt.js';
import type { Driver, DriverSpec, Emit, EmitOutcome, PluginContext, PluginHealth } from '../../agent/core/plugin.js';
import { LogLimiter } from '../../agent/core/log-limiter.js';
import { maskUrlPassword } from '../../agent/core/secrets.js';
import { matchFilter } from '../../agent/core/topics.js';
import { Backoff, sleep } from '../../agent/forwarders/backoff.js';
import { applyCredentials } from '../../agent/forwarders/options.js';
import { deviceNameError } from '../../agent/pipeline/device-name.js';
import { setPath } from '../../algorithms/common/field-quality.js';
import { isElectricalField } from '../common/field-path.js';
import type { Measurement } from '../../algorithms/common/measurement.js';
import { compile, deviceOf, schema, validate, type CompiledTopic, type MqttSourceConfig } from './config.js';
import { resolveJsonPath } from './json-path.js';
import { dropPhasorsWithoutMag } from '../common/phasors.js';
import { endCleanly, PubackGate } from './puback-gate.js';

export type { MqttSourceConfig } from './config.js';

const metrics = {
  mqtt_source_received: { type: 'counter', help: 'Messages received from the external broker, by driver', labels: ['driver'] },
  mqtt_source_rejected: {
    type: 'counter',
    help: 'Messages from the external broker refused before the pipeline (bad_json, bad_device, no_match, no_values), by driver and reason; they are acknowledged',
    labels: ['driver', 'reason'],
  },
  mqtt_source_invalid_fields: {
    type: 'counter',
    help: 'Mapped fields missing or of a kind the field cannot take in a payload (marked invalid in field_quality), by driver and reason (missing; not_numeric: an electrical field that is not a number; unsupported_type: an object or a mixed array)',
    labels: ['driver', 'reason'],
  },
  mqtt_source_reconnects: { type: 'counter', help: 'Connections to the external broker re-opened after a loss, by driver', labels: ['driver'] },
  mqtt_source_unacked: {
    type: 'counter',
    help: 'QoS 1 messages left unacknowledged because the buffer could not store them or one taken in before them (the connection is closed; the broker sends them again), by driver',
    labels: ['driver'],
  },
} as const;

/** QoS 1 messages of one connection taken in before their PUBACK; the client reads no further past it. */
const MAX_UNACKED = 1000;
/** Devices whose last field values are kept (for fields missing later); more are not remembered. */
const MAX_REMEMBERED_DEVICES = 10_000;
/** Devices listed in health() (every device still counts in driver health through its values). */
const MAX_LISTED_DEVICES = 1000;

type Ack = (err?: Error) => void;

/** A leaf value of a measurement (CONTRACT "Values"): a number, boolean, string or array of numbers. */
type FieldValue = number | boolean | string | number[];

/**
 * The value a JSON member gives `field`: a number, or a string holding a finite number, as a number;
 * for fields other than the electrical ones (which take numbers only) also a boolean, any other
 * string, or an array of finite numbers, as they are.
 */
export function fieldValue(raw: unknown, field: string): { ok: true; value: FieldValue } | { ok: false; reason: 'missing' | 'not_numeric' | 'unsupported_type' } {
  if (raw === undefined || raw === null) return { ok: false, reason: 'missing' };
  if (typeof raw === 'number') return Number.isFinite(raw) ? { ok: true, value: raw } : { ok: false, reason: 'not_numeric' };
  if (typeof raw === 'string' && raw.trim() !== '') {
    const n = Number(raw);
    if (Number.isFinite(n)) return { ok: true, value: n };
  }
  if (isElectricalField(field)) return { ok: false, reason: 'not_numeric' };
  if (typeof raw === 'boolean' || typeof raw === 'string') return { ok: true, value: raw };
  if (Array.isArray(raw) && raw.every((x) => typeof x === 'number' && Number.isFinite(x))) return { ok: true, value: raw as number[] };
  return { ok: false, reason: 'unsupported_type' };
}

class MqttSource implements Driver {
  private readonly topics: CompiledTopic[];
  private ctx: PluginContext | undefined;
  private emit: Emit | undefined;
  private client: MqttClient | undefined;
  private state: PluginHealth['state'] = 'starting';
  private stopped = false;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private connected = false;
  private everConnected = false;
  private readonly pending = new Set<Promise<void>>();
  private readonly logLimiter = new LogLimiter(5);
  private readonly last = new Map<string, Map<string, FieldValue>>();
  private readonly seen = new Set<string>();
  private received = 0;
  private emitted = 0;
  private rejected = 0;
  private errors = 0;
  private reconnects = 0;
  private lastError: string | undefined;
  private lastErrorAt: number | undefined;

  constructor(private readonly cfg: MqttSourceConfig) {
    const { problems, topics } = compile(cfg);
    if (problems.length) throw new Error(`mqtt-source ${cfg.id}: ${problems.join('; ')}`);
    this.topics = topics;
    // Devices with a fixed name are known before their first message (for stale detection).
    for (const t of topics) if (!t.device.includes('+')) this.seen.add(t.device);
  }

  async start(ctx: PluginContext, emit: Emit): Promise<void> {
    if (this.stopped || this.loop) return;
    this.ctx = ctx;
    this.emit = emit;
    // The agent is stopping: connect no more. The connection itself stays until `stop` (called next)
    // has let the messages already taken in reach the buffer and their PUBACKs go out.
    ctx.signal.addEventListener('abort', () => (this.stopped = true), { once: true });
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const backoff = new Backoff(this.cfg.reconnectMinMs, Math.max(this.cfg.reconnectMinMs, this.cfg.reconnectMaxMs));
    while (!this.stopped) {
      let gotConnack = false;
      try {
        gotConnack = await this.session();
      } catch (e) {
        this.fail(`${(e as Error).message}`);
      }
      if (gotConnack) backoff.reset();
      if (this.stopped) break;
      this.state = 'degraded';
      await sleep(backoff.next(), this.stopping.signal);
    }
  }

  /** Count and remember a connection problem and log it (rate-limited); URL passwords in `why` are masked. */
  private fail(why: string): void {
    const msg = maskUrlPassword(why);
    this.errors++;
    this.lastError = msg;
    this.lastErrorAt = Date.now();
    const d = this.logLimiter.take('connection');
    if (d.ok) this.ctx?.log.warn({ url: maskUrlPassword(this.cfg.url), err: msg }, 'mqtt-source: connection problem');
  }

  /** One connection: connect, subscribe, run until it closes. Resolves whether CONNACK came. */
  private async session(): Promise<boolean> {
    const mqtt = await loadMqtt();
    const cfg = this.cfg;
    const ctx = this.ctx!;
    const opts: IClientOptions = {
      clientId: cfg.clientId || `gridedge-${ctx.gateway}-src-${cfg.id}`,
      clean: false,
      reconnectPeriod: 0,
      connectTimeout: cfg.connectTimeoutMs,
      keepalive: cfg.keepalive,
      protocolVersion: cfg.protocolVersion === 4 ? 4 : 5,
      rejectUnauthorized: cfg.rejectUnauthorized,
    };
    if (opts.protocolVersion === 5) opts.properties = { sessionExpiryInterval: cfg.sessionExpiryS };
    applyCredentials(opts, cfg); // reads the PEM files at each connection
    const client = mqtt.connect(cfg.url, opts);
    this.client = client;
    const gate = PubackGate.install(client, MAX_UNACKED, (withheld) => this.unstored(withheld));
    client.handleMessage = (packet, callback) => this.onMessage(client, gate, packet as IPublishPacket, callback);
    return new Promise<boolean>((resolve) => {
      let gotConnack = false;
      let finished = false;
      // Ends the session once: on 'close', or when the driver stops (also before any CONNACK).
      const finish = (): void => {
        if (finished) return;
        finished = true;
        this.connected = false;
        gate?.close();
        this.stopping.signal.removeEventListener('abort', finish);
        client.end(true);
        if (this.client === client) this.client = undefined;
        resolve(gotConnack);
      };
      if (this.stopping.signal.aborted) return finish();
      this.stopping.signal.addEventListener('abort', finish, { once: true });
      client.on('connect', (connack) => {
        gotConnack = true;
        if (this.everConnected) {
          this.reconnects++;
          ctx.counters.inc('mqtt_source_reconnects', { driver: cfg.id });
        }
        this.everConnected = true;
        this.connected = true;
        this.state = 'running';
        // PUBACKs and SUBSCRIBEs are small writes: do not let Nagle hold them for the broker's delayed ACK.
        (client.stream as unknown as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
        ctx.log.info({ url: maskUrlPassword(cfg.url), clientId: opts.clientId, sessionPresent: connack.sessionPresent }, 'mqtt-source: connected');
        const qos = cfg.qos === 0 ? 0 : 1;
        client.subscribe(
          this.topics.map((t) => t.filter),
          { qos },
          (err, granted) => {
            if (err) return this.fail(`subscribe failed: ${err.message}`);
            for (const g of granted ?? []) if (g.qos === 128) this.fail(`the broker refused the subscription ${g.topic}`);
          },
        );
      });
      client.on('error', (err) => this.fail(err.message));
      client.once('close', finish);
    });
  }

  /**
   * Every message of the connection comes here (QoS 0 and 1). `callback` lets the client hand over
   * the next message and, without a gate, sends the PUBACK (QoS 1); with a gate it is called at once
   * and the gate sends the PUBACK when the message is durable.
   */
  private onMessage(client: MqttClient, gate: PubackGate | null, packet: IPublishPacket, callback: Ack): void {
    this.received++;
    this.ctx?.counters.inc('mqtt_source_received', { driver: this.cfg.id });
    if (packet.qos === 0) {
      this.handle(packet, undefined);
      callback();
      return;
    }
    let settle!: () => void;
    const done = new Promise<void>((r) => (settle = r));
    this.pending.add(done);
    void done.then(() => this.pending.delete(done));
    if (gate) {
      const durable = gate.admit(packet.messageId!, () => callback());
      this.handle(packet, (outcome) => {
        durable(outcome !== 'failed');
        settle();
      });
      return;
    }
    let called = false;
    this.handle(packet, (outcome) => {
      if (called) return;
      called = true;
      if (outcome === 'failed') {
        // Not stored: no PUBACK (mqtt.js sends none for an error) and the connection is closed.
        this.unstored(1);
        endCleanly(client);
        callback(new Error('not stored'));
      } else callback();
      settle();
    });
  }

  /** A QoS 1 message could not be stored: `withheld` PUBACKs are not sent (its own and later ones); the connection is closed. */
  private unstored(withheld: number): void {
    this.ctx?.counters.inc('mqtt_source_unacked', { driver: this.cfg.id }, withheld);
    this.fail('the buffer could not store a message; reconnecting so the broker sends it again');
  }

  /** Turn one message into a measurement and emit it; `onDurable` hears its fate (also for a refused one). */
  private handle(packet: IPublishPacket, onDurable: ((o: EmitOutcome | 'refused') => void) | undefined): void {
    const topic = packet.topic;
    let t: CompiledTopic | undefined;
    let caught: string[] | null = null;
    for (const c of this.topics) {
      caught = matchFilter(c.filter, topic);
      if (caught) {
        t = c;
        break;
      }
    }
    if (!t || !caught) return this.refuse('no_match', `topic ${topic} matches no configured filter`, topic, onDurable);
    const device = deviceOf(t.device, caught.slice(0, t.plusLevels));
    const de = deviceNameError(device);
    if (de) return this.refuse('bad_device', `topic ${topic} gives device ${JSON.stringify(device.slice(0, 64))}: ${de}`, topic, onDurable);
    let payload: unknown;
    try {
      payload = JSON.parse(Buffer.isBuffer(packet.payload) ? packet.payload.toString('utf8') : String(packet.payload));
    } catch (e) {
      return this.refuse('bad_json', `payload is not JSON: ${(e as Error).message}`, topic, onDurable);
    }
    let m: Measurement | null;
    if (t.fields) m = this.mapped(t, device, payload);
    else {
      if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
        return this.refuse('bad_json', 'payload is not a JSON object (a measurement in the gateway format)', topic, onDurable);
      // The gateway's own format: the device comes from the topic mapping; a missing ts is the arrival time.
      const o = { ...(payload as Record<string, unknown>) };
      o['device'] = device;
      if (o['ts'] === undefined) o['ts'] = Date.now() * 1000;
      m = o as unknown as Measurement;
    }
    if (!m) return this.refuse('no_values', `no mapped field of ${device} has a value in this message`, topic, onDurable);
    if (this.seen.size < MAX_LISTED_DEVICES) this.seen.add(device);
    this.emitted++;
    this.emit!(m, onDurable ? { onDurable } : undefined);
  }

  /**
   * A measurement from a payload through the `fields` map (values as `fieldValue` reads them). A
   * missing value, or one the field cannot take, is `invalid` in field_quality (with
   * `mqtt-source:<reason>` in reasons) and carries the device's last good value of that field; a
   * field never good is left out. Null when no field has a value in this payload: last values are
   * carried only beside something read now, never re-published alone under a new time stamp.
   */
  private mapped(t: CompiledTopic, device: string, payload: unknown): Measurement | null {
    let last = this.last.get(device);
    if (!last && this.last.size < MAX_REMEMBERED_DEVICES) {
      last = new Map();
      this.last.set(device, last);
    }
    const m: Measurement = { device, ts: Date.now() * 1000, quality: 'good' };
    const fq: Record<string, 'invalid'> = {};
    const reasons = new Set<string>();
    /** Fields with a value read from this payload (the others may carry a last value). */
    let fresh = 0;
    for (const f of t.fields!) {
      const r = fieldValue(resolveJsonPath(payload, f.path), f.field);
      let value: FieldValue | undefined;
      if (r.ok) {
        value = r.value;
        last?.set(f.field, r.value);
        fresh++;
      } else {
        const reason = r.reason;
        reasons.add(`mqtt-source:${reason}`);
        this.ctx?.counters.inc('mqtt_source_invalid_fields', { driver: this.cfg.id, reason });
        value = last?.get(f.field);
        if (value !== undefined) fq[f.field] = 'invalid';
      }
      if (value === undefined) continue;
      setPath(m, f.field, value);
    }
    dropPhasorsWithoutMag(m, fq);
    if (fresh === 0 || !hasValue(m)) return null;
    if (t.ts) {
      const ts = toMicros(resolveJsonPath(payload, t.ts));
      if (ts === undefined) {
        reasons.add('mqtt-source:no_ts');
        if (m.quality === 'good') m.quality = 'questionable';
      } else m.ts = ts;
    }
    if (Object.keys(fq).length) {
      m.field_quality = fq;
      m.quality = 'invalid';
    }
    if (reasons.size) m.reasons = [...reasons];
    return m;
  }

  private refuse(reason: string, detail: string, topic: string, onDurable: ((o: EmitOutcome | 'refused') => void) | undefined): void {
    this.rejected++;
    this.ctx?.counters.inc('mqtt_source_rejected', { driver: this.cfg.id, reason });
    const d = this.logLimiter.take(`refuse:${reason}`);
    if (d.ok) this.ctx?.log.warn({ topic, reason, detail }, 'mqtt-source: message refused');
    if (onDurable) queueMicrotask(() => onDurable('refused'));
  }

  async stop(deadline: AbortSignal): Promise<void> {
    this.stopped = true;
    const untilDeadline = new Promise<void>((r) => deadline.addEventListener('abort', () => r(), { once: true }));
    // Acknowledge what is already on its way to the buffer, unless the deadline comes first.
    if (this.pending.size && !deadline.aborted) await Promise.race([Promise.allSettled([...this.pending]), untilDeadline]);
    // A clean disconnect writes the PUBACKs sent so far before the DISCONNECT (a forced end could
    // drop those still in the stream's buffer, or make the broker drop them unread); the broker keeps
    // the session. A broker that stopped reading gets its socket destroyed after GRACEFUL_END_MS.
    const client = this.client;
    if (client?.connected && !deadline.aborted) await Promise.race([new Promise<void>((r) => endCleanly(client, r)), untilDeadline]);
    // Ends the session (what is not acknowledged is sent again next time) and the reconnect wait;
    // the loop then returns.
    this.stopping.abort();
    await this.loop;
    this.state = 'stopped';
  }

  health(): PluginHealth {
    const h: PluginHealth = {
      state: this.state,
      devices: [...this.seen],
      info: {
        connected: this.connected,
        url: maskUrlPassword(this.cfg.url),
        received: this.received,
        emitted: this.emitted,
        rejected: this.rejected,
        errors: this.errors,
        reconnects: this.reconnects,
        awaitingCommit: this.pending.size,
      },
    };
    if (this.lastError !== undefined) {
      h.lastError = this.lastError;
      h.lastErrorAt = this.lastErrorAt;
    }
    return h;
  }
}


function hasValue(m: Measurement): boolean {
  return Object.keys(m).some((k) => k !== 'device' && k !== 'ts' && k !== 'quality');
}

/**
 * A timestamp from a payload, in µs since the epoch: a number in seconds (below 1e11), milliseconds
 * (below 1e14) or microseconds; or an ISO 8601 string. Undefined when it is neither.
 */
export function toMicros(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) {
    if (v < 1e11) return Math.round(v * 1e6);
    if (v < 1e14) return Math.round(v * 1e3);
    return Math.round(v);
  }
  if (typeof v === 'string' && v.trim() !== '') {
    const ms = Date.parse(v);
    if (Number.isFinite(ms)) return ms * 1000;
  }
  return undefined;
}

export const mqttSourceDriver: DriverSpec<MqttSourceConfig> = {
  type: 'mqtt-source',
  doc: 'Subscribes to an external MQTT broker and republishes on bal/raw/<device>: topic-to-device mapping, JSON field map, QoS 1 acknowledged after the commit, persistent session',
  schema,
  metrics,
  validate,
  create: (config) => new MqttSource(config),
};
