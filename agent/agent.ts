/**
 * The composition root: builds every component from its config slice and wires the one data path
 * (agent/pipeline/pipeline.ts). Plugins of every kind (agent/core/kinds.ts) are created from the
 * registry (agent/registry.ts) the same way.
 *
 * Start order: buffer → processors, aggregators → pipeline → broker → services (routes) → HTTP →
 * forwarders → analyzers → drivers. Stop order is the reverse, within one deadline: drivers stop
 * emitting, analyzers stop, open aggregator windows are flushed, services stop, the broker stops
 * taking publishes, forwarders record their cursors, the buffer commits what it holds.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { createBroker, type EmbeddedBroker } from './broker/index.js';
import type { PreparedUsers, UsersApplied } from './broker/broker.js';
import { openBuffer } from './buffer/index.js';
import type { MessageBuffer } from './core/buffer-types.js';
import type { AgentConfig, PluginInstanceConfig } from './core/config-types.js';
import { Counters } from './core/counters.js';
import { DriverHealthTracker, type DeviceHealth } from './core/driver-health.js';
import { KINDS, type KindName, type ListKey } from './core/kinds.js';
import { createLogger } from './core/logger.js';
import { packageVersion } from './core/version.js';
import type {
  Aggregator,
  Analyzer,
  Driver,
  Emit,
  Forwarder,
  PluginContext,
  PluginHealth,
  Processor,
  ProcessorSpec,
  Service,
  ServiceContext,
} from './core/plugin.js';
import type { AgentStatus, DeviceStatus, ForwarderStatus, PluginStatus } from './core/status-types.js';
import { metricsTopic, statusTopic } from './core/topics.js';
import { ForwarderRunner } from './forwarders/runner.js';
import { startHttp } from './http/index.js';
import { certificateProblem, crlProblem, loadTls, type LoadedTls, type TlsFiles } from './core/tls-files.js';
import { historyOf } from './http/routes/history.js';
import { Pipeline } from './pipeline/pipeline.js';
import { IngestPool, ingestWorkerCount } from './pipeline/ingest-pool.js';
import type { IngestWorkerInit } from './pipeline/ingest-protocol.js';
import { registry as defaultRegistry, type PluginRegistry } from './registry.js';
import { AnalyzerRunner } from './analyzers/runner.js';
import { attachSystemd, type SystemdHooks } from './core/sd-notify.js'; // systemd notify/watchdog (packaging)
import { reloadOnSighup } from './reload.js'; // config reload on SIGHUP (packaging)

/** TLS files read again by a reload, for the listeners that run (see Agent.prepareTls). */
export interface PreparedTls {
  mqtt?: LoadedTls;
  http?: LoadedTls;
}

export interface RunOptions {
  configFile?: string;
  /** Stop when aborted (tests, embedding); SIGTERM/SIGINT also stop the agent unless `handleSignals` is false. */
  signal?: AbortSignal;
  handleSignals?: boolean;
  logger?: Logger;
  /** The plugins to build from (tests add their own); default: agent/registry.ts. */
  registry?: PluginRegistry;
}

/**
 * The stop budget: SIGTERM to exit. Plugins get `STOP_BUDGET_MS - BUFFER_RESERVE_MS` to stop (their
 * `deadline` signal aborts then); what remains is for the buffer to commit and close. If even that
 * is exceeded the process exits 1 (systemd's TimeoutStopSec is longer).
 */
export const STOP_BUDGET_MS = 4500;
const BUFFER_RESERVE_MS = 1500;

/** Devices listed in the status document (stale and bad-quality ones first, then by name); `devicesTotal` counts them all. */
export const STATUS_MAX_DEVICES = 200;

/** Stale devices named one by one in `problems` (the rest are summed up in one line). */
const STALE_PROBLEM_LINES = 10;

/** Order of the devices in the status document: stale first, then by quality (worst first), then by name. */
const QUALITY_RANK: Record<string, number> = { invalid: 0, questionable: 1, good: 2 };

export { packageVersion };

/** A plugin instance with a lifecycle (driver, analyzer, service) as the agent runs it. */
interface Started {
  kind: KindName;
  cfg: PluginInstanceConfig;
  health(): PluginHealth;
  /** Set while `start` fails; cleared once it succeeds. */
  startError?: string;
  /** Set when a config reload removed it: no further start retries. */
  removed?: boolean;
  /** Its context's `signal`: aborted when the agent stops, or when a reload stops this instance. */
  stopSignal: AbortController;
  stop(deadline: AbortSignal): Promise<void>;
}

function specOf(reg: PluginRegistry, list: ListKey, cfg: PluginInstanceConfig) {
  const spec = reg[list].get(cfg.type);
  if (!spec) throw new Error(`${list}: unknown type ${cfg.type}`); // the config loader already refused it
  return spec;
}

