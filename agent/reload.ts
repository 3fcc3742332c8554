/**
 * Config reload on SIGHUP (`systemctl reload gridedge`): the config file is read again and either
 * applied whole or refused whole.
 *
 * - The new file is loaded and validated exactly as at start (GRIDEDGE_* variables apply). Any
 *   problem: every one is logged (one `config reload refused` line with the list), counted
 *   (`config_reloads{result="refused"}`), and the running config stays as it is.
 * - Applied live: `drivers`, `forwarders`, `log.level`, and the broker's `mqtt.users` and
 *   `mqtt.maxSessions` (see agent/broker/README.md, "Changing users by a reload"). A driver or forwarder whose entry is
 *   unchanged (same id, same options) keeps running untouched; a changed one is stopped and started
 *   with its new options; a new one is started; one no longer listed is stopped. The devices of a
 *   stopped driver (removed or restarted) leave the device list (Pipeline.forgetDriverDevices); a
 *   restarted driver's come back with its next value. A forwarder
 *   restarted under the same id resumes from its buffer cursor, so nothing buffered is skipped.
 *   One removed or renamed (a new id) loses its cursor: the rows above it are counted as dropped for
 *   it and warned about (Agent.adoptConfig); a new id starts where its `startFrom` says.
 * - TLS certificates renewed under the same paths (`mqtt.tls`, `http.tls`): the files are read again
 *   and, when their bytes changed, used for new connections (open ones keep theirs); a file that
 *   cannot be used (unreadable, not PEM, a key of another certificate) refuses the reload. So is
 *   `mqtt.tls.crl`: a new CRL applies to new connections, and connected clients whose certificate
 *   it revokes are disconnected. New paths for `mqtt.tls.cert`, `key`, `ca` and `crl` are read the
 *   same way (the listener's secure context is replaced); giving or removing `ca`, and `mqtt.tls`
 *   host, port and identityAsUsername, need a restart (`tlsRestartChanges`).
 * - Everything else (gateway, mqtt, http, storage, pipeline, processors, aggregators, stats,
 *   analyzers, services, status; and the other `mqtt` keys) is bound to open sockets, files or the
 *   data path: a change there refuses the reload, naming each changed section (`mqtt.port` for mqtt
 *   keys) and saying that it needs a restart; nothing else of that reload is applied.
 * - Atomic: every new plugin instance is created (its plugin checks its options) and the new user
 *   list is checked before anything running is stopped; if one cannot be created, nothing is changed. A plugin whose start then
 *   fails is retried with backoff like at start (the reload still counts as applied).
 * - The broker's listeners and sessions, the pipeline and the buffer are never touched (except the
 *   clients of a removed user or a changed password, which are disconnected): publishes accepted during a reload
 *   are stored as always. Reloads are serialized: a SIGHUP during a reload queues one more reload,
 *   run once it is done (it reads the file as it is then); more SIGHUPs while that one waits are
 *   merged into it (logged). Under systemd each reload that runs is its own RELOADING=1 … READY=1.
 * - A stop (SIGTERM) during a reload wins: the reload starts nothing once the agent is stopping (it
 *   logs `config reload abandoned`), and systemd is not told READY=1 again.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { Agent } from './agent.js';
import { loadConfig } from './config/index.js';
import type { AgentConfig, PluginInstanceConfig } from './core/config-types.js';
import type { Driver } from './core/plugin.js';
import type { ForwarderRunner } from './forwarders/runner.js';
import type { PreparedUsers, UsersApplied } from './broker/broker.js';

/** Sections a reload can change without a restart. */
const LIVE: readonly (keyof AgentConfig)[] = ['drivers', 'forwarders', 'log'];

export type ReloadResult =
  | { ok: true; kept: string[]; restarted: string[]; added: string[]; removed: string[] }
  | { ok: false; errors: string[] };

export interface PluginDiff {
  kept: PluginInstanceConfig[];
  changed: PluginInstanceConfig[];
  added: PluginInstanceConfig[];
  removed: PluginInstanceConfig[];
}

/** How a plugin list changed, by id. */
export function diffPlugins(before: readonly PluginInstanceConfig[], after: readonly PluginInstanceConfig[]): PluginDiff {
  const old = new Map(before.map((p) => [p.id, p]));
  const now = new Set(after.map((p) => p.id));
  const d: PluginDiff = { kept: [], changed: [], added: [], removed: before.filter((p) => !now.has(p.id)) };
  for (const p of after) {
    const o = old.get(p.id);
    if (!o) d.added.push(p);
    else if (isDeepStrictEqual(o, p)) d.kept.push(p);
    else d.changed.push(p);
  }
  return d;
}

