/**
 * The protocol side of one C37.118 stream, without sockets: what to send when, what a received byte
 * stream or datagram means, and the measurements it gives. The driver (index.ts) owns the sockets and
 * feeds this class; tests and the fuzzer feed it bytes directly.
 *
 * Lifecycle per connection: `connected()` sends a configuration request (CFG-3 first in `auto`
 * mode, falling back to CFG-2 for the rest of the connection when no CFG-3 arrives within
 * `configTimeoutMs`, unless the device has answered a CFG-3 before: then a late answer is only
 * slow, and CFG-3 is asked for again like any unanswered request); the first configuration turns
 * data on. Each new connection asks for CFG-3 first again; after `maxConfigTries` unanswered CFG-3
 * requests the device is no longer taken to answer CFG-3 (it may have been replaced). A CFG-1/2
 * describing the same stream as the CFG-3 in force (a late answer to the fallback request) does not
 * replace it: it would lose the CFG-3's phasor types. A configuration with another CFGCNT or layout
 * replaces the one in force; a data frame whose STAT says the configuration changes, or whose
 * length contradicts the configuration, asks for the configuration again (at most once per
 * `configTimeoutMs`), and the old configuration stays in force until the new one arrives. Data
 * before any configuration is counted (`no_config`) and triggers a request. `tick(now)` re-sends an
 * unanswered request and reports `reconnect` after `maxConfigTries` unanswered requests or
 * `dataTimeoutMs` without any frame.
 *
 * Nothing here throws out of `push`, `datagram` or `tick`: each bad frame is reported through
 * `onReject` with its reason.
 */
import type { Measurement } from '../../algorithms/common/measurement.js';
import {
  DataDecoder,
  decodeCfg3Fragments,
  decodeFrame,
  decodeHeader,
  encodeCommand,
  FrameSplitter,
  type CommandName,
  type ConfigFrame,
  type DataFrame,
  type RejectReason,
  MAX_CFG3_BYTES,
} from './codec/index.js';
import { planFor, toMeasurement, type BlockNames, type BlockPlan } from './mapping.js';

export interface SessionOptions {
  /** Driver id: device names derive from it. */
  id: string;
  /** Stream IDCODE the commands address and the frames must carry. */
  idcode: number;
  /** Which configuration to ask for. */
  config: 'auto' | 'cfg2' | 'cfg3';
  /** Explicit phasor map (channel name → v.a …), used after CFG-3 types and channel names. */
  phasors: Readonly<Record<string, string>>;
  /** Device names of the blocks (mapping.ts `BlockNames`); default `auto`. */
  blockNames?: BlockNames;
  maxTimeErrorUs: number;
  configTimeoutMs: number;
  maxConfigTries: number;
  dataTimeoutMs: number;
  /** Send data-on after the configuration (off: the device sends spontaneously). */
  sendDataOn: boolean;
}

export interface SessionEvents {
  /** Write a command frame to the device. */
  send(frame: Uint8Array, what: CommandName): void;
  /** A decoded data frame's blocks as measurements, with the block plans (same order). */
  data(ms: Measurement[], plans: readonly BlockPlan[], frame: DataFrame, arrivalMs: number): void;
  reject(reason: RejectReason, detail: string): void;
  /** A configuration came into force (`changed`: it replaced another). */
  config(cfg: ConfigFrame, changed: boolean): void;
  /** A header frame's text. */
  header?(text: string): void;
}

export type TickResult = 'ok' | 'reconnect';

/** The parts of two configurations that decide how data frames decode and map. */
function sameLayout(a: ConfigFrame, b: ConfigFrame): boolean {
  if (a.timeBase !== b.timeBase || a.pmus.length !== b.pmus.length || a.dataRate !== b.dataRate) return false;
  return JSON.stringify(a.pmus) === JSON.stringify(b.pmus);
}

/**
 * Whether a CFG-1/2 `b` describes the same stream as the CFG-3 `a`: the same rate, time base, blocks
 * (IDCODE, CFGCNT, data format) and channel counts, so the same data frames. The names, scales and
 * types may read differently (CFG-3 carries more of them).
 */
function sameStream(a: ConfigFrame, b: ConfigFrame): boolean {
  if (a.timeBase !== b.timeBase || a.pmus.length !== b.pmus.length || a.dataRate !== b.dataRate) return false;
  return a.pmus.every((p, k) => {
    const q = b.pmus[k]!;
    return (
      p.idcode === q.idcode &&
      p.cfgcnt === q.cfgcnt &&
      JSON.stringify(p.format) === JSON.stringify(q.format) &&
      p.phasors.length === q.phasors.length &&
      p.analogs.length === q.analogs.length &&
      p.digitals.length === q.digitals.length
    );
  });
}