export class Agent {
  readonly counters = new Counters();
  readonly log: Logger;
  private readonly abort = new AbortController();
  private buffer: MessageBuffer | null = null;
  private broker: EmbeddedBroker | null = null;
  private pipeline!: Pipeline;
  /** Ingest worker threads (`pipeline.workers`), or null: raw publishes processed on the main thread. */
  private pool: IngestPool | null = null;
  private http: { close(): Promise<void>; host: string; port: number; certificateExpires: Date | null; renewTls(f: LoadedTls): boolean } | null = null;
  private readonly started: Started[] = [];
  private readonly forwarders: ForwarderRunner[] = [];
  private readonly aggregators: { cfg: PluginInstanceConfig; a: Aggregator }[] = [];
  /**
   * The stop signal of each running plugin instance (its context's `signal`). The agent's stop
   * aborts them all; a reload aborts and forgets the ones it stops, so nothing of a stopped instance
   * stays attached to the agent (a listener on one agent-wide signal would keep every instance a
   * reload ever replaced, for the life of the process).
   */
  private readonly stopSignals = new Set<AbortController>();
  /** The stop signal of each forwarder runner (also in `stopSignals`). */
  private readonly forwarderStops = new Map<ForwarderRunner, AbortController>();
  private readonly timers: NodeJS.Timeout[] = [];
  /** Pending start retries (startWithRetry); each removes itself when it fires. */
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly startedAt = Date.now();
  /** `performance.now()` at construction: uptime is measured on the monotonic clock (NTP steps do not move it). */
  private readonly startedAtMono = performance.now();
  private readonly version = packageVersion();
  private readonly registry: PluginRegistry;
  private mqttAddress = { host: '', port: 0 };
  /** Generic per-driver, per-device health: ages, totals, stale detection (agent/core/driver-health.ts). */
  readonly driverHealth: DriverHealthTracker;

  constructor(
    private cfg: AgentConfig,
    logger?: Logger,
    registry: PluginRegistry = defaultRegistry,
    /**
     * The clock of driver health (ages and stale detection), in ms; tests inject their own. Monotonic:
     * a wall-clock step (NTP) would otherwise mark every device stale at once (forward), or keep a
     * silent device from being marked stale for as long as the step (back).
     */
    now: () => number = () => performance.now(),
  ) {
    this.log = logger ?? createLogger(cfg.log.level);
    this.registry = registry;
    this.driverHealth = new DriverHealthTracker(this.counters, now, cfg.pipeline.maxDevices);
    for (const kind of KINDS) for (const spec of registry[kind.list].values()) if (spec.metrics) this.counters.define(spec.metrics);
    this.abort.signal.addEventListener('abort', () => {
      for (const c of this.stopSignals.values()) c.abort();
    }, { once: true });
  }

  /** A new instance's stop signal (already aborted when the agent is stopping), kept until `releaseStopSignal`. */
  private newStopSignal(): AbortController {
    const c = new AbortController();
    if (this.abort.signal.aborted) c.abort();
    this.stopSignals.add(c);
    return c;
  }

  /** A reload stops an instance: abort its signal (before its `stop`, as at shutdown) and forget it. */
  private releaseStopSignal(c: AbortController): void {
    c.abort();
    this.stopSignals.delete(c);
  }

  private ctx(type: string, id: string, signal: AbortSignal): PluginContext {
    const storageDir = join(this.cfg.storage.dir, 'plugins', `${type}-${id}`);
    return {
      id,
      log: this.log.child({ plugin: type, id }),
      counters: this.counters,
      signal,
      gateway: this.cfg.gateway.id,
      storageDir,
    };
  }

