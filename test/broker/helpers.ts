/** Shared set-up for the broker tests: a real broker on a free port, a recorder for onRawPublish. */
import { EventEmitter, once } from 'node:events';
import { createLogger } from '../../agent/core/logger.js';
import type { Logger } from '../../agent/core/plugin.js';
import { Counters } from '../../agent/core/counters.js';
import type { MqttConfig } from '../../agent/core/config-types.js';
import { createBroker, type AuthLimits, type EmbeddedBroker, type RawPublish } from '../../agent/broker/index.js';
import { randomBytes, scryptSync } from 'node:crypto';

export interface Deferred<T = void> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: Error): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Records every onRawPublish call; `mode` decides what the returned promise does. */
export class RawRecorder extends EventEmitter {
  readonly calls: RawPublish[] = [];
  /** resolve: 'accepted'; reject: the store fails; hold: until released; refuse: 'rejected' (a payload the pipeline refused). */
  mode: 'resolve' | 'reject' | 'hold' | 'refuse' = 'resolve';
  readonly held: Deferred[] = [];

  readonly handler = (p: RawPublish): Promise<'accepted' | 'rejected'> => {
    this.calls.push(p);
    queueMicrotask(() => this.emit('call', p));
    if (this.mode === 'reject') return Promise.reject(new Error('SQLITE_FULL: database or disk is full'));
    if (this.mode === 'refuse') return Promise.resolve('rejected' as const);
    if (this.mode === 'hold') {
      const d = deferred();
      this.held.push(d);
      return d.promise.then(() => 'accepted' as const);
    }
    return Promise.resolve('accepted' as const);
  };

  /** Resolves with the first recorded call (from index `from` on) that matches; race-free (looks at past calls first). */
  async waitFor(match: (p: RawPublish) => boolean, from = 0): Promise<RawPublish> {
    for (;;) {
      for (let k = from; k < this.calls.length; k++) if (match(this.calls[k]!)) return this.calls[k]!;
      from = this.calls.length;
      await once(this, 'call');
    }
  }
}

export function mqttConfig(over: Partial<MqttConfig> = {}): MqttConfig {
  return {
    host: '127.0.0.1',
    port: 0,
    allowAnonymous: false,
    users: [],
    maxPayloadBytes: 65536,
    maxQueuedMessages: 1000,
    maxSessions: 1000,
    websocket: { enabled: true, path: '/mqtt' },
    ...over,
  };
}

export interface TestBroker {
  broker: EmbeddedBroker;
  counters: Counters;
  raw: RawRecorder;
  url: string;
  port: number;
}

/** A `passwordHash` with a chosen scrypt cost (tests use a lower N than the default 16384 to run fast). */
export function testHash(password: string, N = 1024): string {
  const salt = randomBytes(16);
  const key = scryptSync(password, salt, 32, { N, r: 8, p: 1 });
  return `scrypt$${N}$8$1$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function startBroker(
  over: Partial<MqttConfig> = {},
  extra: { auth?: Partial<AuthLimits>; now?: () => number; monotonic?: () => number; log?: Logger } = {},
): Promise<TestBroker> {
  const counters = new Counters();
  const raw = new RawRecorder();
  const broker = createBroker(mqttConfig(over), { log: createLogger('silent'), counters, onRawPublish: raw.handler, ...extra });
  const { port } = await broker.listen();
  return { broker, counters, raw, port, url: `mqtt://127.0.0.1:${port}` };
}
