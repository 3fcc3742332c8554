/**
 * A PMU (or PDC) server for the tests, over real sockets, written apart from the codec it tests: it
 * builds every frame with bytes.ts (its own bitwise CRC) from a plain description. It answers
 * commands (send CFG-2 / CFG-3 / header, data on / off), streams data frames at DATA_RATE (or on
 * demand with `sendData`), over the command connection or to a UDP port, and can misbehave on
 * request: change its configuration mid-stream, skip frames, lose sync, send garbage, close mid-frame,
 * ignore CFG-3 requests, answer slowly.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { Bytes, frame } from './bytes.js';

export interface PhasorDesc {
  name: string;
  kind: 'voltage' | 'current';
  /** Volts or amperes per integer count (PHUNIT ×10^-5 in CFG-2, PHSCALE Y in CFG-3). */
  scale: number;
  /** CFG-3 phasor component code (0 zero, 1 pos, 2 neg, 4 A, 5 B, 6 C, 7 none). */
  component?: number;
  mag: number;
  /** Degrees. */
  ang: number;
}

export interface BlockDesc {
  idcode: number;
  station: string;
  /** FORMAT bits: 1 polar, 2 float phasors, 4 float analogs, 8 float frequency. */
  format: number;
  phasors: PhasorDesc[];
  analogs: { name: string; value: number; scale?: number }[];
  /** One word of 16 names (empty: unused bits). */
  digitals: { names: string[]; valid: number; value: number }[];
  fnom: 50 | 60;
  freq: number;
  rocof: number;
  stat: number;
  cfgcnt: number;
}

export interface PmuServerOptions {
  idcode: number;
  blocks: BlockDesc[];
  dataRate: number;
  timeBase?: number;
  /** Answer CFG-3 requests (default true). */
  cfg3?: boolean;
  /** Delay every answer to a command by this many ms. */
  answerDelayMs?: number;
  /** Send data to this UDP port on 127.0.0.1 instead of the TCP connection. */
  udpPort?: number;
  /** Time stamp of the first data frame, µs (default: now, aligned to the period). */
  startUs?: number;
  /** Send frames on a timer after data-on (default true); false: only `sendData`. */
  auto?: boolean;
  /** Message time quality byte of data frames. */
  timeQuality?: number;
  /** Listen on this address (default 127.0.0.1; any 127.x.y.z is this machine too) … */
  listenHost?: string;
  /** … and port (default: a free one). */
  listenPort?: number;
}

const hexByte = (b: number): string => b.toString(16).padStart(2, '0');

export class PmuServer extends EventEmitter {
  private server: Server | null = null;
  private udp: UdpSocket | null = null;
  readonly clients = new Set<Socket>();
  port = 0;
  /** Commands received (CMD codes) in order. */
  readonly commands: number[] = [];
  /** Every frame received from the client (its commands), in order. */
  readonly received: Buffer[] = [];
  /** Every frame sent, in order (for the pcap cross-check). */
  readonly sent: Buffer[] = [];
  dataOn = false;
  private timer: NodeJS.Timeout | undefined;
  /** Answers waiting for answerDelayMs (cleared at close). */
  private readonly delayed = new Set<NodeJS.Timeout>();
  private k = 0;
  private readonly periodUs: number;
  private startUs: number;
  /** STAT bit 10 (configuration changes soon) on every data frame while set. */
  configChangePending = false;
  skip = 0;

  constructor(public o: PmuServerOptions) {
    super();
    this.periodUs = o.dataRate > 0 ? Math.round(1e6 / o.dataRate) : -o.dataRate * 1e6;
    const now = Date.now() * 1000;
    this.startUs = o.startUs ?? Math.ceil(now / this.periodUs) * this.periodUs;
  }

  async start(): Promise<this> {
    this.server = createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.o.listenPort ?? 0, this.o.listenHost ?? '127.0.0.1', () => {
        this.server!.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  private accept(s: Socket): void {
    this.clients.add(s);
    s.setNoDelay(true);
    let buf = Buffer.alloc(0);
    s.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 4) {
        const size = buf.readUInt16BE(2);
        if (buf[0] !== 0xaa || size < 16) {
          buf = buf.subarray(1);
          continue;
        }
        if (buf.length < size) break;
        const f = buf.subarray(0, size);
        buf = buf.subarray(size);
        this.received.push(Buffer.from(f));
        if (((f[1]! >> 4) & 7) === 4) this.command(s, f.readUInt16BE(14));
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      this.clients.delete(s);
      if (this.clients.size === 0) this.stopData();
      this.emit('disconnect');
    });
    this.emit('connection', s);
  }