  async start(): Promise<{ mqtt: { host: string; port: number }; http: { host: string; port: number } }> {
    const cfg = this.cfg;
    const reg = this.registry;
    this.buffer = openBuffer({
      dir: cfg.storage.dir,
      maxBytes: cfg.storage.maxBytes,
      maxAgeHours: cfg.storage.maxAgeHours,
      historyHours: cfg.storage.historyHours,
      commitIntervalMs: cfg.storage.commitIntervalMs,
      log: this.log.child({ component: 'buffer' }),
      counters: this.counters,
    });

    const processors = cfg.processors.map((pc) => specOf(reg, 'processors', pc).create(pc) as Processor);
    for (const ac of cfg.aggregators) this.aggregators.push({ cfg: ac, a: specOf(reg, 'aggregators', ac).create(ac) as Aggregator });
    this.pool = this.ingestPool(cfg, reg);

    // Forwarders are created (no I/O) before the pipeline, which asks them which raw topics go
    // upstream (`storeRaw`); they start below, once the broker and HTTP are up.
    const upstream = cfg.forwarders.map((fc) => this.createForwarder(fc));
    this.forwarders.push(...upstream);

    let broker: EmbeddedBroker | null = null;
    this.pipeline = new Pipeline({
      log: this.log.child({ component: 'pipeline' }),
      counters: this.counters,
      processors,
      aggregators: this.aggregators.map((x) => x.a),
      buffer: this.buffer,
      storeRaw: (topic) => this.forwarders.some((f) => f.routes(topic)),
      pool: this.pool,
      publish: (topic, payload) => {
        if (broker) broker.publish(topic, payload).catch(() => this.counters.inc('broker_publish_errors'));
      },
      limits: {
        maxPayloadBytes: cfg.mqtt.maxPayloadBytes,
        futureToleranceS: cfg.pipeline.futureToleranceS,
        pastToleranceS: cfg.pipeline.pastToleranceS,
        maxDevices: cfg.pipeline.maxDevices,
      },
    });

    broker = createBroker(cfg.mqtt, {
      log: this.log.child({ component: 'broker' }),
      counters: this.counters,
      onRawPublish: (p) => this.pipeline.ingestRaw(p),
    });
    this.broker = broker;

    const services = cfg.services.map((sc) => ({ sc, service: specOf(reg, 'services', sc).create(sc) as Service }));
    const analyzerPlugins = cfg.analyzers.map((ac) => ({ ac, analyzer: specOf(reg, 'analyzers', ac).create(ac) as Analyzer }));
    const http = await startHttp(cfg.http, {
      log: this.log.child({ component: 'http' }),
      counters: this.counters,
      getStatus: () => this.status(),
      latestByDevice: () => this.pipeline.latestByDevice(),
      history: historyOf(this.buffer),
      broker,
      wsPath: cfg.mqtt.websocket.path,
      routes: [
        ...services.filter((s) => s.service.routes).map((s) => ({ id: s.sc.id, register: s.service.routes!.bind(s.service) })),
        ...services.filter((s) => s.service.rootRoutes).map((s) => ({ id: s.sc.id, prefix: '', register: s.service.rootRoutes!.bind(s.service) })),
        ...analyzerPlugins.filter((a) => a.analyzer.routes).map((a) => ({ id: a.ac.id, register: a.analyzer.routes!.bind(a.analyzer) })),
      ],
    });
    this.http = http;
    this.mqttAddress = await broker.listen();

    for (const { sc, service } of services) {
      const stopSignal = this.newStopSignal();
      const ctx: ServiceContext = {
        ...this.ctx(sc.type, sc.id, stopSignal.signal),
        publish: (msg) => this.pipeline.publishDerived([msg]),
        latest: (device) => this.pipeline.latestByDevice().get(device),
      };
      this.track('service', sc, service, stopSignal, (deadline) => service.stop(deadline), () => service.start(ctx));
    }

    // Forwarders: forget cursors of forwarders no longer configured, so they do not hold back pruning.
    this.retainForwarderCursors(cfg.forwarders.map((f) => f.id));
    for (const runner of upstream) this.runForwarder(runner);

    const analyzers: AnalyzerRunner[] = [];
    for (const { ac, analyzer } of analyzerPlugins) {
      const stopSignal = this.newStopSignal();
      const ctx = this.ctx(ac.type, ac.id, stopSignal.signal);
      const runner = new AnalyzerRunner(ac.id, analyzer, {
        latest: () => this.pipeline.latestByDevice(),
        publish: (msgs) => this.pipeline.publishDerived(msgs),
        counters: this.counters,
        log: ctx.log,
      });
      analyzers.push(runner);
      this.track('analyzer', ac, analyzer, stopSignal, (deadline) => runner.stop(deadline), async () => {
        await analyzer.start?.(ctx);
        runner.start();
      });
    }
    if (analyzers.length) this.pipeline.onProcessed((device) => analyzers.forEach((r) => r.changed(device)));

    for (const dc of cfg.drivers) this.startDriver(dc, this.createDriver(dc));

    this.timers.push(setInterval(() => void this.pipeline.pushAggregates(Date.now() * 1000), 1000));
    // Driver health: stale transitions and the drivers' own totals are counted even when no one reads the status.
    this.timers.push(setInterval(() => this.pluginStatus('driver', []), 1000));
    this.timers.push(setInterval(() => this.publishStatus(), cfg.status.intervalS * 1000));
    this.publishStatus();
    return { mqtt: this.mqttAddress, http: { host: http.host, port: http.port } };
  }

  /** A driver instance from its config (throws when its plugin refuses the config). */
  createDriver(dc: PluginInstanceConfig): Driver {
    return specOf(this.registry, 'drivers', dc).create(dc) as Driver;
  }