export class C37Session {
  cfg: ConfigFrame | null = null;
  plans: BlockPlan[] = [];
  private decoder: DataDecoder | null = null;
  private readonly splitter: FrameSplitter;
  private pending: { at: number; kind: 'cfg2' | 'cfg3'; tries: number } | null = null;
  /** `auto`: this connection asks for CFG-2, the device having left a CFG-3 request unanswered. */
  private cfg3Unanswered = false;
  /** `auto`: the device has answered a CFG-3 request (on any connection). */
  private cfg3Seen = false;
  private lastRequestAt = -Infinity;
  /** A request was wanted but held back by the rate limit. */
  private wanted = false;
  private lastFrameAt = 0;
  private dataOn = false;
  frames = 0;
  dataFrames = 0;

  constructor(
    private readonly o: SessionOptions,
    private readonly ev: SessionEvents,
    private readonly now: () => number = Date.now,
  ) {
    this.splitter = new FrameSplitter({ onFrame: (f) => this.frame(f), onReject: (r, d) => this.ev.reject(r, d) });
  }

  /** A new connection: forget partial frames, ask for the configuration (data follows it). */
  connected(): void {
    this.splitter.reset();
    this.dataOn = false;
    this.pending = null;
    this.wanted = false;
    this.cfg3Unanswered = false;
    this.lastFrameAt = this.now();
    this.requestConfig(true);
  }

  /** The connection ended: a partial frame is reported as truncated. */
  disconnected(): void {
    this.splitter.reset();
    this.pending = null;
  }

  /** Bytes from the TCP connection. */
  push(chunk: Uint8Array): void {
    this.splitter.push(chunk);
  }

  /** One UDP datagram: exactly one frame. */
  datagram(buf: Uint8Array): void {
    if (buf.length >= 4 && buf[0] === 0xaa) {
      const size = (buf[2]! << 8) | buf[3]!;
      if (size === buf.length) return this.frame(buf);
    }
    const h = decodeHeader(buf);
    this.ev.reject(h.ok ? 'bad_length' : h.reason, `datagram of ${buf.length} bytes: ${h.ok ? 'not one frame' : h.detail}`);
  }

  /** Ask for the configuration now (unless `force` is false and one was asked for recently). */
  requestConfig(force = false): void {
    const now = this.now();
    if (!force && this.pending) return;
    if (!force && now - this.lastRequestAt < this.o.configTimeoutMs) {
      // Asked for recently: ask again from tick() once configTimeoutMs has passed.
      this.wanted = true;
      return;
    }
    this.wanted = false;
    const kind = this.o.config === 'cfg2' || (this.o.config === 'auto' && this.cfg3Unanswered) ? 'cfg2' : 'cfg3';
    this.pending = { at: now, kind, tries: (this.pending?.tries ?? 0) + 1 };
    this.lastRequestAt = now;
    this.sendCmd(kind === 'cfg3' ? 'sendCfg3' : 'sendCfg2');
  }

  private lastAnnouncedAt = -Infinity;

  /**
   * STAT bit 10 (the configuration changes within a minute): ask again, at most once per
   * `configTimeoutMs` (the bit stays set for up to a minute), whatever other requests were made.
   */
  private configChangeAnnounced(): void {
    const now = this.now();
    if (this.pending || now - this.lastAnnouncedAt < this.o.configTimeoutMs) return;
    this.lastAnnouncedAt = now;
    this.requestConfig(true);
  }

  private sendCmd(cmd: CommandName): void {
    const ms = this.now();
    const soc = Math.floor(ms / 1000);
    this.ev.send(encodeCommand({ idcode: this.o.idcode, soc, fracsec: 0 }, cmd), cmd);
  }

  /** Periodic check: unanswered requests, silence. */
  tick(): TickResult {
    const now = this.now();
    if (now - this.lastFrameAt > this.o.dataTimeoutMs) return 'reconnect';
    const p = this.pending;
    if (!p && this.wanted && now - this.lastRequestAt >= this.o.configTimeoutMs) this.requestConfig(true);
    if (p && now - p.at > this.o.configTimeoutMs) {
      if (p.kind === 'cfg3' && this.o.config === 'auto' && !this.cfg3Unanswered && !this.cfg3Seen) {
        // The device does not answer CFG-3 (many 2005-era PMUs): ask for CFG-2 on this connection.
        this.cfg3Unanswered = true;
        this.pending = null;
      } else if (p.tries >= this.o.maxConfigTries) {
        // A device that answered CFG-3 before and now leaves every request unanswered may have been
        // replaced (or downgraded): the next connection may fall back to CFG-2 again.
        if (p.kind === 'cfg3') this.cfg3Seen = false;
        return 'reconnect';
      }
      this.requestConfig(true);
    }
    return 'ok';
  }