  private command(s: Socket, cmd: number): void {
    this.commands.push(cmd);
    this.emit('command', cmd);
    const answer = (): void => {
      if (s.destroyed) return;
      if (cmd === 5) this.write(s, this.config('cfg2'));
      else if (cmd === 4) this.write(s, this.config('cfg1'));
      else if (cmd === 6 && this.o.cfg3 !== false) this.write(s, this.config('cfg3'));
      else if (cmd === 3) this.write(s, frame('header', this.o.idcode, this.soc(), 0, [...Buffer.from('gridedge test PMU')]));
      else if (cmd === 2) this.startData(s);
      else if (cmd === 1) this.stopData();
    };
    if (this.o.answerDelayMs) {
      const tm = setTimeout(() => {
        this.delayed.delete(tm);
        answer();
      }, this.o.answerDelayMs);
      this.delayed.add(tm);
    }
    else answer();
  }

  private soc(): number {
    return Math.floor(Date.now() / 1000);
  }

  private write(s: Socket, f: Buffer): void {
    this.sent.push(f);
    s.write(f);
  }

  /** The configuration frame of the current description. */
  config(kind: 'cfg1' | 'cfg2' | 'cfg3'): Buffer {
    const b = new Bytes();
    if (kind === 'cfg3') b.u16(0);
    b.u32(this.o.timeBase ?? 1_000_000).u16(this.o.blocks.length);
    for (const p of this.o.blocks) {
      if (kind === 'cfg3') b.name(p.station);
      else b.name16(p.station);
      b.u16(p.idcode);
      if (kind === 'cfg3') b.raw(Buffer.alloc(16, p.idcode & 0xff));
      b.u16(p.format).u16(p.phasors.length).u16(p.analogs.length).u16(p.digitals.length);
      const names = [...p.phasors.map((x) => x.name), ...p.analogs.map((x) => x.name), ...p.digitals.flatMap((d) => Array.from({ length: 16 }, (_, i) => d.names[i] ?? ''))];
      for (const n of names) kind === 'cfg3' ? b.name(n) : b.name16(n);
      if (kind === 'cfg3') {
        for (const ph of p.phasors) b.u16(0).u8((ph.kind === 'current' ? 8 : 0) | (ph.component ?? 7)).u8(0).f32(p.format & 2 ? 1 : ph.scale).f32(0);
        for (const a of p.analogs) b.f32(a.scale ?? 1).f32(0);
      } else {
        for (const ph of p.phasors) b.u8(ph.kind === 'current' ? 1 : 0).u24(Math.round(ph.scale * 1e5));
        for (const a of p.analogs) b.u8(1).u24(a.scale ?? 1);
      }
      for (const d of p.digitals) b.u16(0).u16(d.valid);
      if (kind === 'cfg3') b.f32(46.5).f32(6.6).f32(372).u8(0x50).u32(40_000).u32(20_000);
      b.u16(p.fnom === 50 ? 1 : 0).u16(p.cfgcnt);
    }
    b.i16(this.o.dataRate);
    return frame(kind, this.o.idcode, this.soc(), 0, b);
  }

  /** The data frame for sample index `k` of the current description. */
  dataFrame(k: number): Buffer {
    const ts = this.startUs + k * this.periodUs;
    const soc = Math.floor(ts / 1e6);
    const tb = this.o.timeBase ?? 1_000_000;
    const fracsec = Math.round(((ts % 1e6) / 1e6) * tb);
    const b = new Bytes();
    for (const p of this.o.blocks) {
      b.u16(p.stat | (this.configChangePending ? 0x0400 : 0));
      for (const ph of p.phasors) {
        const rad = (ph.ang * Math.PI) / 180;
        if (p.format & 2) {
          if (p.format & 1) b.f32(ph.mag).f32(rad);
          else b.f32(ph.mag * Math.cos(rad)).f32(ph.mag * Math.sin(rad));
        } else if (p.format & 1) b.u16(Math.round(ph.mag / ph.scale)).i16(Math.round(rad * 10_000));
        else b.i16(Math.round((ph.mag / ph.scale) * Math.cos(rad))).i16(Math.round((ph.mag / ph.scale) * Math.sin(rad)));
      }
      if (p.format & 8) b.f32(p.freq).f32(p.rocof);
      else b.i16(Math.round((p.freq - p.fnom) * 1000)).i16(Math.round(p.rocof * 100));
      for (const a of p.analogs) (p.format & 4 ? b.f32(a.value) : b.i16(Math.round(a.value / (a.scale ?? 1))));
      for (const d of p.digitals) b.u16(d.value);
    }
    return frame('data', this.o.idcode, soc, fracsec, b, { tq: this.o.timeQuality ?? 0 });
  }

