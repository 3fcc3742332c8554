/**
 * modbus: polls Modbus TCP servers and RTU devices on serial lines through modbus-serial, decodes
 * their register maps and emits one measurement per polling group and poll on bal/raw/<id>.
 * See README.md.
 *
 * Each polling group runs its own timer at its own interval; a poll reads the group's planned
 * requests one after another through the device's line (shared with the other devices on the same
 * serial path), so polls of different groups interleave request by request and never run two
 * requests on one line at once. A poll of a group never overlaps the previous poll of the same group:
 * when a poll takes longer than the interval the next one starts when it ends (counted as an overrun).
 *
 * A poll publishes only when it read at least one value: its measurement is timestamped when the
 * poll started, so it must carry something read then. Within such a poll, a failed request (Modbus
 * exception, timeout after the retries, garbled response, connection down) turns the fields it
 * carries `invalid` in `field_quality`, with the reason (`modbus:exception:2`, `modbus:timeout`,
 * `modbus:bad_response`, `modbus:disconnected`); those fields keep the last value read (a field never
 * read is left out), and the other requests and groups carry on. A poll in which nothing was read
 * (the device unreachable, not answering, or refusing every request) publishes nothing: the device's
 * values age, the agent's driver health marks it stale after 3 × the shortest group interval, and
 * the first poll that reads a value again publishes and clears that. The group's change between
 * publishing and silent is logged once each way. While some group reads and another reads nothing,
 * the device is expected as often as the groups that read (so it does not flap stale/fresh), and
 * health() names the silent group with its error (the driver is degraded).
 */
import type { Driver, DriverSpec, Emit, PluginContext, PluginHealth } from '../../agent/core/plugin.js';
import type { Counters } from '../../agent/core/counters.js';
import type { Measurement } from '../../algorithms/common/measurement.js';
import { markField, setPath } from '../../algorithms/common/field-quality.js';
import { dropPhasorsWithoutMag } from '../common/phasors.js';
import { decodeRaw, isBitFunction, scaled } from './decode.js';
import { planRequests, type PlannedRequest } from './plan.js';
import { parseHostPort, resolveGroups, schema, validate, width, type ModbusConfig, type RegisterSpec } from './config.js';
import { acquireLine, releaseLine, ModbusFailure, type Endpoint, type ModbusLine } from './line.js';

export type { ModbusConfig } from './config.js';

const metrics = {
  modbus_requests: { type: 'counter', help: 'Modbus read requests answered, by device', labels: ['device'] },
  modbus_errors: {
    type: 'counter',
    help: 'Modbus read requests that failed after their retries, by device and reason (exception:N, timeout, bad_response, disconnected)',
    labels: ['device', 'reason'],
  },
  modbus_retries: { type: 'counter', help: 'Modbus requests sent again after a timeout or a garbled response, by device', labels: ['device'] },
  modbus_reconnects: { type: 'counter', help: 'Modbus connections re-opened after a loss, by device', labels: ['device'] },
  modbus_polls: { type: 'counter', help: 'Modbus polling-group polls completed, by device and group', labels: ['device', 'group'] },
  modbus_overruns: { type: 'counter', help: 'Modbus polls that took longer than their interval (the next poll started late), by device and group', labels: ['device', 'group'] },
  modbus_replans: {
    type: 'counter',
    help: 'Modbus requests split into gap-free requests after the device refused a read across unmapped registers (exception 2), by device',
    labels: ['device'],
  },
  modbus_invalid_values: { type: 'counter', help: 'Modbus values decoded as NaN or infinity (field marked invalid), by device', labels: ['device'] },
} as const;

interface GroupState {
  name: string;
  interval: number;
  registers: RegisterSpec[];
  plan: PlannedRequest[];
  /** Last good value per register (undefined until the first good read). */
  last: (number | boolean | undefined)[];
  timer: NodeJS.Timeout | undefined;
  /** When the next poll is due (ms, monotonic clock: performance.now()). */
  due: number;
  running: Promise<void> | undefined;
  /** Whether the group's last poll read nothing (so published nothing); logged on each change. */
  silent: boolean;
  /** Whether a request of the group's last poll failed (the driver is `degraded` while one did). */
  failed: boolean;
  /** The last failure of the group's last poll (what `health().lastError` names for a silent group). */
  error: string | undefined;
}

