/**
 * A Modbus line: one modbus-serial client (a TCP connection or a serial port) and the queue of
 * requests on it. Requests run strictly one at a time in arrival order, whichever device (unit) they
 * are for: a serial line carries one request at a time, and TCP devices and gateways often serve one
 * at a time too.
 *
 * Connection lifecycle: the line opens on the first request. A failed open, or a loss of the
 * connection (the socket or the port closed, e.g. a USB adapter unplugged), closes the client; the
 * next open is attempted no earlier than the backoff (reconnectMinMs, doubling to reconnectMaxMs, back
 * to the minimum after a successful open). Until then requests fail at once as `disconnected`.
 *
 * Every request has its own timer (the client's timeout plus a small margin) so that a request never
 * waits longer than that, even when the client drops a transaction on close. Serial lines are shared
 * between the devices on them (`acquireLine`/`releaseLine`, by device path); TCP lines belong to one
 * device.
 */
import type ModbusSerial from 'modbus-serial';
import { loadOnce } from '../../algorithms/common/load-once.js';
import type { ModbusFunction } from './decode.js';

/** The client class (a CommonJS export whose `default` is itself). */
type ModbusRTUClass = typeof ModbusSerial.default;
type ModbusRTU = InstanceType<ModbusRTUClass>;
/**
 * modbus-serial (with serialport, ≈ 6 MB resident), loaded when the first line opens, so an agent
 * without a Modbus driver does not pay for it; a failed import is retried at the next open.
 */
const loadModbus: () => Promise<ModbusRTUClass> = loadOnce(() => import('modbus-serial').then((m) => m.default.default));

export type Endpoint =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'rtu'; path: string; baud: number; parity: 'none' | 'even' | 'odd'; stopBits: 1 | 2; dataBits: 7 | 8 };

export interface LineOptions {
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** Longest wait for a connection to open, ms. */
  connectTimeoutMs: number;
}

/** Why a request failed, as the driver reports it. */
export type FailureKind = 'exception' | 'timeout' | 'disconnected' | 'bad_response';

export class ModbusFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
    /** The Modbus exception code, for `exception`. */
    readonly code?: number,
  ) {
    super(message);
  }
  /** The field-quality reason: `modbus:exception:2`, `modbus:timeout` ... */
  get reason(): string {
    return this.kind === 'exception' ? `modbus:exception:${this.code}` : `modbus:${this.kind}`;
  }
}

export const EXCEPTION_NAMES: Record<number, string> = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'server device failure',
  5: 'acknowledge',
  6: 'server device busy',
  8: 'memory parity error',
  10: 'gateway path unavailable',
  11: 'gateway target device failed to respond',
};

/** A modbus-serial error as a ModbusFailure. */
export function classify(e: unknown): ModbusFailure {
  if (e instanceof ModbusFailure) return e;
  const err = e as { modbusCode?: unknown; errno?: unknown; message?: unknown; code?: unknown };
  const msg = typeof err?.message === 'string' ? err.message : String(e);
  if (typeof err?.modbusCode === 'number') return new ModbusFailure('exception', `exception ${err.modbusCode} (${EXCEPTION_NAMES[err.modbusCode] ?? 'unknown'})`, err.modbusCode);
  if (err?.errno === 'ETIMEDOUT' || msg === 'Timed out') return new ModbusFailure('timeout', 'no response in time');
  if (/Data length error|CRC error|Unexpected data error/.test(msg)) return new ModbusFailure('bad_response', msg);
  return new ModbusFailure('disconnected', msg || 'connection lost');
}

export interface LineStats {
  connects: number;
  reconnects: number;
  connectFailures: number;
}

export class ModbusLine {
  private client: ModbusRTU | null = null;
  private tail: Promise<unknown> = Promise.resolve();
  private backoffMs: number;
  private nextOpenAt = 0;
  private closed = false;
  /** Rejects the request in flight when the connection goes away. */
  private onLoss: ((e: ModbusFailure) => void) | null = null;
  /** The last failure on this line, of any kind (for health). */
  lastError: string | undefined;
  /** Why the line is not connected (the last open failure or loss). */
  private connError: string | undefined;
  readonly stats: LineStats = { connects: 0, reconnects: 0, connectFailures: 0 };

