/**
 * c37118: an IEEE C37.118.2 client (a small PDC). Reads one stream (host, port, idcode), and
 * optionally more (`streams`), over TCP (commands and data on one connection) or UDP (data on
 * `udpPort`, commands over TCP); publishes each PMU block as a measurement; aligns blocks by time
 * stamp when `alignMs` > 0. See README.md.
 *
 * Lifecycle: `start` resolves the streams' host names and refuses a stream read twice, by this
 * driver or another c37118 driver of the agent (same-stream.ts), holds its streams until `stop`, opens
 * the UDP sockets and starts connecting, then resolves; each stream
 * reconnects by itself with backoff (reconnectMinMs doubling up to reconnectMaxMs, reset once a
 * configuration arrives). Every connection attempt after the first resolves the host name again
 * and moves the stream's hold to the addresses found (a PMU whose address changed is found again;
 * an attempt whose name now reaches a stream another entry holds is not made, and retried). One timer (250 ms) publishes aligned groups whose window ended and checks
 * each stream for unanswered requests and silence, both on the monotonic clock; the wall clock only
 * gives the arrival times the latency statistics compare with the frames' time stamps. `stop` closes every socket at once, publishes the
 * groups still open, and from then on nothing is emitted.
 */
import { createConnection, isIP, type LookupFunction, type Socket } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { NO_INVALID_PATHS, type Driver, type DriverSpec, type Emit, type InvalidPaths, type PluginContext, type PluginHealth } from '../../agent/core/plugin.js';
import type { MetricCatalogue } from '../../agent/core/metrics.js';
import { LogLimiter } from '../../agent/core/log-limiter.js';
import { host, identifier, intRange, numberRange, oneOf } from '../../agent/config/formats.js';
import { reconnectProblems, reconnectSchema, type ReconnectDelays } from '../../agent/config/reconnect.js';
import { C37Session } from './session.js';
import { Aligner, LATENCY_BUCKETS_MS, PmuStats } from './align.js';
import { PHASOR_TARGETS, type BlockNames } from './mapping.js';
import { claimsOf, repeatedStreams, resolveStream, systemLookup, type Lookup, type ResolvedStream } from './same-stream.js';
import type { ConfigFrame } from './codec/index.js';
import type { Measurement } from '../../algorithms/common/measurement.js';

export interface StreamConfig {
  host: string;
  port: number;
  idcode: number;
  transport: 'tcp' | 'udp';
  udpPort: number;
  /** Device name base of this stream's blocks (the driver id for the first stream). */
  name?: string;
}

export interface C37118Config extends StreamConfig, ReconnectDelays {
  id: string;
  config: 'auto' | 'cfg2' | 'cfg3';
  phasors: Record<string, string>;
  blockNames: BlockNames;
  streams: StreamConfig[];
  maxTimeErrorUs: number;
  alignMs: number;
  connectTimeoutMs: number;
  configTimeoutMs: number;
  dataTimeoutMs: number;
  sendDataOn: boolean;
}

const phasorMap = (v: unknown): void => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('must be an object of channel name → v.a … i.c');
  for (const [k, t] of Object.entries(v)) if (!(PHASOR_TARGETS as readonly unknown[]).includes(t)) throw new Error(`["${k}"] must be one of ${PHASOR_TARGETS.join(', ')}`);
};

const streamList = (v: unknown): void => {
  if (!Array.isArray(v)) throw new Error('must be a list of { host, port, idcode, transport, udpPort, name }');
};

