/**
 * One MQTT connection to an upstream broker (mqtt.js 5), used by both the upstream MQTT and the
 * Azure IoT Hub forwarders. It never reconnects by itself: the forwarder runner decides when
 * (backoff with jitter), and a new link is opened each time (a fresh SAS token for Azure).
 *
 * `publish` resolves on the broker's acknowledgement (PUBACK for QoS 1) and rejects when the
 * connection goes down first — mqtt.js would otherwise keep an unacknowledged QoS 1 callback
 * pending forever when `reconnectPeriod` is 0.
 */
import type { IClientOptions, MqttClient } from 'mqtt';
import { loadMqtt } from '../core/load-mqtt.js';
import { maskUrlPassword } from '../core/secrets.js';
import { ForwardError, describeConnectError } from './errors.js';

export interface LinkOptions {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized: boolean;
  /** TLS server name (SNI and certificate check) when it differs from the url's host. */
  servername?: string;
  keepaliveS: number;
  protocolVersion: 4 | 5;
  connectTimeoutMs: number;
}

/** The broker refused one publish for good (MQTT 5 PUBACK reason code >= 0x80). */
export class PublishRefused extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'PublishRefused';
  }
}

/** MQTT 5 PUBACK reason codes that mean "try again later" rather than "never" (§3.4.2.1). */
const TRANSIENT_PUBACK = new Set([0x97 /* quota exceeded */]);

export class MqttLink {
  private readonly pending = new Set<(e: ForwardError) => void>();
  private readonly closeListeners = new Set<(e: ForwardError) => void>();
  private down: ForwardError | null = null;
  private lastError: ForwardError | null = null;

  /** `url`: the broker's URL as shown in messages, its password masked. */
  private constructor(
    private readonly client: MqttClient,
    readonly url: string,
  ) {
    client.on('error', (err) => {
      this.lastError = describeConnectError(err, url);
    });
    client.on('disconnect', (packet) => {
      const rc = packet.reasonCode ?? 0;
      this.lastError = new ForwardError('closed', `${url}: the broker disconnected us (reason code ${rc})`);
    });
    client.on('close', () => this.markDown(this.lastError ?? new ForwardError('closed', `${url}: connection lost`)));
  }

  /** Connect; resolves once the broker accepted the connection (CONNACK 0), rejects with a ForwardError. */
  static async open(opts: LinkOptions, signal?: AbortSignal): Promise<MqttLink> {
    const { connect } = await loadMqtt();
    const options: IClientOptions = {
      clientId: opts.clientId,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: opts.connectTimeoutMs,
      keepalive: opts.keepaliveS,
      protocolVersion: opts.protocolVersion,
      rejectUnauthorized: opts.rejectUnauthorized,
      resubscribe: false,
      queueQoSZero: false,
    };
    if (opts.username !== undefined) options.username = opts.username;
    if (opts.password !== undefined) options.password = opts.password;
    if (opts.ca) options.ca = opts.ca;
    if (opts.cert) options.cert = opts.cert;
    if (opts.key) options.key = opts.key;
    if (opts.servername) options.servername = opts.servername;
    if (opts.servername && /^wss?:/.test(opts.url)) options.wsOptions = { servername: opts.servername } as IClientOptions['wsOptions'];

    // Messages name the URL with its password masked.
    const shownUrl = maskUrlPassword(opts.url);
    return new Promise((resolve, reject) => {
      let client: MqttClient;
      try {
        client = connect(opts.url, options);
      } catch (e) {
        reject(new ForwardError('config', `${shownUrl}: ${maskUrlPassword((e as Error).message)}`));
        return;
      }
      // Small packets (PUBACK-paced publishes) should not wait for Nagle's algorithm.
      (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
      let settled = false;
      let firstError: ForwardError | undefined;
      const onAbort = (): void => fail(new ForwardError('closed', `${shownUrl}: connect abandoned (closing)`));
      const finish = (): void => {
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        client.removeListener('connect', onConnect);
        client.removeListener('error', onError);
        client.removeListener('close', onClose);
      };
      const fail = (e: ForwardError): void => {
        if (settled) return;
        finish();
        client.on('error', () => {}); // late socket errors of the abandoned client
        client.end(true);
        reject(e);
      };
      const onConnect = (): void => {
        if (settled) return;
        finish();
        resolve(new MqttLink(client, shownUrl));
      };
      const onError = (err: Error): void => {
        firstError ??= describeConnectError(err, opts.url);
        fail(firstError);
      };
      const onClose = (): void =>
        fail(firstError ?? new ForwardError('closed', `${shownUrl}: the server closed the connection before accepting it`));
      const timer = setTimeout(
        () => fail(new ForwardError('timeout', `${shownUrl}: no answer to CONNECT within ${opts.connectTimeoutMs} ms`)),
        opts.connectTimeoutMs + 500,
      );
      client.on('connect', onConnect);
      client.on('error', onError);
      client.on('close', onClose);
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private markDown(e: ForwardError): void {
    if (this.down) return;
    this.down = e;
    for (const p of this.pending) p(e);
    this.pending.clear();
    for (const l of this.closeListeners) l(e);
  }

  get connected(): boolean {
    return this.down === null && this.client.connected;
  }

  /** Why the link is down (null while up). */
  get error(): ForwardError | null {
    return this.down;
  }

  /** Called once when the connection goes down (not after `close()`). */
  onClose(listener: (e: ForwardError) => void): void {
    this.closeListeners.add(listener);
  }

  /**
   * Publish and wait for the acknowledgement (QoS 1: PUBACK; QoS 0: written to the socket).
   * Rejects with PublishRefused when the broker refused this message, with ForwardError when the
   * connection went down before the acknowledgement.
   */
  publish(topic: string, payload: string | Buffer, qos: 0 | 1): Promise<void> {
    if (this.down) return Promise.reject(this.down);
    return new Promise((resolve, reject) => {
      const onDown = (e: ForwardError): void => reject(e);
      this.pending.add(onDown);
      this.client.publish(topic, payload, { qos }, (err) => {
        this.pending.delete(onDown);
        if (!err) return resolve();
        const code = (err as { code?: unknown }).code;
        if (typeof code === 'number' && code >= 0x80 && !TRANSIENT_PUBACK.has(code))
          return reject(new PublishRefused(code, `${err.message} (reason code 0x${code.toString(16)})`));
        reject(this.down ?? new ForwardError('closed', `${this.url}: publish failed: ${err.message}`));
      });
    });
  }

  /**
   * Disconnect cleanly (DISCONNECT, then close; at most 2 s), or at once when `deadline` is or
   * becomes aborted. Unacknowledged publishes reject.
   */
  async close(deadline?: AbortSignal): Promise<void> {
    this.closeListeners.clear();
    const wasUp = this.connected;
    this.markDown(new ForwardError('closed', `${this.url}: closed`));
    if (!wasUp || deadline?.aborted) {
      this.client.end(true);
      return;
    }
    await new Promise<void>((resolve) => {
      const force = (): void => {
        clearTimeout(t);
        deadline?.removeEventListener('abort', force);
        this.client.end(true);
        resolve();
      };
      const t = setTimeout(force, 2000);
      deadline?.addEventListener('abort', force, { once: true });
      this.client.end(false, () => {
        clearTimeout(t);
        deadline?.removeEventListener('abort', force);
        resolve();
      });
    });
  }
}