  constructor(
    readonly endpoint: Endpoint,
    private readonly opts: LineOptions,
    /** Monotonic milliseconds, for the backoff. */
    private readonly now: () => number = () => performance.now(),
  ) {
    this.backoffMs = opts.reconnectMinMs;
  }

  /** Where the line goes, for messages: `10.0.0.5:502`, `[::1]:502` or `/dev/ttyUSB0`. */
  get where(): string {
    return this.endpoint.kind === 'tcp' ? hostPort(this.endpoint.host, this.endpoint.port) : this.endpoint.path;
  }

  connected(): boolean {
    return this.client !== null && this.client.isOpen;
  }

  /**
   * Read `count` registers (or bits) at `address` from `unit`. Queued behind every earlier request on
   * the line. Resolves with the words (or booleans, `count` of them); rejects with a ModbusFailure.
   */
  read(unit: number, fn: ModbusFunction, address: number, count: number, timeoutMs: number): Promise<number[] | boolean[]> {
    const run = this.tail.then(() => this.readNow(unit, fn, address, count, timeoutMs));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async readNow(unit: number, fn: ModbusFunction, address: number, count: number, timeoutMs: number): Promise<number[] | boolean[]> {
    if (this.closed) throw new ModbusFailure('disconnected', 'line closed');
    const client = await this.open();
    client.setID(unit);
    client.setTimeout(timeoutMs);
    let timer: NodeJS.Timeout | undefined;
    try {
      const req =
        fn === 'holding'
          ? client.readHoldingRegisters(address, count)
          : fn === 'input'
            ? client.readInputRegisters(address, count)
            : fn === 'coil'
              ? client.readCoils(address, count)
              : client.readDiscreteInputs(address, count);
      const guard = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ModbusFailure('timeout', 'no response in time')), timeoutMs + 50);
        this.onLoss = reject;
      });
      const res = await Promise.race([req, guard]);
      const data = res.data as number[] | boolean[];
      if (data.length < count) throw new ModbusFailure('bad_response', `asked for ${count}, got ${data.length}`);
      return data.length === count ? data : (data.slice(0, count) as number[] | boolean[]);
    } catch (e) {
      const f = classify(e);
      this.lastError = `${f.message} (unit ${unit}, ${fn} ${address}+${count})`;
      if (f.kind === 'disconnected') this.drop(f.message);
      throw f;
    } finally {
      clearTimeout(timer);
      this.onLoss = null;
    }
  }

  /** The open client, opening it when needed (within the backoff). */
  private async open(): Promise<ModbusRTU> {
    if (this.client && this.client.isOpen) return this.client;
    if (this.client) this.drop('connection lost');
    const t = this.now();
    if (t < this.nextOpenAt)
      throw new ModbusFailure('disconnected', `not connected to ${this.where} (${this.connError ?? 'reconnecting'}); next attempt in ${Math.ceil(this.nextOpenAt - t)} ms`);
    let Client: ModbusRTUClass;
    try {
      Client = await loadModbus();
    } catch (e) {
      throw new ModbusFailure('disconnected', `cannot load modbus-serial: ${e instanceof Error ? e.message : String(e)}`);
    }
    const client = new Client();
    // Errors also arrive as rejected requests or failed opens; without a listener an 'error' event would throw.
    client.on('error', (e: unknown) => {
      this.lastError = e instanceof Error ? e.message : String(e);
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      const ep = this.endpoint;
      const opening =
        ep.kind === 'tcp'
          ? client.connectTCP(ep.host, { port: ep.port })
          : client.connectRTUBuffered(ep.path, { baudRate: ep.baud, parity: ep.parity, stopBits: ep.stopBits, dataBits: ep.dataBits });
      await Promise.race([
        opening,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no connection within ${this.opts.connectTimeoutMs} ms`)), this.opts.connectTimeoutMs);
        }),
      ]);
    } catch (e) {
      destroy(client, this.endpoint.kind);
      this.stats.connectFailures++;
      this.connError = openErrorText(e, this.where);
      this.nextOpenAt = this.now() + this.backoffMs;
      this.backoffMs = Math.min(this.opts.reconnectMaxMs, this.backoffMs * 2);
      throw new ModbusFailure('disconnected', this.connError);
    } finally {
      clearTimeout(timer);
    }
    if (this.closed) {
      destroy(client, this.endpoint.kind);
      throw new ModbusFailure('disconnected', 'line closed');
    }
    client.on('close', () => {
      if (this.client === client) this.drop('connection closed by the peer');
    });
    if (this.stats.connects > 0) this.stats.reconnects++;
    this.stats.connects++;
    this.backoffMs = this.opts.reconnectMinMs;
    this.nextOpenAt = 0;
    this.client = client;
    return client;
  }

  /** Forget the client (closing it) and fail the request in flight. */
  private drop(why: string): void {
    const c = this.client;
    this.client = null;
    if (c) destroy(c, this.endpoint.kind);
    this.connError = why;
    this.onLoss?.(new ModbusFailure('disconnected', why));
    if (this.nextOpenAt === 0) this.nextOpenAt = this.now() + this.backoffMs;
  }

  /** Close the line; requests in flight fail as disconnected, later ones at once. */
  close(): void {
    this.closed = true;
    this.drop('line closed');
  }
}

/**
 * Let go of a client: a TCP socket is destroyed at once; a serial port is closed (destroying the
 * serial stream leaves its file descriptor polled, which keeps the process alive).
 */
function destroy(c: ModbusRTU, kind: Endpoint['kind']): void {
  try {
    if (kind === 'rtu') c.close(() => undefined);
    else c.destroy(() => undefined);
  } catch {
    // already closed
  }
}

/** What a failed open means, in words a technician can act on. */
/** `host:port`, with an IPv6 address in brackets (`[::1]:502`) so the port reads apart from it. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function openErrorText(e: unknown, where: string): string {
  const err = e as { code?: unknown; errno?: unknown; message?: unknown };
  const code = typeof err?.code === 'string' ? err.code : typeof err?.errno === 'string' ? err.errno : '';
  const msg = typeof err?.message === 'string' ? err.message : String(e);
  if (code === 'ECONNREFUSED' || /ECONNREFUSED/.test(msg)) return `connection refused at ${where}`;
  if (code === 'EHOSTUNREACH' || /EHOSTUNREACH/.test(msg)) return `host unreachable: ${where}`;
  if (code === 'ENOTFOUND' || /ENOTFOUND/.test(msg)) return `unknown host in ${where}`;
  if (/No such file|ENOENT/.test(msg)) return `serial port ${where} does not exist`;
  if (/EACCES|Permission denied/.test(msg)) return `no permission to open ${where}`;
  return `cannot open ${where}: ${msg}`;
}

// --- shared serial lines ---------------------------------------------------------------------------

const shared = new Map<string, { line: ModbusLine; refs: number }>();

/**
 * The line for `endpoint`: serial lines are shared by every device on the same path (reference
 * counted; the same settings are required), TCP lines are one per caller.
 */
export function acquireLine(endpoint: Endpoint, opts: LineOptions): ModbusLine {
  if (endpoint.kind === 'tcp') return new ModbusLine(endpoint, opts);
  const have = shared.get(endpoint.path);
  if (have) {
    const e = have.line.endpoint as Extract<Endpoint, { kind: 'rtu' }>;
    if (e.baud !== endpoint.baud || e.parity !== endpoint.parity || e.stopBits !== endpoint.stopBits || e.dataBits !== endpoint.dataBits)
      throw new Error(
        `${endpoint.path} is already open at ${e.baud} baud, parity ${e.parity}, ${e.dataBits} data bits, ${e.stopBits} stop bits: every device on one serial line needs the same settings`,
      );
    have.refs++;
    return have.line;
  }
  const line = new ModbusLine(endpoint, opts);
  shared.set(endpoint.path, { line, refs: 1 });
  return line;
}

/** Give a line back; the last user of a serial line (and every TCP user) closes it. */
export function releaseLine(line: ModbusLine): void {
  if (line.endpoint.kind === 'tcp') return line.close();
  const have = shared.get(line.endpoint.path);
  if (!have || have.line !== line) return line.close();
  if (--have.refs === 0) {
    shared.delete(line.endpoint.path);
    line.close();
  }
}