const schema = {
  host: { doc: 'PMU or PDC host name or address', format: host, default: null },
  port: { doc: 'TCP port: commands (and data with transport tcp); usually 4712', format: intRange(1, 65535), default: null },
  idcode: { doc: 'Stream IDCODE the commands address and the frames carry', format: intRange(0, 65535), default: null },
  transport: { doc: 'tcp: data on the command connection; udp: data on udpPort, commands over TCP', format: oneOf('tcp', 'udp'), default: 'tcp' },
  udpPort: { doc: 'UDP port data arrives on (transport udp); 0 picks a free port (shown in health)', format: intRange(0, 65535), default: 4713 },
  config: { doc: 'Configuration to ask for: auto (CFG-3, then CFG-2 if unanswered), cfg2 or cfg3', format: oneOf('auto', 'cfg2', 'cfg3'), default: 'auto' },
  phasors: { doc: 'Channel name → v.a … i.c, for channels neither a CFG-3 phasor type nor the name VA…IC maps', format: phasorMap, default: {} },
  blockNames: {
    doc: 'Device names of a stream\'s PMU blocks: auto (<id> for one block, <id>-<block IDCODE> for several) or idcode (always <id>-<block IDCODE>, so a PDC stream whose block count changes keeps its names)',
    format: ['auto', 'idcode'],
    default: 'auto',
  },
  streams: {
    doc: 'More streams aligned with the first (a small PDC): { host, port, idcode, transport, udpPort, name }, each (host, port, idcode) different from the others and from the first: as text in the config check, by resolved address at start (a repeat, or a stream another c37118 driver reads, fails the start) and before each reconnection (not connecting while another driver reads it)',
    format: streamList,
    default: [],
  },
  maxTimeErrorUs: { doc: 'Time error (from STAT or the time quality code) above which data is questionable (clock_unsync), µs', format: numberRange(0, 1e9), default: 1000 },
  alignMs: { doc: 'Wait this long (on the monotonic clock: a wall-clock step does not change it) for every PMU of a time stamp before publishing the group (0: publish each block at once)', format: intRange(0, 60_000), default: 0 },
  connectTimeoutMs: { doc: 'Give up a TCP connection attempt after this many ms', format: intRange(100, 600_000), default: 5000 },
  configTimeoutMs: { doc: 'Ask for the configuration again when unanswered for this many ms', format: intRange(50, 600_000), default: 2000 },
  dataTimeoutMs: { doc: 'Reconnect when nothing arrived for this many ms', format: intRange(100, 3_600_000), default: 10_000 },
  ...reconnectSchema('doubling'),
  sendDataOn: { doc: 'Send the data-on command after the configuration (off: the device sends spontaneously)', format: Boolean, default: true },
};

const metrics: MetricCatalogue = {
  c37118_frames: { type: 'counter', help: 'C37.118 frames received with a valid CHK, by driver', labels: ['driver'] },
  c37118_rejected: { type: 'counter', help: 'C37.118 frames and stream bytes refused, by driver and reason (bad_crc, truncated, size_mismatch, no_config ...)', labels: ['driver', 'reason'] },
  c37118_reconnects: { type: 'counter', help: 'C37.118 connections lost or given up and retried, by driver', labels: ['driver'] },
  c37118_same_stream_refused: {
    type: 'counter',
    help: 'C37.118 connection attempts not made because the host name now resolves to a stream another entry reads (same address, port and IDCODE), by driver; retried with backoff',
    labels: ['driver'],
  },
  c37118_config_changes: { type: 'counter', help: 'C37.118 configurations that replaced the one in force (CFGCNT or layout changed), by driver', labels: ['driver'] },
  c37118_late: { type: 'counter', help: 'C37.118 PMU blocks that arrived after their time stamp group was published (still published), by driver and device', labels: ['driver', 'device'] },
  c37118_absent: { type: 'counter', help: 'C37.118 PMUs missing from a time stamp group when it was published, by driver and device', labels: ['driver', 'device'] },
  c37118_missing: { type: 'counter', help: 'C37.118 frames missing from the time stamp sequence at the reporting rate, by driver and device', labels: ['driver', 'device'] },
  c37118_out_of_order: { type: 'counter', help: 'C37.118 frames older than one already received, by driver and device', labels: ['driver', 'device'] },
  c37118_dropped_channels: { type: 'counter', help: 'C37.118 channels left out of measurements (more than a message may name), by driver', labels: ['driver'] },
  c37118_latency_p50_ms: { type: 'gauge', help: 'C37.118 arrival latency (arrival minus time stamp), median bucket bound in ms, by driver and device', labels: ['driver', 'device'] },
  c37118_latency_p99_ms: { type: 'gauge', help: 'C37.118 arrival latency, 99th percentile bucket bound in ms, by driver and device', labels: ['driver', 'device'] },
};

const TICK_MS = 250;

/**
 * A `lookup` for net.createConnection that answers with addresses already resolved, so the
 * connection goes where the same-stream check saw the name point (Node still tries them in order
 * and across families).
 */