export function endpointOf(cfg: ModbusConfig): Endpoint {
  const r = cfg.rtu;
  // The loader fills the serial defaults; a config built by hand may leave them out.
  if (r && typeof r.path === 'string' && r.path !== '')
    return { kind: 'rtu', path: r.path, baud: r.baud ?? 9600, parity: r.parity ?? 'none', stopBits: r.stopBits ?? 1, dataBits: r.dataBits ?? 8 };
  const hp = parseHostPort(cfg.tcp ?? '');
  if (!hp) throw new Error(`tcp: must be "HOST:PORT", got ${JSON.stringify(cfg.tcp)}`);
  return { kind: 'tcp', ...hp };
}

export class ModbusDriver implements Driver {
  private readonly groups: GroupState[];
  private line: ModbusLine | undefined;
  private ctx: PluginContext | undefined;
  private emit: Emit | undefined;
  private state: PluginHealth['state'] = 'starting';
  private stopped = false;
  private polls = 0;
  private errors = 0;
  private retries = 0;
  private emitted = 0;
  private lastValueAt = 0;
  private reconnectsSeen = 0;
  private lastError: string | undefined;
  private lastErrorAt: number | undefined;

  constructor(
    private readonly cfg: ModbusConfig,
    private readonly now: () => number = Date.now,
  ) {
    const { groups, problems } = resolveGroups(cfg);
    if (problems.length) throw new Error(`modbus ${cfg.id}: ${problems.join('; ')}`);
    this.groups = groups.map((g) => ({
      name: g.name,
      interval: g.interval,
      registers: g.registers,
      plan: planRequests(
        g.registers.map((r) => ({ function: r.function, address: r.address, count: width(r) })),
        cfg.maxGap,
      ),
      last: g.registers.map(() => undefined),
      timer: undefined,
      due: 0,
      running: undefined,
      silent: false,
      failed: false,
      error: undefined,
    }));
  }

  async start(ctx: PluginContext, emit: Emit): Promise<void> {
    if (this.stopped) return;
    this.ctx = ctx;
    this.emit = emit;
    this.line = acquireLine(endpointOf(this.cfg), {
      reconnectMinMs: this.cfg.reconnectMinMs,
      reconnectMaxMs: this.cfg.reconnectMaxMs,
      connectTimeoutMs: Math.max(this.cfg.timeout, 3000),
    });
    ctx.signal.addEventListener('abort', () => this.halt(), { once: true });
    const t = performance.now();
    for (const g of this.groups) {
      g.due = t;
      this.schedule(g);
    }
    this.state = 'running';
  }

  /**
   * Run the group's next poll when it is due, then schedule the one after. Due times follow the
   * monotonic clock, so a wall-clock step neither stalls nor floods the polls.
   */
  private schedule(g: GroupState): void {
    if (this.stopped) return;
    g.timer = setTimeout(() => {
      g.timer = undefined;
      g.running = this.poll(g)
        .catch((e: unknown) => {
          // A bug, not a device problem: keep polling, and say so.
          this.lastError = `poll failed: ${(e as Error)?.message ?? String(e)}`;
          this.lastErrorAt = this.now();
          this.ctx?.log.error({ err: e, group: g.name }, 'modbus: poll failed');
        })
        .finally(() => {
          g.running = undefined;
          const t = performance.now();
          g.due += g.interval;
          if (g.due < t) {
            this.ctx?.counters.inc('modbus_overruns', { device: this.cfg.id, group: g.name });
            g.due = t;
          }
          this.schedule(g);
        });
    }, Math.max(0, g.due - performance.now()));
  }

  /** Read one request, retrying timeouts and garbled responses; a Modbus exception is final. */
  private async readRequest(r: PlannedRequest): Promise<number[] | boolean[]> {
    const line = this.line!;
    const device = this.cfg.id;
    for (let attempt = 0; ; attempt++) {
      try {
        const data = await line.read(this.cfg.unit, r.function, r.address, r.count, this.cfg.timeout);
        this.ctx?.counters.inc('modbus_requests', { device });
        return data;
      } catch (e) {
        const f = e instanceof ModbusFailure ? e : new ModbusFailure('disconnected', String(e));
        const retry = (f.kind === 'timeout' || f.kind === 'bad_response') && attempt < this.cfg.retries && !this.stopped;
        if (!retry) throw f;
        this.retries++;
        this.ctx?.counters.inc('modbus_retries', { device });
      }
    }
  }