  /** Time stamp (µs) of sample `k`. */
  tsOf(k: number): number {
    return this.startUs + k * this.periodUs;
  }

  private startData(s: Socket): void {
    this.dataOn = true;
    // Without an explicit start, data-on makes the next frame's time stamp now (on the period grid,
    // so servers started apart still share time stamps).
    if (this.o.startUs === undefined) this.startUs = Math.ceil((Date.now() * 1000) / this.periodUs) * this.periodUs - this.k * this.periodUs;
    this.emit('dataOn');
    if (this.o.auto === false || this.timer) return;
    // Frames follow the wall clock: each tick sends every frame whose time stamp has come (a late
    // timer catches up), so time stamps stay on real time whatever the timer's jitter.
    const ms = Math.max(1, Math.min(20, this.periodUs / 1000));
    this.timer = setInterval(() => {
      const now = Date.now() * 1000;
      let n = 0;
      while (this.tsOf(this.k + n) <= now && n < 1000) n++;
      if (n) this.sendData(n, s);
    }, ms);
  }

  private stopData(): void {
    this.dataOn = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Send the next `n` data frames now (skipping `skip` sample indices first, for dropped frames). */
  sendData(n: number, to?: Socket): void {
    const s = to ?? [...this.clients][0];
    for (let j = 0; j < n; j++) {
      if (this.skip > 0) {
        this.k += this.skip;
        this.skip = 0;
      }
      const f = this.dataFrame(this.k++);
      this.sent.push(f);
      if (this.o.udpPort !== undefined) (this.udp ??= createSocket('udp4')).send(f, this.o.udpPort, '127.0.0.1');
      else if (s && !s.destroyed) s.write(f);
    }
  }

  /** Bytes straight to every client (garbage, half frames). */
  sendRaw(b: Buffer): void {
    for (const s of this.clients) s.write(b);
  }

  /** Write half of the next data frame, then close the connection. */
  closeMidFrame(): void {
    // The stream ends with its connection: data is on again only once a new connection commands it
    // (so a test waiting for dataOn after a reconnect waits for the new connection, not the old state).
    this.stopData();
    const f = this.dataFrame(this.k++);
    for (const s of this.clients) s.end(f.subarray(0, f.length >> 1));
  }

  /** Drop every client connection. */
  dropClients(): void {
    this.stopData();
    for (const s of this.clients) s.destroy();
  }

  async close(): Promise<void> {
    this.stopData();
    for (const tm of this.delayed) clearTimeout(tm);
    this.delayed.clear();
    for (const s of this.clients) s.destroy();
    this.udp?.close();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  static hex(b: Buffer): string {
    return [...b].map(hexByte).join('');
  }
}

/** A three-phase block: VA VB VC IA IB IC at 230 V / 100 A, 50 Hz, in FORMAT `format`. */
export function threePhase(idcode: number, format: number, opts: Partial<BlockDesc> & { components?: boolean; names?: string[] } = {}): BlockDesc {
  const names = opts.names ?? ['VA', 'VB', 'VC', 'IA', 'IB', 'IC'];
  const phasors: PhasorDesc[] = names.map((name, k) => ({
    name,
    kind: k < 3 ? 'voltage' : 'current',
    scale: k < 3 ? 0.01 : 0.005,
    ...(opts.components ? { component: 4 + (k % 3) } : {}),
    mag: k < 3 ? 230 + k : 100 + k,
    ang: [0, -120, 120][k % 3]! - (k < 3 ? 0 : 30),
  }));
  return {
    idcode,
    station: `PMU ${idcode}`,
    format,
    phasors,
    analogs: [{ name: 'TEMP C', value: format & 4 ? 21.5 : 21 }],
    digitals: [{ names: ['BRK Q1', 'ALARM'], valid: 0x0003, value: 0x0001 }],
    fnom: 50,
    freq: 50.012,
    rocof: 0.05,
    stat: 0,
    cfgcnt: 1,
    ...opts,
  };
}