function fixedLookup(addresses: readonly string[]): LookupFunction {
  return (hostname, options, callback) => {
    const want = options.family === 4 || options.family === 'IPv4' ? 4 : options.family === 6 || options.family === 'IPv6' ? 6 : 0;
    const list = addresses.map((address) => ({ address, family: isIP(address) })).filter((a) => a.family !== 0 && (want === 0 || a.family === want));
    if (list.length === 0) return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
    if (options.all) callback(null, list);
    else callback(null, list[0]!.address, list[0]!.family);
  };
}

/** One stream: its sockets, protocol session and reconnect state. */
class Stream {
  session: C37Session;
  sock: Socket | null = null;
  udp: UdpSocket | null = null;
  udpBound = 0;
  connected = false;
  private delay: number;
  private retry: NodeJS.Timeout | undefined;
  reconnects = 0;
  lastError: string | undefined;
  lastErrorAt: number | undefined;
  stopped = false;

  constructor(
    readonly sc: StreamConfig,
    readonly name: string,
    private readonly d: C37118Driver,
    /** Where the config gives it, for messages: `the main stream`, `streams[0]` … */
    readonly where: string,
  ) {
    const c = d.cfg;
    this.delay = c.reconnectMinMs;
    this.session = new C37Session(
      { id: name, idcode: sc.idcode, config: c.config, phasors: c.phasors, blockNames: c.blockNames, maxTimeErrorUs: c.maxTimeErrorUs, configTimeoutMs: c.configTimeoutMs, maxConfigTries: 3, dataTimeoutMs: c.dataTimeoutMs, sendDataOn: c.sendDataOn },
      {
        send: (f) => {
          if (this.sock && this.connected) this.sock.write(f);
        },
        data: (ms, _plans, frame) => d.onData(this, ms, frame.ts),
        reject: (reason, detail) => d.onReject(this, reason, detail),
        config: (cfg, changed) => {
          this.delay = c.reconnectMinMs;
          d.onConfig(this, cfg, changed);
        },
      },
      // Request and data timeouts on the monotonic clock: a wall-clock step neither drops a live
      // connection (forward) nor keeps a silent one for as long as the step (back).
      d.monotonic,
    );
  }

  async openUdp(): Promise<void> {
    if (this.sc.transport !== 'udp') return;
    const u = createSocket('udp4');
    this.udp = u;
    u.on('message', (msg) => this.session.datagram(msg));
    u.on('error', (e) => this.fail(`UDP: ${e.message}`));
    await new Promise<void>((resolve, reject) => {
      u.once('error', reject);
      u.bind(this.sc.udpPort, () => {
        u.off('error', reject);
        resolve();
      });
    });
    this.udpBound = u.address().port;
  }

  fail(msg: string): void {
    this.lastError = msg;
    this.lastErrorAt = Date.now();
  }

  /**
   * One connection attempt: resolve the host name again (or take `given`, the start's resolution),
   * move this stream's hold (same-stream.ts) to the addresses found, and connect to them. A name that
   * does not resolve, or now reaches a stream another entry holds, is not connected to: the attempt
   * fails (lastError says why) and is retried with the backoff, like a refused connection.
   */
  connect(given?: ResolvedStream): void {
    if (this.stopped) return;
    void this.resolveThenOpen(given);
  }

  private async resolveThenOpen(given: ResolvedStream | undefined): Promise<void> {
    const r = given?.addresses ? given : await resolveStream({ where: this.where, host: this.sc.host, port: this.sc.port, idcode: this.sc.idcode }, this.d.lookup, this.d.cfg.connectTimeoutMs);
    if (this.stopped) return;
    if (!r.addresses) {
      this.fail(`${this.sc.host}:${this.sc.port}: cannot resolve ${this.sc.host} (${r.error ?? 'no address'})`);
      return this.retryLater(false);
    }
    const conflict = this.d.reclaim(r);
    if (conflict) {
      this.fail(conflict);
      this.d.ctx?.counters.inc('c37118_same_stream_refused', { driver: this.d.cfg.id });
      return this.retryLater(false);
    }
    this.open(r.addresses);
  }