  private frame(buf: Uint8Array): void {
    const arrival = this.now();
    this.lastFrameAt = arrival;
    this.frames++;
    const h = decodeHeader(buf);
    if (!h.ok) return this.ev.reject(h.reason, h.detail);
    if (h.frame.idcode !== this.o.idcode) return this.ev.reject('idcode_mismatch', `${h.frame.kind} frame for IDCODE ${h.frame.idcode}, this stream is IDCODE ${this.o.idcode}`);
    if (h.frame.kind === 'data') {
      if (!this.decoder) {
        this.ev.reject('no_config', `data frame before any configuration`);
        return this.requestConfig();
      }
      const r = this.decoder.decode(buf, h.frame);
      if (!r.ok) {
        this.ev.reject(r.reason, r.detail);
        if (r.reason === 'size_mismatch') this.requestConfig();
        return;
      }
      this.dataFrames++;
      const f = r.frame;
      const ms: Measurement[] = [];
      for (let k = 0; k < f.pmus.length; k++) {
        const b = f.pmus[k]!;
        if (b.stat & 0x0400) this.configChangeAnnounced();
        ms.push(toMeasurement(this.plans[k]!, b, f.ts, f.timeQuality, this.o.maxTimeErrorUs));
      }
      this.ev.data(ms, this.plans, f, arrival);
      return;
    }
    let d: ReturnType<typeof decodeFrame>;
    if (h.frame.kind === 'cfg3' && buf.length >= 16 && ((buf[14]! << 8) | buf[15]!) !== 0) {
      const joined = this.fragment(buf, (buf[14]! << 8) | buf[15]!);
      if (!joined) return;
      d = joined;
    } else d = decodeFrame(buf);
    if (!d.ok) return this.ev.reject(d.reason, d.detail);
    const f = d.frame;
    switch (f.kind) {
      case 'cfg1':
      case 'cfg2':
      case 'cfg3': {
        if (f.kind === 'cfg3') {
          this.cfg3Unanswered = false;
          this.cfg3Seen = true;
        }
        const late = f.kind !== 'cfg3' && this.cfg?.kind === 'cfg3' && sameStream(this.cfg, f);
        const changed = this.cfg !== null && !late && !sameLayout(this.cfg, f);
        const first = this.cfg === null;
        this.pending = null;
        if (first || changed) {
          this.cfg = f;
          this.decoder = new DataDecoder(f);
          this.plans = planFor(this.o.id, f, this.o.phasors, this.o.blockNames);
          this.ev.config(f, changed);
        }
        if (!this.dataOn) {
          this.dataOn = true;
          if (this.o.sendDataOn) this.sendCmd('dataOn');
        }
        return;
      }
      case 'header':
        this.ev.header?.(f.text);
        return;
      case 'command':
        return this.ev.reject('unexpected_frame', `a command frame (CMD ${f.cmd}) from the device`);
    }
  }

  /** CFG-3 fragments collected so far (copies; bounded by MAX_CFG3_BYTES). */
  private fragments: Uint8Array[] = [];
  private fragmentBytes = 0;

  /**
   * One fragment of a CFG-3 sent in several frames: collected until the last (CONT_IDX 0xFFFF), then
   * joined and decoded. A fragment out of sequence drops what was collected (counted).
   */
  private fragment(buf: Uint8Array, idx: number): ReturnType<typeof decodeFrame> | null {
    if (idx === 1) {
      if (this.fragments.length) this.ev.reject('fragmented_config', `CFG-3 restarted after ${this.fragments.length} fragments`);
      this.fragments = [];
      this.fragmentBytes = 0;
    } else if (this.fragments.length === 0 || (idx !== 0xffff && idx !== this.fragments.length + 1)) {
      this.ev.reject('fragmented_config', `CFG-3 fragment with CONT_IDX ${idx} out of sequence (after ${this.fragments.length})`);
      this.fragments = [];
      this.fragmentBytes = 0;
      return null;
    }
    this.fragmentBytes += buf.length;
    if (this.fragmentBytes > MAX_CFG3_BYTES) {
      this.ev.reject('fragmented_config', `CFG-3 fragments exceed ${MAX_CFG3_BYTES} bytes`);
      this.fragments = [];
      this.fragmentBytes = 0;
      return null;
    }
    this.fragments.push(buf.slice());
    if (idx !== 0xffff) return null;
    const all = this.fragments;
    this.fragments = [];
    this.fragmentBytes = 0;
    return decodeCfg3Fragments(all);
  }

  /** Ask for the header frame (the probe). */
  requestHeader(): void {
    this.sendCmd('sendHeader');
  }

  /** Stop the data (sent before closing politely). */
  dataOff(): void {
    this.sendCmd('dataOff');
  }
}