  /** Whether request `r` reads registers no point of `g` maps. */
  private hasGap(g: GroupState, r: PlannedRequest): boolean {
    let covered = 0;
    for (const p of r.points) covered += width(g.registers[p.index]!);
    return covered < r.count;
  }

  private async poll(g: GroupState): Promise<void> {
    const ts = this.now() * 1000;
    const device = this.cfg.id;
    const failed = new Map<number, string>();
    let anyFailed = false;
    /** Values read in this poll (a request answered, the value finite). */
    let fresh = 0;
    for (let k = 0; k < g.plan.length; k++) {
      const r = g.plan[k]!;
      if (this.stopped) return;
      let data: number[] | boolean[];
      try {
        data = await this.readRequest(r);
      } catch (e) {
        const f = e as ModbusFailure;
        if (f.kind === 'exception' && f.code === 2 && this.hasGap(g, r)) {
          // The device refuses a read that spans registers it does not map: read this request's
          // points without gaps from now on, starting with this poll.
          const parts = planRequests(
            r.points.map((p) => ({ function: r.function, address: r.address + p.at, count: width(g.registers[p.index]!) })),
            0,
          ).map((q) => ({ ...q, points: q.points.map((qp) => ({ index: r.points[qp.index]!.index, at: qp.at })) }));
          g.plan.splice(k, 1, ...parts);
          this.ctx?.counters.inc('modbus_replans', { device });
          this.ctx?.log.info({ group: g.name, function: r.function, address: r.address, count: r.count, requests: parts.length }, 'modbus: device refuses reads across unmapped registers; reading without gaps');
          k--;
          continue;
        }
        anyFailed = true;
        this.errors++;
        g.error = `${f.message} (${r.function} ${r.address}+${r.count})`;
        this.lastError = `group ${g.name}: ${g.error}`;
        this.lastErrorAt = this.now();
        this.ctx?.counters.inc('modbus_errors', { device, reason: f.reason.slice('modbus:'.length) });
        for (const p of r.points) failed.set(p.index, f.reason);
        continue;
      }
      for (const p of r.points) {
        const reg = g.registers[p.index]!;
        if (isBitFunction(reg.function)) {
          g.last[p.index] = Boolean(data[p.at]);
          fresh++;
          continue;
        }
        const v = scaled(decodeRaw(data as number[], p.at, reg.type, reg.order), reg.scale, reg.offset);
        if (Number.isFinite(v)) {
          g.last[p.index] = v;
          fresh++;
        } else {
          this.ctx?.counters.inc('modbus_invalid_values', { device });
          failed.set(p.index, 'modbus:not_finite');
        }
      }
    }
    this.syncLineStats();
    if (this.stopped) return;
    this.polls++;
    g.failed = anyFailed;
    if (!anyFailed) g.error = undefined;
    this.ctx?.counters.inc('modbus_polls', { device, group: g.name });
    if (fresh === 0) {
      // Nothing read: publish nothing rather than the last values again under a new time stamp.
      if (!g.silent) {
        g.silent = true;
        this.ctx?.log.warn({ group: g.name, error: this.lastError }, 'modbus: a poll read no value; publishing nothing for this group until the device answers');
      }
      return;
    }
    if (g.silent) {
      g.silent = false;
      this.ctx?.log.info({ group: g.name }, 'modbus: the device answers again; publishing');
    }
    this.lastValueAt = this.now();
    const m = buildMeasurement(device, ts, g.registers, g.last, failed);
    if (!m) return;
    this.emitted++;
    this.emit?.(m);
  }

  private syncLineStats(): void {
    const line = this.line;
    if (!line) return;
    const r = line.stats.reconnects;
    if (r > this.reconnectsSeen) {
      this.ctx?.counters.inc('modbus_reconnects', { device: this.cfg.id }, r - this.reconnectsSeen);
      this.reconnectsSeen = r;
    }
  }

  /** Stop polling at once (timers cleared; a request in flight is let go). */
  private halt(): void {
    this.stopped = true;
    for (const g of this.groups) {
      if (g.timer) clearTimeout(g.timer);
      g.timer = undefined;
    }
  }

