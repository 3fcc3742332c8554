/**
 * A raw MQTT 3.1.1 client for attack tests: a plain TCP socket (optionally from another loopback
 * address, e.g. 127.0.0.2, to stand for another host) that writes whatever bytes a test gives it and
 * parses what comes back with mqtt-packet. Packets are built with mqtt-packet's generator; tests
 * patch the bytes to make them malformed.
 */
import { once } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';

/** Reject with a message naming what did not happen when `p` takes longer than `ms`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Poll `cond` (a counter check) every few ms until it holds; fails naming `what` after `ms`. */
export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const generate = (p: Packet): Buffer => mqttPacket.generate(p);

export function connectPacket(o: { clientId: string; username?: string; password?: string; clean?: boolean; will?: { topic: string; payload: string } }): Buffer {
  return generate({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: o.clean ?? true,
    clientId: o.clientId,
    keepalive: 60,
    ...(o.username !== undefined ? { username: o.username } : {}),
    ...(o.password !== undefined ? { password: Buffer.from(o.password) } : {}),
    ...(o.will ? { will: { topic: o.will.topic, payload: Buffer.from(o.will.payload), qos: 0, retain: false } } : {}),
  });
}

/** A PUBLISH whose topic is given as raw bytes (so it can hold invalid UTF-8). */
export function publishPacket(topic: string | Buffer, payload: string | Buffer, qos: 0 | 1 = 1, messageId = 1, retain = false): Buffer {
  return generate({
    cmd: 'publish',
    topic: topic as string,
    payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
    qos,
    retain,
    dup: false,
    ...(qos > 0 ? { messageId } : {}),
  });
}

export class RawClient {
  readonly packets: Packet[] = [];
  readonly closed: Promise<void>;
  private readonly parser = mqttPacket.parser();
  private waiters: { pred: (p: Packet) => boolean; resolve: (p: Packet) => void }[] = [];
  isClosed = false;

  private constructor(readonly sock: Socket) {
    this.parser.on('packet', (p: Packet) => {
      this.packets.push(p);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(p)) return true;
        w.resolve(p);
        return false;
      });
    });
    this.parser.on('error', () => undefined);
    sock.on('data', (d: Buffer) => this.parser.parse(d));
    sock.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      sock.once('close', () => {
        this.isClosed = true;
        resolve();
      }),
    );
  }

  static async open(port: number, localAddress = '127.0.0.1'): Promise<RawClient> {
    const sock = createConnection({ host: '127.0.0.1', port, localAddress });
    await within(once(sock, 'connect'), 10_000, `TCP connect to 127.0.0.1:${port} from ${localAddress}`);
    sock.setNoDelay(true);
    return new RawClient(sock);
  }

  send(bytes: Buffer): void {
    if (!this.sock.destroyed) this.sock.write(bytes);
  }

  /** The first packet (received so far or later) of this command. */
  next(cmd: Packet['cmd'], ms = 10_000): Promise<Packet> {
    const seen = this.packets.find((p) => p.cmd === cmd);
    if (seen) return Promise.resolve(seen);
    return within(
      new Promise<Packet>((resolve) => this.waiters.push({ pred: (p) => p.cmd === cmd, resolve })),
      ms,
      `a ${cmd} packet`,
    );
  }

  /** Wait until the peer closed the connection. */
  waitClosed(ms = 10_000, what = 'the broker to close the connection'): Promise<void> {
    return within(this.closed, ms, what);
  }

  destroy(): void {
    this.sock.destroy();
  }
}

/** The CONNACK's return code and session-present flag. */
export async function connack(c: RawClient, ms = 30_000): Promise<{ returnCode: number; sessionPresent: boolean }> {
  const p = (await c.next('connack', ms)) as { returnCode?: number; sessionPresent: boolean };
  return { returnCode: p.returnCode ?? -1, sessionPresent: p.sessionPresent };
}