/** Keys of `mqtt` a reload applies (the broker's users and session bounds); the others need a restart. */
const LIVE_MQTT: readonly string[] = ['users', 'maxSessions'];

/**
 * The sections that differ and cannot change without a restart; for `mqtt`, the keys (`mqtt.port`),
 * since `mqtt.users` and `mqtt.maxSessions` are applied live.
 */
export function restartOnlyChanges(before: AgentConfig, after: AgentConfig): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)] as (keyof AgentConfig)[]);
  const out: string[] = [];
  for (const k of keys) {
    if (LIVE.includes(k) || isDeepStrictEqual(before[k], after[k])) continue;
    if (k !== 'mqtt' || !isRecord(before.mqtt) || !isRecord(after.mqtt)) {
      out.push(k);
      continue;
    }
    const b: Record<string, unknown> = before.mqtt;
    const a: Record<string, unknown> = after.mqtt;
    for (const m of new Set([...Object.keys(b), ...Object.keys(a)])) {
      if (LIVE_MQTT.includes(m) || isDeepStrictEqual(b[m], a[m])) continue;
      if (m === 'tls') out.push(...tlsRestartChanges(b.tls, a.tls));
      else out.push(`mqtt.${m}`);
    }
  }
  return out.sort();
}

/** Files of `mqtt.tls` a reload reads from new paths: the TLS listener's secure context is replaced (`renewTls`). */
const LIVE_MQTT_TLS: readonly string[] = ['cert', 'key', 'ca', 'crl'];

/**
 * The `mqtt.tls` keys that changed and need a restart. With the TLS listener running before and after
 * (a `cert` in both), new paths for `cert`, `key`, `ca` and `crl` are read by the reload like renewed
 * files; a `ca` given or taken away is not (whether the handshake asks for a client certificate is
 * fixed when the listener starts), nor are `host`, `port` and `identityAsUsername`. A listener
 * opened or closed (`cert` set or cleared) is `mqtt.tls` as a whole.
 */