  /** Count a failed attempt or a lost connection, and try again after the backoff. */
  private retryLater(wasConnected: boolean): void {
    if (this.stopped) return;
    this.d.connectionLost(this, wasConnected);
    this.reconnects++;
    this.d.ctx?.counters.inc('c37118_reconnects', { driver: this.d.cfg.id });
    this.retry = setTimeout(() => this.connect(), this.delay);
    this.delay = Math.min(this.delay * 2, this.d.cfg.reconnectMaxMs);
  }

  /** Connect to the host at `addresses` (Node tries them in order, both families). */
  private open(addresses: readonly string[]): void {
    const s = createConnection({ host: this.sc.host, port: this.sc.port, lookup: fixedLookup(addresses) });
    this.sock = s;
    s.setNoDelay(true);
    s.setTimeout(this.d.cfg.connectTimeoutMs);
    s.on('timeout', () => {
      if (!this.connected) {
        this.fail(`connect to ${this.sc.host}:${this.sc.port} timed out`);
        s.destroy();
      }
    });
    s.on('connect', () => {
      s.setTimeout(0);
      this.connected = true;
      this.d.refreshExpected();
      this.session.connected();
    });
    s.on('data', (chunk) => this.session.push(chunk));
    s.on('error', (e) => this.fail(`${this.sc.host}:${this.sc.port}: ${e.message}`));
    s.on('close', () => {
      const was = this.connected;
      this.connected = false;
      if (this.sock === s) this.sock = null;
      if (was) this.session.disconnected();
      this.retryLater(was);
    });
  }

  tick(): void {
    if (!this.connected || !this.sock) return;
    if (this.session.tick() === 'reconnect') {
      this.fail(this.session.cfg ? 'no frames within dataTimeoutMs' : 'no configuration after repeated requests');
      this.sock.destroy();
    }
  }

  close(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.sock?.destroy();
    this.udp?.close();
    this.udp = null;
  }
}

export class C37118Driver implements Driver {
  ctx: PluginContext | undefined;
  private emit: Emit | undefined;
  private state: PluginHealth['state'] = 'starting';
  private readonly streams: Stream[];
  private timer: NodeJS.Timeout | undefined;
  private readonly aligner: Aligner;
  private readonly stats = new Map<string, PmuStats>();
  private readonly logLimit = new LogLimiter(5, 60_000);
  private emitted = 0;
  private rejected = 0;
  private stopped = false;
  /** Alignment latency of published groups: sum and count (ms), for the health info. */
  private alignWait = { sum: 0, n: 0, max: 0 };
  /** How host names are resolved, for the same-stream check and the connections. */
  readonly lookup: Lookup;
  /** The agent's stream claims while this driver holds its streams (from start to stop). */
  private claims: ReturnType<typeof claimsOf> | null = null;

  /** Wall clock (ms since the epoch): arrival times for the latency statistics (against the frames' time stamps). */
  private readonly wall: () => number;
  /** Monotonic clock (ms): how long an alignment group has waited, request and data timeouts. */
  readonly monotonic: () => number;

  /**
   * `opts.lookup`: how host names are resolved for the same-stream check; `opts.wall` and
   * `opts.monotonic`: the clocks (default `Date.now` and `performance.now`). Tests inject their own.
   */
  constructor(
    readonly cfg: C37118Config,
    opts: { lookup?: Lookup; wall?: () => number; monotonic?: () => number } = {},
  ) {
    this.lookup = opts.lookup ?? systemLookup;
    this.wall = opts.wall ?? Date.now;
    this.monotonic = opts.monotonic ?? (() => performance.now());
    const first: StreamConfig = { host: cfg.host, port: cfg.port, idcode: cfg.idcode, transport: cfg.transport, udpPort: cfg.udpPort };
    const all = [first, ...cfg.streams];
    this.streams = all.map((s, k) => new Stream({ ...first, ...s }, k === 0 ? cfg.id : (s.name ?? `${cfg.id}-s${k + 1}`), this, k === 0 ? 'the main stream' : `streams[${k - 1}]`));
    this.aligner = new Aligner(cfg.alignMs, {
      publish: (m) => this.publish(m),
      absent: (device) => {
        this.statsFor(device).absent++;
        this.ctx?.counters.inc('c37118_absent', { driver: cfg.id, device });
      },
      late: (device) => {
        this.statsFor(device).late++;
        this.ctx?.counters.inc('c37118_late', { driver: cfg.id, device });
      },
      published: (_ts, _n, waited) => {
        this.alignWait.sum += waited;
        this.alignWait.n++;
        if (waited > this.alignWait.max) this.alignWait.max = waited;
      },
    });
  }