  /**
   * Start a created driver; its measurements go to the pipeline. Each one counts as a read of its
   * device (driver health). With `onDurable`, the driver hears once, asynchronously, whether the
   * measurement was committed, rejected, or could not be stored.
   */
  startDriver(dc: PluginInstanceConfig, driver: Driver): void {
    const stopSignal = this.newStopSignal();
    const ctx = this.ctx(dc.type, dc.id, stopSignal.signal);
    this.driverHealth.register(dc.id, typeof dc['staleAfterMs'] === 'number' ? dc['staleAfterMs'] : 0);
    const emit: Emit = (m, opts) => {
      const onDurable = opts?.onDurable;
      let verdict: Promise<'accepted' | 'rejected'>;
      try {
        if (typeof m?.device === 'string') this.driverHealth.value(dc.id, m.device);
        verdict = this.pipeline.emit(m, dc.id);
      } catch (err) {
        // A measurement the pipeline cannot even look at (e.g. not serialisable): count it, keep going.
        this.counters.inc('driver_errors', { driver: dc.id });
        ctx.log.error({ err: (err as Error).message }, 'driver emitted a measurement the pipeline could not take');
        if (onDurable) queueMicrotask(() => onDurable('rejected'));
        return;
      }
      // A store failure is counted by the pipeline (dropped{store_unavailable}).
      if (!onDurable) verdict.catch(() => undefined);
      else
        verdict.then(
          (v) => onDurable(v === 'accepted' ? 'committed' : 'rejected'),
          () => onDurable('failed'),
        );
    };
    this.track('driver', dc, driver, stopSignal, (deadline) => driver.stop(deadline), () => driver.start(ctx, emit));
  }

  /** A forwarder runner from its config (throws when its plugin refuses the config); not started. */
  createForwarder(fc: PluginInstanceConfig): ForwarderRunner {
    return new ForwarderRunner({
      id: fc.id,
      type: fc.type,
      forwarder: specOf(this.registry, 'forwarders', fc).create(fc) as Forwarder,
      buffer: this.buffer!,
      config: fc,
    });
  }

  startForwarder(runner: ForwarderRunner): void {
    this.forwarders.push(runner);
    this.pipeline.forgetRawRoutes(); // which raw topics go upstream may have changed
    this.runForwarder(runner);
  }

  private runForwarder(runner: ForwarderRunner): void {
    if (this.stopping) return; // its stop has run already: it would send from a closed buffer
    const stopSignal = this.newStopSignal();
    this.forwarderStops.set(runner, stopSignal);
    runner.start(this.ctx(runner.type, runner.id, stopSignal.signal));
  }

  /**
   * Config reload (agent/reload.ts): stop the drivers and forwarders named (in parallel, within
   * `deadline`) and forget them, with the devices the drivers produced (Pipeline.forgetDriverDevices).
   * Their buffer cursors stay, so a forwarder started again under the same id resumes from its
   * cursor; `adoptConfig` removes the cursors of forwarders no longer listed.
   */
  async stopPlugins(driverIds: readonly string[], forwarderIds: readonly string[], deadline: AbortSignal): Promise<void> {
    const drivers = this.started.filter((s) => s.kind === 'driver' && driverIds.includes(s.cfg.id));
    const forwarders = this.forwarders.filter((f) => forwarderIds.includes(f.id));
    for (const d of drivers) {
      d.removed = true;
      this.releaseStopSignal(d.stopSignal);
    }
    for (const f of forwarders) {
      const c = this.forwarderStops.get(f);
      if (c) this.releaseStopSignal(c);
      this.forwarderStops.delete(f);
    }
    const results = await Promise.allSettled([...drivers.map((d) => d.stop(deadline)), ...forwarders.map((f) => f.stop(deadline))]);
    for (const r of results) if (r.status === 'rejected') this.log.error({ err: (r.reason as Error).message }, 'a plugin failed while stopping for a config reload');
    for (const d of drivers) {
      this.started.splice(this.started.indexOf(d), 1);
      this.driverHealth.remove(d.cfg.id);
    }
    // Their devices leave the device list now that nothing of them emits any more (no stale problem
    // either: their health went with them); the new instances start after this.
    this.pipeline.forgetDriverDevices(drivers.map((d) => d.cfg.id));
    for (const f of forwarders) this.forwarders.splice(this.forwarders.indexOf(f), 1);
    this.pipeline.forgetRawRoutes();
  }

  /** Whether the agent has begun to stop (a reload then starts nothing). */
  get stopping(): boolean {
    return this.abort.signal.aborted;
  }

  /** The running config (reload compares a new one with it). */
  get config(): AgentConfig {
    return this.cfg;
  }

  /** Take `cfg` as the running config after a reload applied it; forget cursors of removed forwarders. */
  /** Check a reloaded `mqtt.users` / `mqtt.maxSessions` (throws naming the bad entry; nothing applied). */
  prepareMqttUsers(mqtt: AgentConfig['mqtt']): PreparedUsers | null {
    return this.broker ? this.broker.prepareUsers(mqtt) : null;
  }

  /** Apply what prepareMqttUsers checked (see EmbeddedBroker.applyUsers). */
  applyMqttUsers(p: PreparedUsers): UsersApplied | null {
    return this.broker ? this.broker.applyUsers(p) : null;
  }