function tlsRestartChanges(before: unknown, after: unknown): string[] {
  if (!isRecord(before) || !isRecord(after) || !before['cert'] || !after['cert']) return ['mqtt.tls'];
  const out: string[] = [];
  for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (isDeepStrictEqual(before[k], after[k])) continue;
    if (LIVE_MQTT_TLS.includes(k) && (k !== 'ca' || Boolean(before['ca']) === Boolean(after['ca']))) continue;
    out.push(`mqtt.tls.${k}`);
  }
  return out;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What runs around each reload (systemd's RELOADING=1 before, READY=1 after). */
export interface ReloadHooks {
  /** Before the reload reads the file. */
  begin?(): Promise<unknown> | void;
  /** After it, with its result; not called when the agent began to stop meanwhile. */
  end?(result: ReloadResult): Promise<unknown> | void;
}

/**
 * Runs reloads one at a time. A request while one runs queues exactly one more reload, run once the
 * current one is done (the file may have changed again after it was read); further requests while
 * that one waits are merged into it (logged), since it reads the file as it is when it starts. Each
 * reload that runs gets its own `begin`/`end` pair, so systemd sees RELOADING=1 … READY=1 for every
 * one of them, never two RELOADING=1 in a row.
 */
export class ConfigReloader {
  private running: Promise<ReloadResult> | null = null;
  /** The reload queued behind the running one: its result, and how many requests it answers. */
  private queued: { result: Promise<ReloadResult>; settle(r: Promise<ReloadResult>): void; requests: number } | null = null;

  constructor(
    private readonly agent: Agent,
    private readonly configFile: string | undefined,
    private readonly log: Logger,
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly hooks: ReloadHooks = {},
  ) {}

  /**
   * Reload now, or, during a reload, once it is done. Resolves with the result of the reload that
   * answers this request: the one it started, or the one queued after the running reload.
   */
  reload(): Promise<ReloadResult> {
    if (!this.running) return this.run();
    if (this.queued) {
      this.queued.requests++;
      this.log.info(
        { requests: this.queued.requests },
        `reload requested again while one runs: merged into the one already queued (${this.queued.requests} requests, one reload)`,
      );
      return this.queued.result;
    }
    let settle!: (r: Promise<ReloadResult>) => void;
    const result = new Promise<ReloadResult>((resolve) => (settle = resolve));
    this.queued = { result, settle, requests: 1 };
    this.log.info('reload requested while one runs: it runs once the current one is done');
    return result;
  }

  /** Run one reload; when it is done, the queued one (if any) starts. */
  private run(): Promise<ReloadResult> {
    const p = this.bracketed().finally(() => {
      this.running = null;
      const q = this.queued;
      this.queued = null;
      if (q) q.settle(this.run());
    });
    this.running = p;
    return p;
  }

  /**
   * One reload between the hooks. An unexpected exception still ends with `end` (systemd would
   * otherwise wait for READY=1 until its timeout): counted as `config_reloads{result="failed"}`.
   * A queued reload whose turn comes after the agent began to stop is abandoned without the hooks.
   */
  private async bracketed(): Promise<ReloadResult> {
    if (this.agent.stopping) return this.abandon();
    await this.hooks.begin?.();
    let r: ReloadResult;
    try {
      r = await this.once();
    } catch (err) {
      const e = err as Error;
      this.agent.counters.inc('config_reloads', { result: 'failed' });
      this.log.error({ config: this.configFile, err: e.stack ?? e.message }, 'config reload failed part way');
      r = { ok: false, errors: [`the reload failed: ${e.message}`] };
    }
    if (!this.agent.stopping) await this.hooks.end?.(r); // systemd was told STOPPING=1: no READY=1 after it
    return r;
  }

  private refuse(errors: string[]): ReloadResult {
    this.agent.counters.inc('config_reloads', { result: 'refused' });
    this.log.error({ config: this.configFile ?? 'embedded default', errors }, 'config reload refused; the running config is kept');
    return { ok: false, errors };
  }

  private abandon(): ReloadResult {
    this.log.warn({ config: this.configFile }, 'config reload abandoned: the agent is stopping');
    return { ok: false, errors: ['the agent is stopping: the reload was not applied'] };
  }

  private async once(): Promise<ReloadResult> {
    if (this.configFile === undefined) return this.refuse(['the agent runs the embedded default (no --config): there is no file to reload']);
    const loaded = loadConfig({ file: this.configFile, env: this.env });
    if (!loaded.ok) return this.refuse(loaded.errors);
    const next = loaded.config;
    const current = this.agent.config;
    const fixed = restartOnlyChanges(current, next);
    if (fixed.length)
      return this.refuse(
        fixed.map((k) => `${k}: changed, and this ${k.includes('.') ? 'setting' : 'section'} is only applied at start (systemctl restart gridedge)`),
      );

    const drivers = diffPlugins(current.drivers, next.drivers);
    const forwarders = diffPlugins(current.forwarders, next.forwarders);

    // Create every new instance first: a plugin that refuses its options leaves everything as it was.
    const newDrivers: [PluginInstanceConfig, Driver][] = [];
    const newForwarders: ForwarderRunner[] = [];
    const errors: string[] = [];
    for (const dc of [...drivers.changed, ...drivers.added]) {
      try {
        newDrivers.push([dc, this.agent.createDriver(dc)]);
      } catch (err) {
        errors.push(`drivers[${next.drivers.indexOf(dc)}] (${dc.id}): ${(err as Error).message}`);
      }
    }
    for (const fc of [...forwarders.changed, ...forwarders.added]) {
      try {
        newForwarders.push(this.agent.createForwarder(fc));
      } catch (err) {
        errors.push(`forwarders[${next.forwarders.indexOf(fc)}] (${fc.id}): ${(err as Error).message}`);
      }
    }
    // The broker's users: checked now (a bad list changes nothing), applied with the rest below.
    let users: PreparedUsers | null = null;
    try {
      users = this.agent.prepareMqttUsers(next.mqtt);
    } catch (err) {
      errors.push((err as Error).message);
    }
    // TLS certificates renewed under the same paths: read now (one that cannot be used refuses the reload).
    const tls = this.agent.prepareTls(next);
    errors.push(...tls.errors);
    if (errors.length) return this.refuse(errors);

    const stopIds = (d: PluginDiff) => [...d.changed, ...d.removed].map((p) => p.id);
    if (this.agent.stopping) return this.abandon();
    await this.agent.stopPlugins(stopIds(drivers), stopIds(forwarders), AbortSignal.timeout(3000));
    // The agent began to stop while the old plugins were stopping: start nothing (the buffer may be closed).
    if (this.agent.stopping) return this.abandon();
    let usersApplied: UsersApplied | null = null;
    let adopted = next;
    try {
      usersApplied = users ? this.agent.applyMqttUsers(users) : null;
    } catch (err) {
      // Not expected (prepareMqttUsers checked the same rules), and the broker changed nothing. The
      // old plugins are already stopped, so the rest of the reload goes on (returning here would leave
      // them stopped); the running config keeps the old mqtt section, as the broker does.
      this.log.error({ err: (err as Error).message }, 'config reload: the mqtt users could not be applied; the broker keeps the old ones');
      adopted = { ...next, mqtt: current.mqtt };
    }
    this.agent.adoptConfig(adopted);
    const tlsApplied = this.agent.applyTls(tls.prepared);
    for (const r of tlsApplied.renewed)
      this.log.info({ option: r.option, expires: r.expires }, `${r.option}: certificate renewed for new connections (open ones keep theirs), valid until ${r.expires}`);
    const crl = tlsApplied.crl;
    if (crl)
      this.log.info(
        { option: 'mqtt.tls.crl', nextUpdate: crl.nextUpdate, revoked: crl.revoked, disconnected: crl.disconnected },
        `mqtt.tls.crl: new CRL in force, ${crl.revoked} certificate(s) revoked, next update ${crl.nextUpdate ?? 'not named'}; ${crl.disconnected} connected client(s) with a revoked certificate disconnected`,
      );
    const u = usersApplied;
    if (u && u.added.length + u.removed.length + u.passwordChanged.length + u.changed.length + u.disconnected > 0) {
      this.log.info(
        {
          added: u.added.length,
          removed: u.removed.length,
          passwordChanged: u.passwordChanged.length,
          changed: u.changed.length,
          disconnected: u.disconnected,
          users: { added: u.added, removed: u.removed, passwordChanged: u.passwordChanged, changed: u.changed },
        },
        `mqtt users reloaded: ${u.added.length} added, ${u.removed.length} removed, ${u.passwordChanged.length + u.changed.length} changed; ${u.disconnected} client(s) disconnected`,
      );
    }
    for (const r of newForwarders) this.agent.startForwarder(r);
    for (const [dc, driver] of newDrivers) this.agent.startDriver(dc, driver);

    const names = (kind: string, list: PluginInstanceConfig[]) => list.map((p) => `${kind} ${p.id}`);
    const result = {
      ok: true as const,
      kept: [...names('driver', drivers.kept), ...names('forwarder', forwarders.kept)],
      restarted: [...names('driver', drivers.changed), ...names('forwarder', forwarders.changed)],
      added: [...names('driver', drivers.added), ...names('forwarder', forwarders.added)],
      removed: [...names('driver', drivers.removed), ...names('forwarder', forwarders.removed)],
    };
    this.agent.counters.inc('config_reloads', { result: 'applied' });
    this.log.info({ config: this.configFile, ...result, logLevel: next.log.level }, 'config reloaded');
    return result;
  }
}

/**
 * SIGHUP → reload. Under systemd, each reload that runs is RELOADING=1 (with MONOTONIC_USEC) first
 * and READY=1 (with the new status line) after, whatever the result, so `systemctl reload` returns
 * once the reload is done. A SIGHUP during a reload queues one more (ConfigReloader), with its own
 * pair. Returns the function that removes the handler.
 */
export function reloadOnSighup(
  agent: Agent,
  configFile: string | undefined,
  log: Logger,
  notifier?: { reloading(): Promise<boolean>; ready(status: string): Promise<boolean> } | null,
): () => void {
  const reloader = new ConfigReloader(agent, configFile, log.child({ component: 'reload' }), process.env, {
    begin: () => notifier?.reloading(),
    end: async (r) => {
      if (!notifier) return;
      const { statusLine } = await import('./core/sd-notify.js');
      let line = r.ok ? 'reloaded' : `reload refused (${r.errors.length} problem(s))`;
      try {
        line = `${statusLine(agent.status())}; ${line}`;
      } catch {
        // the status could not be built: the reload result alone
      }
      await notifier.ready(line);
    },
  });
  const onHup = (): void => {
    log.info({ config: configFile ?? 'embedded default' }, 'SIGHUP: reloading the config');
    void reloader.reload();
  };
  process.on('SIGHUP', onHup);
  return () => void process.off('SIGHUP', onHup);
}