  private statsFor(device: string): PmuStats {
    let s = this.stats.get(device);
    if (!s) this.stats.set(device, (s = new PmuStats()));
    return s;
  }

  private publish(m: Measurement): void {
    if (this.stopped || !this.emit) return;
    this.emitted++;
    this.emit(m);
  }

  async start(ctx: PluginContext, emit: Emit): Promise<void> {
    this.ctx = ctx;
    this.emit = emit;
    this.stopped = false;
    ctx.counters.define(metrics);
    const resolved = await this.resolveStreams(ctx);
    // Stopped (a reload or the agent's stop) while the names were resolved: hold and open nothing.
    if (ctx.signal.aborted || this.stopped) return;
    const claims = claimsOf(ctx.counters);
    claims.claim(this, this.cfg.id, resolved);
    this.claims = claims;
    try {
      for (const s of this.streams) await s.openUdp();
    } catch (e) {
      // A UDP port that cannot be bound fails the start (the agent retries it): release what was bound.
      for (const s of this.streams) {
        s.udp?.close();
        s.udp = null;
      }
      claims.release(this);
      this.claims = null;
      throw e;
    }
    this.streams.forEach((s, k) => s.connect(resolved[k]));
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref?.();
  }

  /**
   * Resolve every stream's host (same-stream.ts) and refuse the start when two of them reach the same
   * stream (same address, port and IDCODE). A name that cannot be resolved now is compared as text
   * and warned about; its stream still connects by name, retrying like any unreachable PMU.
   */
  private async resolveStreams(ctx: PluginContext): Promise<ResolvedStream[]> {
    const resolved = await Promise.all(
      this.streams.map((s) =>
        resolveStream({ where: s.where, host: s.sc.host, port: s.sc.port, idcode: s.sc.idcode }, this.lookup, this.cfg.connectTimeoutMs),
      ),
    );
    for (const r of resolved)
      if (!r.addresses)
        ctx.log.warn(
          { stream: `${r.host}:${r.port}`, idcode: r.idcode, err: r.error },
          `c37118: ${r.where}'s host ${r.host} cannot be resolved now (${r.error ?? 'no address'}): it is compared with the other streams by name only, and connects when the name resolves`,
        );
    const repeats = repeatedStreams(resolved);
    if (repeats.length) throw new Error(repeats.join('; '));
    return resolved;
  }

  /**
   * Move a stream's hold to its addresses of a new resolution (before a connection attempt); why
   * not, when another stream holds one of them. Null too when the driver holds nothing (stopped).
   */
  reclaim(r: ResolvedStream): string | null {
    return this.claims ? this.claims.reclaim(this, this.cfg.id, r) : null;
  }

  private tick(): void {
    this.aligner.tick(this.monotonic());
    for (const s of this.streams) s.tick();
    const c = this.ctx?.counters;
    if (c)
      for (const [device, st] of this.stats) {
        c.set('c37118_latency_p50_ms', st.quantileMs(0.5), { driver: this.cfg.id, device });
        c.set('c37118_latency_p99_ms', st.quantileMs(0.99), { driver: this.cfg.id, device });
      }
  }

  /** A data frame of stream `s` arrived now (`ts`: its time stamp, µs), decoded into `ms`. */
  onData(s: Stream, ms: Measurement[], ts: number): void {
    if (this.stopped) return;
    const arrivalMs = this.wall();
    const arrivalMono = this.monotonic();
    this.state = 'running';
    this.ctx?.counters.inc('c37118_frames', { driver: this.cfg.id });
    const rate = s.session.cfg?.dataRate ?? 0;
    const periodUs = rate > 0 ? 1e6 / rate : rate < 0 ? -rate * 1e6 : 0;
    for (const m of ms) {
      const st = this.statsFor(m.device);
      const missing = st.missing, ooo = st.outOfOrder;
      st.record(ts, arrivalMs, periodUs);
      if (st.missing > missing) this.ctx?.counters.inc('c37118_missing', { driver: this.cfg.id, device: m.device }, st.missing - missing);
      if (st.outOfOrder > ooo) this.ctx?.counters.inc('c37118_out_of_order', { driver: this.cfg.id, device: m.device });
      this.aligner.add(m, arrivalMono);
    }
  }