  /**
   * Read the TLS files of the running listeners again (a reload: certificates renewed under the same
   * paths). `errors` names every file that cannot be used; nothing is changed here.
   */
  prepareTls(next: AgentConfig): { prepared: PreparedTls; errors: string[] } {
    const out: PreparedTls = {};
    const errors: string[] = [];
    const read = (prefix: 'mqtt.tls' | 'http.tls', files: TlsFiles): LoadedTls | undefined => {
      try {
        return loadTls(prefix, files);
      } catch (err) {
        errors.push((err as Error).message);
        return undefined;
      }
    };
    // A reload never changes http, nor whether the MQTT over TLS listener runs or where (restartOnlyChanges
    // refuses it); mqtt.tls paths may be new ones (renewTls puts their files in force; it does nothing
    // without a listener).
    if (this.broker && next.mqtt.tls?.cert) out.mqtt = read('mqtt.tls', next.mqtt.tls);
    if (this.http && next.http.tls?.cert && next.http.tls.key) out.http = read('http.tls', next.http.tls);
    return { prepared: out, errors };
  }

  /**
   * Put what prepareTls read in force for new connections; returns the certificates renewed, with
   * their new end date, and the CRL (mqtt.tls.crl) when it changed: its earliest nextUpdate, how many
   * certificates it revokes and how many connected clients were closed for it.
   */
  applyTls(p: PreparedTls): { renewed: { option: string; expires: string }[]; crl: { nextUpdate: string | null; revoked: number; disconnected: number } | null } {
    const renewed: { option: string; expires: string }[] = [];
    let crl: { nextUpdate: string | null; revoked: number; disconnected: number } | null = null;
    const m = p.mqtt && this.broker ? this.broker.renewTls(p.mqtt) : null;
    if (m?.certificate) renewed.push({ option: 'mqtt.tls', expires: p.mqtt!.notAfter.toISOString() });
    if (m?.crl) {
      const tls = this.broker!.status().tls;
      crl = { nextUpdate: tls?.crlNextUpdate ?? null, revoked: tls?.revokedCertificates ?? 0, disconnected: m.disconnected };
    }
    if (p.http && this.http?.renewTls(p.http)) renewed.push({ option: 'http.tls', expires: p.http.notAfter.toISOString() });
    return { renewed, crl };
  }

  adoptConfig(cfg: AgentConfig): void {
    this.cfg = cfg;
    this.log.level = cfg.log.level;
    this.retainForwarderCursors(cfg.forwarders.map((f) => f.id));
  }

  /**
   * Remove the buffer cursors of forwarders not in `ids` (removed, or renamed: a new id is a new
   * forwarder). The rows above a removed cursor will never be sent by that forwarder: they are
   * counted in `buffer_dropped{forwarder}` and named in a warning.
   */
  private retainForwarderCursors(ids: readonly string[]): void {
    const buffer = this.buffer;
    if (!buffer) return;
    for (const { forwarder, undelivered: rows } of buffer.retainCursors(ids)) {
      if (rows > 0) this.counters.inc('buffer_dropped', { forwarder }, rows);
      this.log.warn(
        { forwarder, undelivered: rows },
        rows > 0
          ? `forwarder ${forwarder} is no longer configured: its buffer cursor is removed and the ${rows} row(s) above it (routed to it or not) will not be sent by it (counted in buffer_dropped); a forwarder added with startFrom: oldest while the buffer still holds them sends them`
          : `forwarder ${forwarder} is no longer configured: its buffer cursor is removed (nothing left undelivered)`,
      );
    }
  }

  /** Keep a plugin with a lifecycle, and start it: a failing start is logged, counted and retried with backoff. */
  private track(
    kind: KindName,
    cfg: PluginInstanceConfig,
    p: { health(): PluginHealth },
    stopSignal: AbortController,
    stop: Started['stop'],
    start: () => Promise<void>,
  ): void {
    const s: Started = { kind, cfg, health: () => p.health(), stopSignal, stop };
    this.started.push(s);
    void this.startWithRetry(s, start, 1000);
  }

  private async startWithRetry(s: Started, start: () => Promise<void>, backoffMs: number): Promise<void> {
    if (this.abort.signal.aborted || s.removed) return;
    try {
      await start();
      s.startError = undefined;
    } catch (err) {
      s.startError = (err as Error).message;
      this.counters.inc('plugin_errors', { kind: s.kind, id: s.cfg.id });
      if (s.kind === 'driver') this.counters.inc('driver_errors', { driver: s.cfg.id });
      this.log.error({ plugin: s.cfg.type, id: s.cfg.id, err: s.startError, retryInMs: backoffMs }, `${s.kind} failed to start; retrying`);
      // Kept until it fires (not in `timers`, which would grow by one per retry for as long as a
      // start keeps failing: a minute apart, for months).
      const t = setTimeout(() => {
        this.retryTimers.delete(t);
        void this.startWithRetry(s, start, Math.min(backoffMs * 2, 60_000));
      }, backoffMs);
      this.retryTimers.add(t);
    }
  }

  /** The buffer, for the systemd watchdog's liveness check (null before start). */
  get messageBuffer(): MessageBuffer | null {
    return this.buffer;
  }