  async stop(deadline: AbortSignal): Promise<void> {
    this.halt();
    if (this.line) {
      // Closing the line fails the request in flight at once, so every poll ends promptly.
      releaseLine(this.line);
      this.line = undefined;
    }
    const running = this.groups.map((g) => g.running).filter((p): p is Promise<void> => p !== undefined);
    if (running.length && !deadline.aborted)
      await Promise.race([Promise.allSettled(running), new Promise((r) => deadline.addEventListener('abort', r, { once: true }))]);
    this.state = 'stopped';
  }

  health(): PluginHealth {
    const line = this.line;
    const connected = line?.connected() ?? false;
    const silent = this.groups.filter((g) => g.silent);
    const reading = this.groups.filter((g) => !g.silent);
    const h: PluginHealth = {
      state: this.state === 'running' && (!connected || this.groups.some((g) => g.failed)) ? 'degraded' : this.state,
      devices: [this.cfg.id],
      // The device sends a measurement per poll of each group that reads: expect one at least every
      // shortest interval of those. A group whose polls read nothing (refused, say) is named below
      // instead, so a slower group that still reads keeps the device fresh rather than flapping
      // between stale and fresh. When no group reads, or the connection is down, every group
      // counts: the device goes stale after 3 × the shortest interval with no value, as before.
      expectedIntervalMs: Math.min(...(connected && reading.length ? reading : this.groups).map((g) => g.interval)),
      info: {
        connected,
        polls: this.polls,
        errors: this.errors,
        retries: this.retries,
        reconnects: line?.stats.reconnects ?? this.reconnectsSeen,
        emitted: this.emitted,
        endpoint: line?.where ?? (this.cfg.tcp || this.cfg.rtu?.path || ''),
        unit: this.cfg.unit,
      },
    };
    if (this.lastValueAt > 0) h.info!['lastValueAgeMs'] = Math.max(0, this.now() - this.lastValueAt);
    if (silent.length) h.info!['silentGroups'] = silent.map((g) => g.name).join(',');
    if (this.lastError !== undefined) {
      h.lastError = this.lastError;
      h.lastErrorAt = this.lastErrorAt;
    }
    // Groups whose polls read nothing are named with their own error (the status problem line
    // `driver <id> is degraded: …` quotes this), rather than whichever request failed last.
    if (silent.length && this.state === 'running')
      h.lastError = silent.map((g) => `group ${g.name} (every ${g.interval} ms) reads nothing: ${g.error ?? 'no finite value'}`).join('; ');
    return h;
  }
}

/**
 * The measurement of one poll: every register with a value (the one just read, or for a failed one
 * the last value read) at its field path; the failed ones named `invalid` in `field_quality`, their
 * reasons in `reasons`. Null when no register has a value yet. A phasor without a magnitude is left
 * out (a measurement's phasor needs `mag`).
 */
export function buildMeasurement(
  device: string,
  ts: number,
  registers: readonly RegisterSpec[],
  values: readonly (number | boolean | undefined)[],
  failed: ReadonlyMap<number, string>,
): Measurement | null {
  const m: Measurement = { device, ts, quality: 'good' };
  const fq: Record<string, 'questionable' | 'invalid'> = {};
  const why = new Map<string, string>();
  let count = 0;
  registers.forEach((r, k) => {
    const v = values[k];
    if (v === undefined) return;
    setPath(m, r.field, v);
    count++;
    const reason = failed.get(k);
    if (reason !== undefined) {
      markField(fq, r.field, 'invalid');
      why.set(r.field, reason);
    }
  });
  count -= dropPhasorsWithoutMag(m, fq);
  if (count <= 0) return null;
  if (Object.keys(fq).length) {
    m.field_quality = fq;
    m.quality = 'invalid';
    m.reasons = [...new Set(Object.keys(fq).map((f) => why.get(f)!))];
  }
  return m;
}

export const modbusDriver: DriverSpec<ModbusConfig> = {
  type: 'modbus',
  doc: 'Modbus TCP servers and RTU devices (serial lines shared by their units): register maps, presets of common meters, polling groups',
  schema,
  metrics,
  validate,
  create: (config) => new ModbusDriver(config),
};