  onReject(s: Stream, reason: string, detail: string): void {
    this.rejected++;
    this.ctx?.counters.inc('c37118_rejected', { driver: this.cfg.id, reason });
    const d = this.logLimit.take(reason);
    if (d.ok) this.ctx?.log.warn({ stream: `${s.sc.host}:${s.sc.port}`, idcode: s.sc.idcode, reason, suppressed: d.suppressed }, `c37118 frame refused: ${detail}`);
  }

  /**
   * The PMUs every aligned group waits for: the blocks of every connected stream with a
   * configuration (refreshed on connect, on close and when a configuration arrives). A stream that
   * is down is not waited for: its groups would only be delayed.
   */
  refreshExpected(): void {
    const expected = new Set<string>();
    for (const st of this.streams) if (st.connected && st.session.cfg) for (const p of st.session.plans) expected.add(p.device);
    this.aligner.expected = expected;
  }

  /** A connection closed or could not be made: logged (rate-limited per stream), retried by the stream. */
  connectionLost(s: Stream, wasConnected: boolean): void {
    if (wasConnected) this.refreshExpected();
    const where = `${s.sc.host}:${s.sc.port}`;
    const d = this.logLimit.take(`connection ${where}`);
    if (d.ok)
      this.ctx?.log.warn(
        { stream: where, idcode: s.sc.idcode, error: s.lastError, suppressed: d.suppressed },
        wasConnected ? 'c37118 connection lost, reconnecting with backoff' : 'c37118 cannot connect, retrying with backoff',
      );
  }

  onConfig(s: Stream, cfg: ConfigFrame, changed: boolean): void {
    if (changed) this.ctx?.counters.inc('c37118_config_changes', { driver: this.cfg.id });
    const dropped = s.session.plans.reduce((a, p) => a + p.dropped, 0);
    if (dropped) this.ctx?.counters.inc('c37118_dropped_channels', { driver: this.cfg.id }, dropped);
    this.refreshExpected();
    this.ctx?.log.info(
      { stream: `${s.sc.host}:${s.sc.port}`, idcode: s.sc.idcode, kind: cfg.kind, pmus: cfg.pmus.length, dataRate: cfg.dataRate, cfgcnt: cfg.pmus.map((p) => p.cfgcnt), changed },
      changed ? 'c37118 configuration changed' : 'c37118 configuration received',
    );
  }

  async stop(_deadline?: AbortSignal): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const s of this.streams) s.close();
    this.claims?.release(this);
    this.claims = null;
    // Publish what is still waiting for alignment, then never again.
    if (!this.stopped) this.aligner.flush(this.monotonic());
    this.stopped = true;
    this.state = 'stopped';
  }

  health(): PluginHealth {
    const devices: string[] = [];
    for (const s of this.streams) {
      const plans = s.session.plans;
      if (plans.length) for (const p of plans) devices.push(p.device);
      else devices.push(s.name);
    }
    const info: Record<string, number | string | boolean> = {
      emitted: this.emitted,
      rejected: this.rejected,
      connected: this.streams.filter((s) => s.connected).length,
      streams: this.streams.length,
      reconnects: this.streams.reduce((a, s) => a + s.reconnects, 0),
      openGroups: this.aligner.open,
    };
    if (this.alignWait.n) {
      info.alignWaitMeanMs = Math.round((this.alignWait.sum / this.alignWait.n) * 10) / 10;
      info.alignWaitMaxMs = this.alignWait.max;
    }
    const s0 = this.streams[0]!;
    if (s0.udpBound) info.udpPort = s0.udpBound;
    const c = s0.session.cfg;
    if (c) {
      info.config = c.kind;
      info.dataRate = c.dataRate;
    }
    for (const [device, st] of this.stats) {
      info[`${device}.frames`] = st.frames;
      info[`${device}.missing`] = st.missing;
      info[`${device}.outOfOrder`] = st.outOfOrder;
      info[`${device}.late`] = st.late;
      info[`${device}.absent`] = st.absent;
      info[`${device}.latencyP50Ms`] = st.quantileMs(0.5);
      info[`${device}.latencyP99Ms`] = st.quantileMs(0.99);
      // The distribution: frames per latency bucket, "≤1ms:0 ≤2ms:3 … >5000ms:0".
      info[`${device}.latencyBuckets`] = st.buckets.map((n, b) => `${LATENCY_BUCKETS_MS[b] === Infinity ? '>5000' : `≤${LATENCY_BUCKETS_MS[b]}`}ms:${n}`).join(' ');
    }
    const err = this.streams.find((s) => s.lastError);
    let state = this.state;
    if (state === 'running' && this.streams.some((s) => !s.connected)) state = 'degraded';
    // No data yet, and a connection already failed or was lost: not "starting" for as long as the PMU is down.
    if (state === 'starting' && this.streams.some((s) => s.reconnects > 0)) state = 'degraded';
    const h: PluginHealth = { state, devices, info };
    // DATA_RATE of the CFG: frames per second when positive, seconds per frame when negative.
    if (c && c.dataRate !== 0) h.expectedIntervalMs = c.dataRate > 0 ? 1000 / c.dataRate : -c.dataRate * 1000;
    if (err?.lastError) {
      h.lastError = err.lastError;
      if (err.lastErrorAt) h.lastErrorAt = err.lastErrorAt;
    }
    return h;
  }

  /** The UDP port each stream's data arrives on (0 for TCP streams). */
  udpPorts(): number[] {
    return this.streams.map((s) => s.udpBound);
  }
}