  /** Health of every plugin of a kind, as the status shows it (`forwarders`: their status, read once). */
  private pluginStatus(kind: KindName, forwarders: readonly ForwarderStatus[]): PluginStatus[] {
    const out: PluginStatus[] = [];
    const add = (cfg: PluginInstanceConfig, health: () => PluginHealth, startError?: string): void => {
      let h: PluginHealth;
      try {
        h = health();
      } catch (err) {
        h = { state: 'degraded', lastError: (err as Error).message };
      }
      const st: PluginStatus = { id: cfg.id, type: cfg.type, ...h };
      if (startError) {
        st.state = 'degraded';
        st.lastError = startError;
      }
      out.push(st);
    };
    if (kind === 'processor') for (const pc of this.cfg.processors) add(pc, () => ({ state: 'running' }));
    else if (kind === 'aggregator') for (const { cfg, a } of this.aggregators) add(cfg, () => a.health?.() ?? { state: 'running' });
    else if (kind === 'forwarder')
      for (const fs of forwarders)
        add({ type: fs.type, id: fs.id }, () => ({ state: fs.connected ? 'running' : 'degraded', ...(fs.lastError ? { lastError: fs.lastError } : {}) }));
    else for (const s of this.started) if (s.kind === kind) add(s.cfg, s.health, s.startError);
    if (kind === 'driver')
      for (const st of out) {
        const summary = this.driverHealth.sweep(st.id, st);
        if (summary) st.driverHealth = summary;
      }
    return out;
  }

  status(): AgentStatus {
    const problems: string[] = [];
    const forwarders = this.forwarders.map((f) => f.status());
    const plugins = {} as AgentStatus['plugins'];
    for (const k of KINDS) {
      plugins[k.list] = this.pluginStatus(k.kind, forwarders);
      if (k.kind === 'forwarder') continue; // forwarders have their own problem line below
      for (const p of plugins[k.list])
        if (p.state !== 'running') problems.push(`${k.kind} ${p.id} is ${p.state}${p.lastError ? `: ${p.lastError}` : ''}`);
    }
    const nowUs = Date.now() * 1000;
    // Driver devices: stale ones are problems (the first few by name, then a count).
    const byDevice = new Map<string, DeviceHealth>();
    for (const d of plugins.drivers) for (const h of d.driverHealth?.devices ?? []) byDevice.set(h.device, h);
    const stale = [...byDevice.values()].filter((h) => h.stale).sort((a, b) => (a.device < b.device ? -1 : 1));
    for (const h of stale.slice(0, STALE_PROBLEM_LINES))
      problems.push(
        `device ${h.device} (driver ${h.driver}) is stale: ${h.seen ? 'no value' : 'never a value'} for ${(h.ageMs / 1000).toFixed(1)} s (threshold ${((h.staleAfterMs ?? 0) / 1000).toFixed(1)} s)`,
      );
    if (stale.length > STALE_PROBLEM_LINES) problems.push(`${stale.length - STALE_PROBLEM_LINES} more devices are stale`);
    // At most STATUS_MAX_DEVICES devices: stale first, then the worst quality, then by name (the
    // document is read by the page every few seconds).
    const latest = this.pipeline.latestByDevice();
    const all: DeviceStatus[] = [];
    for (const m of latest.values()) {
      const d: DeviceStatus = { device: m.device, latest: m, ageSeconds: Math.max(0, (nowUs - m.ts) / 1e6) };
      const h = byDevice.get(m.device);
      if (h) {
        d.driver = h.driver;
        d.ageMs = h.ageMs;
        d.stale = h.stale;
        if (h.stale) d.reason = 'stale';
      }
      all.push(d);
    }
    const rank = (d: DeviceStatus) => (d.stale ? 0 : 1 + (QUALITY_RANK[d.latest.quality] ?? 0));
    all.sort((a, b) => rank(a) - rank(b) || (a.device < b.device ? -1 : a.device > b.device ? 1 : 0));
    const devices = all.slice(0, STATUS_MAX_DEVICES);
    const buffer = this.buffer ? this.buffer.stats() : null;
    if (buffer?.writeError) problems.push(`buffer cannot write: ${buffer.writeError}`);
    for (const f of forwarders) if (!f.connected) problems.push(`forwarder ${f.id} is not connected${f.lastError ? `: ${f.lastError}` : ''}`);
    const broker = this.broker ? this.broker.status() : { host: '', port: 0, clients: 0, subscriptions: 0, sessions: 0, offlineSessions: 0 };
    // TLS certificates that have ended or end within CERT_WARN_DAYS: clients will refuse them.
    const certificates: NonNullable<AgentStatus['certificates']> = [];
    if (broker.tls) certificates.push({ option: 'mqtt.tls', expires: broker.tls.certificateExpires });
    if (this.http?.certificateExpires) certificates.push({ option: 'http.tls', expires: this.http.certificateExpires.toISOString() });
    // The CRL's first nextUpdate: past it OpenSSL calls it expired (clients are still let in, see clientVerdict).
    if (broker.tls?.crlNextUpdate) certificates.push({ option: 'mqtt.tls.crl', expires: broker.tls.crlNextUpdate });
    for (const c of certificates) {
      const p =
        c.option === 'mqtt.tls.crl'
          ? crlProblem('mqtt.tls', new Date(c.expires), new Date(broker.tls?.crlThisUpdate ?? 0), Date.now())
          : certificateProblem(c.option, new Date(c.expires), Date.now());
      if (p) problems.push(p);
    }
    return {
      gateway: this.cfg.gateway.id,
      version: this.version,
      health: problems.length ? 'degraded' : 'healthy',
      problems,
      startedAt: this.startedAt,
      uptimeSeconds: (performance.now() - this.startedAtMono) / 1000,
      broker,
      ...(certificates.length ? { certificates } : {}),
      drivers: plugins.drivers,
      plugins,
      devices,
      devicesTotal: latest.size,
      staleDevices: stale.slice(0, STATUS_MAX_DEVICES),
      buffer,
      forwarders,
      counters: this.counters.snapshot(),
      metrics: this.counters.catalogue(),
      memory: Object.fromEntries(
        Object.entries(process.memoryUsage()).map(([k, v]) => [k, Math.round((v / 2 ** 20) * 10) / 10]),
      ),
    };
  }

