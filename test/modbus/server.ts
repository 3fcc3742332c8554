/**
 * Modbus test peers on modbus-serial's own servers: ServerTCP on a claimed port (it cannot bind port 0
 * and report it), and ServerSerial on one end of a socat pty pair. Registers live in banks per unit;
 * a register nobody set answers exception 2 (illegal data address), as a meter does, and a unit with
 * no register at all never answers (an absent device). Faults per
 * register: a Modbus exception, a delayed answer, or no answer at all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import ModbusSerial from 'modbus-serial';
import { claimPort } from '../helpers/ports.js';
import { encodeRaw, type ByteOrder, type ModbusFunction, type RegisterType } from '../../drivers/modbus/decode.js';

const { ServerTCP } = ModbusSerial;

export type Fault = { kind: 'exception'; code: number } | { kind: 'hang' } | { kind: 'delay'; ms: number };

type Cb<T> = (err: Error | null, v: T) => void;

export class Registers {
  private readonly words = new Map<string, number>();
  private readonly bits = new Map<string, boolean>();
  readonly faults = new Map<string, Fault>();
  /** Register and bit reads served, by unit. */
  readonly reads = new Map<number, number>();
  /** Largest number of units being answered at the same moment (one request at a time per line keeps it 1; unanswered requests do not count). */
  maxConcurrentUnits = 0;
  private readonly active = new Map<number, number>();
  private readonly units = new Set<number>();

  setWords(unit: number, fn: 'holding' | 'input', address: number, words: readonly number[]): void {
    this.units.add(unit);
    words.forEach((w, k) => this.words.set(`${unit}:${fn}:${address + k}`, w));
  }
  set(unit: number, fn: 'holding' | 'input', address: number, value: number, type: RegisterType = 'u16', order: ByteOrder = 'ABCD'): void {
    this.setWords(unit, fn, address, encodeRaw(value, type, order));
  }
  setBit(unit: number, fn: 'coil' | 'discrete', address: number, v: boolean): void {
    this.units.add(unit);
    this.bits.set(`${unit}:${fn}:${address}`, v);
  }
  fault(unit: number, fn: ModbusFunction, address: number, f: Fault | null): void {
    const k = `${unit}:${fn}:${address}`;
    if (f) this.faults.set(k, f);
    else this.faults.delete(k);
  }

  private serve<T>(fn: ModbusFunction, addr: number, unit: number, cb: Cb<T>, value: () => T | undefined): void {
    if (!this.units.has(unit)) return; // no such device: no answer
    this.reads.set(unit, (this.reads.get(unit) ?? 0) + 1);
    const f = this.faults.get(`${unit}:${fn}:${addr}`);
    if (f?.kind === 'hang') return; // never answered (and not counted as being answered)
    this.active.set(unit, (this.active.get(unit) ?? 0) + 1);
    this.maxConcurrentUnits = Math.max(this.maxConcurrentUnits, this.active.size);
    const done = (err: Error | null, v: T) => {
      const n = (this.active.get(unit) ?? 1) - 1;
      if (n <= 0) this.active.delete(unit);
      else this.active.set(unit, n);
      cb(err, v);
    };
    const answer = () => {
      if (f?.kind === 'exception') return done(Object.assign(new Error("test fault"), { modbusErrorCode: f.code }), undefined as T);
      const v = value();
      if (v === undefined) return done(Object.assign(new Error("unmapped"), { modbusErrorCode: 2 }), undefined as T);
      done(null, v);
    };
    if (f?.kind === 'delay') setTimeout(answer, f.ms);
    else answer();
  }

  vector() {
    return {
      getHoldingRegister: (addr: number, unit: number, cb: Cb<number>) => this.serve('holding', addr, unit, cb, () => this.words.get(`${unit}:holding:${addr}`)),
      getInputRegister: (addr: number, unit: number, cb: Cb<number>) => this.serve('input', addr, unit, cb, () => this.words.get(`${unit}:input:${addr}`)),
      getCoil: (addr: number, unit: number, cb: Cb<boolean>) => this.serve('coil', addr, unit, cb, () => this.bits.get(`${unit}:coil:${addr}`)),
      getDiscreteInput: (addr: number, unit: number, cb: Cb<boolean>) => this.serve('discrete', addr, unit, cb, () => this.bits.get(`${unit}:discrete:${addr}`)),
    };
  }
}

export interface TcpServer {
  port: number;
  regs: Registers;
  /** Close the listener and every connection. */
  close(): Promise<void>;
}

/** A Modbus TCP server on 127.0.0.1 (on `port` when given, to restart one where it was). */
export async function startTcpServer(regs = new Registers(), port?: number): Promise<TcpServer> {
  const p = port ?? (await claimPort());
  const server = new ServerTCP(regs.vector(), { host: '127.0.0.1', port: p, unitID: 255 });
  await new Promise<void>((resolve, reject) => {
    server.once('initialized', () => resolve());
    server.once('serverError', (e: unknown) => reject(e instanceof Error ? e : new Error(String(e))));
  });
  server.on('socketError', () => undefined);
  server.on('error', () => undefined);
  return {
    port: p,
    regs,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of server.socks.keys()) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * A socat pty pair: two linked pseudo-terminals, raw, no echo. With `link`, the first end is also
 * reachable at that path (a symlink socat removes when it exits), so a test can make the "serial
 * port" vanish and come back at the same path.
 */
export async function ptyPair(link?: string): Promise<{ a: string; b: string; proc: ChildProcess; close(): void }> {
  const first = link ? `pty,raw,echo=0,link=${link}` : 'pty,raw,echo=0';
  const proc = spawn('socat', ['-d', '-d', first, 'pty,raw,echo=0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const paths: string[] = [];
  let err = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socat did not report two ptys in 5 s: ${err}`)), 5000);
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      for (const m of d.toString().matchAll(/PTY is (\S+)/g)) paths.push(m[1]!);
      if (paths.length >= 2) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once('exit', (code) => reject(new Error(`socat exited (${code}): ${err}`)));
  });
  return {
    a: link ?? paths[0]!,
    b: paths[1]!,
    proc,
    close: () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    },
  };
}

export interface SerialServer {
  regs: Registers;
  close(): Promise<void>;
}

/** A Modbus RTU server (every unit id) on serial device `path`, e.g. one end of a socat pty pair. */
export async function startSerialServer(path: string, regs = new Registers(), baudRate = 9600): Promise<SerialServer> {
  const ServerSerial = ModbusSerial.ServerSerial;
  if (!ServerSerial) throw new Error('modbus-serial has no ServerSerial (serialport is not installed)');
  let server: InstanceType<typeof ServerSerial> | undefined;
  await new Promise<void>((resolve, reject) => {
    server = new ServerSerial(regs.vector(), {
      path,
      baudRate,
      unitID: 255,
      openCallback: (err: Error | null) => (err ? reject(err) : resolve()),
    } as never);
    server.on('error', () => undefined);
    server.on('socketError', () => undefined);
  });
  return {
    regs,
    close: () => new Promise<void>((resolve) => server!.close(() => resolve())),
  };
}