const STREAM_KEYS = new Set(['host', 'port', 'idcode', 'transport', 'udpPort', 'name']);

/** Rules across keys: "path: message" each; a rule that reads a key `invalid` by itself is left out. */
export function validateC37118(c: C37118Config, invalid: InvalidPaths = NO_INVALID_PATHS): string[] {
  const out: string[] = [];
  out.push(...reconnectProblems(c, invalid));
  // Each stream once: (host, port, idcode) → where it is first given. Entries with a bad one of the three are not compared.
  const streamKey = (h: string, port: number, idcode: number): string => `${h.trim().toLowerCase()}:${port}/${idcode}`;
  const given = new Map<string, string>();
  if (!invalid('host') && !invalid('port') && !invalid('idcode')) given.set(streamKey(c.host, c.port, c.idcode), 'the main stream');
  if (!Array.isArray(c.streams)) return out; // the streams check reports it
  c.streams.forEach((s, k) => {
    const p = `streams[${k}]`;
    if (typeof s !== 'object' || s === null) return out.push(`${p}: must be an object`);
    const before = out.length;
    for (const key of Object.keys(s)) if (!STREAM_KEYS.has(key)) out.push(`${p}.${key}: unknown key (known: ${[...STREAM_KEYS].join(', ')})`);
    const check = (key: string, f: (v: unknown) => void, required: boolean): void => {
      const v = (s as unknown as Record<string, unknown>)[key];
      if (v === undefined) {
        if (required) out.push(`${p}.${key}: is required`);
        return;
      }
      try {
        f(v);
      } catch (e) {
        out.push(`${p}.${key}: ${(e as Error).message}, got ${JSON.stringify(v)}`);
      }
    };
    check('host', host, true);
    check('port', intRange(1, 65535), true);
    check('idcode', intRange(0, 65535), true);
    check('transport', oneOf('tcp', 'udp'), false);
    check('udpPort', intRange(0, 65535), false);
    check('name', identifier, false);
    if (out.slice(before).some((m) => /^streams\[\d+\]\.(host|port|idcode):/.test(m))) return;
    const key = streamKey(s.host, s.port, s.idcode);
    const first = given.get(key);
    if (first === undefined) given.set(key, p);
    else
      out.push(
        `${p}: reads the same stream as ${first} (host, port, idcode: ${s.host}:${s.port}, IDCODE ${s.idcode}): it would be read twice and published under two names; give each stream once`,
      );
  });
  return out;
}

export const c37118Driver: DriverSpec<C37118Config> = {
  type: 'c37118',
  doc: 'IEEE C37.118.2 synchrophasor client (a small PDC): TCP or UDP, CFG-2/CFG-3, STAT to quality, time alignment',
  schema,
  metrics,
  validate: validateC37118,
  create: (config) => new C37118Driver(config),
};