  private publishStatus(): void {
    if (!this.broker) return;
    const gw = this.cfg.gateway.id;
    try {
      const s = this.status();
      const brief = (p: PluginStatus) => ({ id: p.id, type: p.type, state: p.state, lastError: p.lastError });
      const summary = {
        gateway: s.gateway,
        version: s.version,
        health: s.health,
        problems: s.problems,
        uptimeSeconds: s.uptimeSeconds,
        ts: Date.now() * 1000,
        broker: s.broker,
        drivers: s.drivers.map(brief),
        plugins: Object.fromEntries(KINDS.map((k) => [k.list, s.plugins[k.list].map(brief)])),
        devices: s.devices.map((d) => ({ device: d.device, quality: d.latest.quality, ageSeconds: d.ageSeconds, ...(d.stale ? { stale: true, reason: 'stale' } : {}) })),
        buffer: s.buffer && { rows: s.buffer.rows, bytes: s.buffer.bytes, lastSeq: s.buffer.lastSeq, writeError: s.buffer.writeError },
        forwarders: s.forwarders.map((f) => ({ id: f.id, connected: f.connected, lag: f.lag, lastError: f.lastError })),
      };
      this.broker.publish(statusTopic(gw), JSON.stringify(summary), { retain: true, qos: 0 }).catch(() => undefined);
      this.broker
        .publish(metricsTopic(gw), JSON.stringify({ gateway: gw, ts: Date.now() * 1000, counters: s.counters }), { qos: 0 })
        .catch(() => undefined);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'status publish failed');
    }
  }

  /**
   * Stop everything in reverse order. Plugins get `deadline` (aborted when their share of the stop
   * budget is spent: they then drop connections instead of closing politely); the buffer then
   * commits what it holds and closes. Resolves when the buffer is closed.
   */
  /**
   * The ingest workers `pipeline.workers` asks for, or null: none asked for, or a configured
   * processor that cannot run in a worker (its spec names no `workerModule`; logged).
   */
  private ingestPool(cfg: AgentConfig, reg: PluginRegistry): IngestPool | null {
    const n = ingestWorkerCount(cfg.pipeline.workers);
    if (n === 0) return null;
    const procs: IngestWorkerInit['processors'] = [];
    for (const pc of cfg.processors) {
      const spec = specOf(reg, 'processors', pc) as ProcessorSpec;
      if (!spec.workerModule) {
        this.log.warn({ processor: pc.id, type: pc.type }, 'pipeline.workers: this processor cannot run in a worker thread; raw publishes are processed on the main thread');
        return null;
      }
      procs.push({ module: spec.workerModule, type: spec.type, config: { ...pc } });
    }
    const limits = { maxPayloadBytes: cfg.mqtt.maxPayloadBytes, futureToleranceS: cfg.pipeline.futureToleranceS, pastToleranceS: cfg.pipeline.pastToleranceS };
    // Aggregators that name the fields they read get a view of those only; one that does not gets all.
    const reads = this.aggregators.map(({ a }) => a.reads?.());
    const viewPaths = reads.every((r) => r !== undefined) ? reads.flat() : null; // viewPlan drops duplicates
    this.log.info({ workers: n }, 'pipeline: ingest worker threads started');
    return new IngestPool(n, { limits, processors: procs, viewPaths }, this.log.child({ component: 'pipeline' }), this.counters);
  }

  async stop(deadline: AbortSignal = AbortSignal.timeout(STOP_BUDGET_MS - BUFFER_RESERVE_MS)): Promise<void> {
    if (this.abort.signal.aborted) return;
    this.abort.abort();
    for (const t of this.timers) clearInterval(t);
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    const t0 = Date.now();
    const settle = async (what: string, p: () => Promise<unknown>) => {
      try {
        await p();
        this.log.debug({ what, atMs: Date.now() - t0 }, 'stopped');
      } catch (err) {
        this.log.error({ err: (err as Error).message, atMs: Date.now() - t0 }, `${what} failed while stopping`);
      }
    };
    const stopKind = (kind: KindName) =>
      Promise.all(this.started.filter((s) => s.kind === kind).map((s) => settle(`${kind} ${s.cfg.id}`, () => s.stop(deadline))));
    await stopKind('driver');
    await stopKind('analyzer');
    if (this.pipeline) await settle('aggregator flush', () => this.pipeline.pushAggregates(Date.now() * 1000, true));
    await stopKind('service');
    if (this.broker) await settle('broker', () => this.broker!.close());
    if (this.pool) await settle('ingest workers', () => this.pool!.close());
    await Promise.all(this.forwarders.map((f) => settle(`forwarder ${f.id}`, () => f.stop(deadline))));
    if (this.buffer) await settle('buffer', () => this.buffer!.close());
    if (this.http) await settle('http', () => this.http!.close());
  }
}

