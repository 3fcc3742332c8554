/**
 * The composition root: builds every component from its config slice and wires the one data path
 * (agent/pipeline/pipeline.ts). Start order: buffer → broker → pipeline → HTTP → forwarders →
 * drivers; stop order is the reverse, so nothing accepted is lost: drivers stop emitting, open
 * statistics windows are flushed, the broker stops taking publishes, the buffer commits what it holds.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { computePower } from '../algorithms/power/index.js';
import { WindowedStats } from '../algorithms/stats/index.js';
import { createBroker, type EmbeddedBroker } from './broker/index.js';
import { openBuffer } from './buffer/index.js';
import type { MessageBuffer } from './core/buffer-types.js';
import type { AgentConfig, PluginInstanceConfig } from './core/config-types.js';
import { Counters } from './core/counters.js';
import { createLogger } from './core/logger.js';
import type { Driver, PluginContext, Processor } from './core/plugin.js';
import type { AgentStatus, PluginStatus } from './core/status-types.js';
import { metricsTopic, statusTopic } from './core/topics.js';
import { ForwarderRunner } from './forwarders/runner.js';
import { startHttp } from './http/index.js';
import { Pipeline } from './pipeline/pipeline.js';
import { driverSpecs, forwarderSpecs } from './registry.js';

export interface RunOptions {
  configFile?: string;
  /** Stop when aborted (tests, embedding); SIGTERM/SIGINT also stop the agent unless `handleSignals` is false. */
  signal?: AbortSignal;
  handleSignals?: boolean;
  logger?: Logger;
}

/** Hard limit for a clean stop; CONTRACT/issue: SIGTERM stops within 5 s. */
const STOP_BUDGET_MS = 4500;