/**
 * Run the agent until SIGTERM/SIGINT (or `opts.signal`). Resolves with the process exit code:
 * 0 after a clean stop, 1 when the stop budget ran out, 2 when the agent could not start.
 */
export async function runAgent(cfg: AgentConfig, opts: RunOptions = {}): Promise<number> {
  const agent = new Agent(cfg, opts.logger, opts.registry);
  const log = agent.log;
  let stopping: Promise<number> | null = null;
  let systemd: SystemdHooks | null = null; // systemd notify/watchdog (packaging)
  let stopReload: (() => void) | null = null; // config reload on SIGHUP (packaging)
  /** Stops once; resolves (and logs) the exit code: `cleanCode` after a clean stop, 1 past the budget. */
  const stop = (why: string, cleanCode = 0): Promise<number> => {
    if (stopping) return stopping;
    log.info({ why }, 'gridedge stopping');
    systemd?.stopping(); // systemd notify/watchdog (packaging)
    stopReload?.(); // no config reload once stopping (packaging)
    const timeout = new Promise<number>((resolve) => {
      const t = setTimeout(() => {
        log.error({ budgetMs: STOP_BUDGET_MS }, 'clean stop took too long; exiting');
        resolve(1);
      }, STOP_BUDGET_MS);
      t.unref();
    });
    stopping = Promise.race([agent.stop(AbortSignal.timeout(STOP_BUDGET_MS - BUFFER_RESERVE_MS)).then(() => cleanCode), timeout]).then((code) => {
      log.info({ code }, 'gridedge stopped');
      return code;
    });
    return stopping;
  };

  // A plugin's stray exception or rejected promise is logged and counted; it does not take the
  // gateway down (the data already accepted is in the buffer either way, and systemd would only
  // restart us into the same state).
  const onUncaught = (err: unknown, kind: string) => {
    agent.counters.inc('uncaught_errors', { kind });
    log.error({ err: err instanceof Error ? err.stack ?? err.message : String(err), kind }, 'uncaught error; continuing');
  };
  const onException = (err: Error) => onUncaught(err, 'exception');
  const onRejection = (err: unknown) => onUncaught(err, 'rejection');
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);

  const done = new Promise<number>((resolve) => {
    if (opts.handleSignals !== false) {
      process.once('SIGTERM', () => void stop('SIGTERM').then(resolve));
      process.once('SIGINT', () => void stop('SIGINT').then(resolve));
    }
    opts.signal?.addEventListener('abort', () => void stop('abort').then(resolve), { once: true });
  });

  try {
    const addr = await agent.start();
    const listed = (list: PluginInstanceConfig[]) => list.map((p) => `${p.type}:${p.id}`);
    log.info(
      {
        gateway: cfg.gateway.id,
        version: packageVersion(),
        mqtt: addr.mqtt,
        http: addr.http,
        storage: cfg.storage.dir,
        ...Object.fromEntries(KINDS.map((k) => [k.list, listed(cfg[k.list])])),
        config: opts.configFile ?? 'embedded default',
      },
      'gridedge ready',
    );
    systemd = attachSystemd(agent, log); // systemd notify/watchdog (packaging): READY=1, STATUS=, WATCHDOG=1
    if (opts.handleSignals !== false) stopReload = reloadOnSighup(agent, opts.configFile, log, systemd.notifier); // SIGHUP (packaging)
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'gridedge failed to start');
    await stop('start failed', 2); // logged with code 2 (1 if even that stop ran out of time)
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
    return 2;
  }
  const code = await done;
  systemd?.close(); // systemd notify/watchdog (packaging)
  stopReload?.(); // config reload on SIGHUP (packaging)
  process.off('uncaughtException', onException);
  process.off('unhandledRejection', onRejection);
  await new Promise<void>((resolve) => log.flush(() => resolve()));
  return code;
}