export function packageVersion(): string {
  try {
    const url = new URL('../../package.json', import.meta.url);
    return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

interface RunningDriver {
  cfg: PluginInstanceConfig;
  driver: Driver;
  startError?: string;
}

export class Agent {
  readonly counters = new Counters();
  readonly log: Logger;
  private readonly abort = new AbortController();
  private buffer: MessageBuffer | null = null;
  private broker: EmbeddedBroker | null = null;
  private pipeline!: Pipeline;
  private http: { close(): Promise<void>; host: string; port: number } | null = null;
  private readonly drivers: RunningDriver[] = [];
  private readonly forwarders: ForwarderRunner[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly startedAt = Date.now();
  private readonly version = packageVersion();
  private mqttAddress = { host: '', port: 0 };

  constructor(private readonly cfg: AgentConfig, logger?: Logger) {
    this.log = logger ?? createLogger(cfg.log.level);
  }

  private ctx(type: string, id: string): PluginContext {
    const storageDir = join(this.cfg.storage.dir, 'plugins', `${type}-${id}`);
    return {
      id,
      log: this.log.child({ plugin: type, id }),
      counters: this.counters,
      signal: this.abort.signal,
      gateway: this.cfg.gateway.id,
      storageDir,
    };
  }

  async start(): Promise<{ mqtt: { host: string; port: number }; http: { host: string; port: number } }> {
    const cfg = this.cfg;
    mkdirSync(cfg.storage.dir, { recursive: true });
    this.buffer = openBuffer({
      dir: cfg.storage.dir,
      maxBytes: cfg.storage.maxBytes,
      maxAgeHours: cfg.storage.maxAgeHours,
      commitIntervalMs: cfg.storage.commitIntervalMs,
      log: this.log.child({ component: 'buffer' }),
      counters: this.counters,
    });

    const processors: Processor[] = [{ name: 'power', process: computePower }];
    const stats = cfg.stats.enabled
      ? new WindowedStats({ windows: cfg.stats.windows, fields: cfg.stats.fields, rmsFields: cfg.stats.rmsFields, graceMs: cfg.stats.graceMs })
      : null;

    let broker: EmbeddedBroker | null = null;
    this.pipeline = new Pipeline({
      log: this.log.child({ component: 'pipeline' }),
      counters: this.counters,
      processors,
      stats,
      buffer: this.buffer,
      publish: (topic, payload) => {
        if (broker) broker.publish(topic, payload).catch(() => this.counters.inc('broker_publish_errors'));
      },
      limits: {
        maxPayloadBytes: cfg.mqtt.maxPayloadBytes,
        futureToleranceS: cfg.pipeline.futureToleranceS,
        pastToleranceS: cfg.pipeline.pastToleranceS,
      },
    });

    broker = createBroker(cfg.mqtt, {
      log: this.log.child({ component: 'broker' }),
      counters: this.counters,
      onRawPublish: (p) => this.pipeline.ingestRaw(p),
    });
    this.broker = broker;

    const http = await startHttp(cfg.http, {
      log: this.log.child({ component: 'http' }),
      counters: this.counters,
      getStatus: () => this.status(),
      broker,
      wsPath: cfg.mqtt.websocket.path,
    });
    this.http = http;
    this.mqttAddress = await broker.listen();

    // Forwarders: forget cursors of forwarders no longer configured, so they do not hold back pruning.
    const removed = this.buffer.retainCursors(cfg.forwarders.map((f) => f.id));
    if (removed.length) this.log.warn({ removed }, 'buffer cursors of forwarders no longer configured removed');
    for (const fc of cfg.forwarders) {
      const spec = forwarderSpecs.get(fc.type);
      if (!spec) throw new Error(`forwarders: unknown type ${fc.type}`); // config validation already refused it
      const runner = new ForwarderRunner({
        id: fc.id,
        type: fc.type,
        forwarder: spec.create(fc),
        buffer: this.buffer,
        config: fc,
      });
      this.forwarders.push(runner);
      runner.start(this.ctx(fc.type, fc.id));
    }

    for (const dc of cfg.drivers) {
      const spec = driverSpecs.get(dc.type);
      if (!spec) throw new Error(`drivers: unknown type ${dc.type}`);
      const rd: RunningDriver = { cfg: dc, driver: spec.create(dc) };
      this.drivers.push(rd);
      void this.startDriver(rd, 1000);
    }

    const statsEvery = 1000;
    this.timers.push(setInterval(() => void this.pipeline.pushStats(Date.now() * 1000), statsEvery));
    this.timers.push(setInterval(() => this.publishStatus(), cfg.status.intervalS * 1000));
    this.publishStatus();
    return { mqtt: this.mqttAddress, http: { host: http.host, port: http.port } };
  }

  /** Start a driver; a failing start is logged, counted and retried with backoff, never fatal. */
  private async startDriver(rd: RunningDriver, backoffMs: number): Promise<void> {
    if (this.abort.signal.aborted) return;
    const ctx = this.ctx(rd.cfg.type, rd.cfg.id);
    try {
      await rd.driver.start(ctx, (m) => {
        try {
          this.pipeline.emit(m, rd.cfg.id);
        } catch (err) {
          // A measurement the pipeline cannot even look at (e.g. not serialisable): count it, keep going.
          this.counters.inc('driver_errors', { driver: rd.cfg.id });
          ctx.log.error({ err: (err as Error).message }, 'driver emitted a measurement the pipeline could not take');
        }
      });
      rd.startError = undefined;
    } catch (err) {
      rd.startError = (err as Error).message;
      this.counters.inc('driver_errors', { driver: rd.cfg.id });
      ctx.log.error({ err: rd.startError, retryInMs: backoffMs }, 'driver failed to start; retrying');
      const t = setTimeout(() => void this.startDriver(rd, Math.min(backoffMs * 2, 60_000)), backoffMs);
      this.timers.push(t);
    }
  }

  status(): AgentStatus {
    const problems: string[] = [];
    const drivers: PluginStatus[] = this.drivers.map((rd) => {
      let h;
      try {
        h = rd.driver.health();
      } catch (err) {
        h = { state: 'degraded' as const, lastError: (err as Error).message };
      }
      const st: PluginStatus = { id: rd.cfg.id, type: rd.cfg.type, ...h };
      if (rd.startError) {
        st.state = 'degraded';
        st.lastError = rd.startError;
      }
      if (st.state !== 'running') problems.push(`driver ${rd.cfg.id} is ${st.state}${st.lastError ? `: ${st.lastError}` : ''}`);
      return st;
    });
    const nowUs = Date.now() * 1000;
    const devices = [...this.pipeline.latestByDevice().values()].map((m) => ({
      device: m.device,
      latest: m,
      ageSeconds: Math.max(0, (nowUs - m.ts) / 1e6),
    }));
    devices.sort((a, b) => (a.device < b.device ? -1 : 1));
    const buffer = this.buffer ? this.buffer.stats() : null;
    if (buffer?.writeError) problems.push(`buffer cannot write: ${buffer.writeError}`);
    const forwarders = this.forwarders.map((f) => f.status());
    for (const f of forwarders) if (!f.connected) problems.push(`forwarder ${f.id} is not connected${f.lastError ? `: ${f.lastError}` : ''}`);
    return {
      gateway: this.cfg.gateway.id,
      version: this.version,
      health: problems.length ? 'degraded' : 'healthy',
      problems,
      startedAt: this.startedAt,
      uptimeSeconds: (Date.now() - this.startedAt) / 1000,
      broker: this.broker ? this.broker.status() : { host: '', port: 0, clients: 0, subscriptions: 0 },
      drivers,
      devices,
      buffer,
      forwarders,
      counters: this.counters.snapshot(),
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
      const summary = {
        gateway: s.gateway,
        version: s.version,
        health: s.health,
        problems: s.problems,
        uptimeSeconds: s.uptimeSeconds,
        ts: Date.now() * 1000,
        broker: s.broker,
        drivers: s.drivers.map((d) => ({ id: d.id, type: d.type, state: d.state, lastError: d.lastError })),
        devices: s.devices.map((d) => ({ device: d.device, quality: d.latest.quality, ageSeconds: d.ageSeconds })),
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

  /** Stop everything in reverse order; resolves when the buffer has committed what it holds. */
  async stop(): Promise<void> {
    if (this.abort.signal.aborted) return;
    this.abort.abort();
    for (const t of this.timers) clearInterval(t);
    const settle = async (what: string, p: Promise<unknown>) => {
      try {
        await p;
      } catch (err) {
        this.log.error({ err: (err as Error).message }, `${what} failed while stopping`);
      }
    };
    await Promise.all(this.drivers.map((rd) => settle(`driver ${rd.cfg.id}`, rd.driver.stop())));
    if (this.pipeline) await settle('stats flush', this.pipeline.pushStats(Date.now() * 1000, true));
    if (this.broker) await settle('broker', this.broker.close());
    await Promise.all(this.forwarders.map((f) => settle(`forwarder ${f.id}`, f.stop())));
    if (this.buffer) await settle('buffer', this.buffer.close());
    if (this.http) await settle('http', this.http.close());
  }
}

/**
 * Run the agent until SIGTERM/SIGINT (or `opts.signal`). Resolves with the process exit code.
 */
export async function runAgent(cfg: AgentConfig, opts: RunOptions = {}): Promise<number> {
  const agent = new Agent(cfg, opts.logger);
  const log = agent.log;
  let stopping: Promise<number> | null = null;
  const stop = (why: string): Promise<number> => {
    if (stopping) return stopping;
    log.info({ why }, 'gridedge stopping');
    const timeout = new Promise<number>((resolve) => {
      const t = setTimeout(() => {
        log.error({ budgetMs: STOP_BUDGET_MS }, 'clean stop took too long; exiting');
        resolve(1);
      }, STOP_BUDGET_MS);
      t.unref();
    });
    stopping = Promise.race([agent.stop().then(() => 0), timeout]).then((code) => {
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
    log.info(
      {
        gateway: cfg.gateway.id,
        version: packageVersion(),
        mqtt: addr.mqtt,
        http: addr.http,
        storage: cfg.storage.dir,
        drivers: cfg.drivers.map((d) => `${d.type}:${d.id}`),
        forwarders: cfg.forwarders.map((f) => `${f.type}:${f.id}`),
        config: opts.configFile ?? 'embedded default',
      },
      'gridedge ready',
    );
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'gridedge failed to start');
    await stop('start failed');
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
    return 2;
  }
  const code = await done;
  process.off('uncaughtException', onException);
  process.off('unhandledRejection', onRejection);
  await new Promise<void>((resolve) => log.flush(() => resolve()));
  return code;
}
