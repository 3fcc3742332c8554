/**
 * opcua: an OPC UA client (node-opcua) that monitors the configured nodes of one server through one
 * subscription and emits their values as measurements on bal/raw/<id>. See README.md.
 *
 * Lifecycle: `start` creates the PKI folders and starts the first connection attempt in the
 * background, then resolves. An attempt is: a new client, the secure channel (mode and policy as
 * configured; the server certificate checked against <storage>/pki), a session (anonymous or user
 * name), one subscription and its monitored items (one group per distinct samplingInterval and
 * queueSize). Any failure closes what the attempt opened and schedules the next one after
 * reconnectMinMs, doubling up to reconnectMaxMs. A loss after success (channel closed, session
 * closed, subscription terminated) does the same: the next attempt builds a new session and
 * re-creates the subscription and every monitored item, so a restarted server is picked up as
 * well as a broken link. node-opcua's own reconnection is switched off (maxRetry 0) so there is one
 * place that retries. Each attempt has a generation number; callbacks of an older attempt are
 * ignored.
 *
 * Values: every data change of one publish response updates its node's last value and status, then
 * one measurement per device carries the last value of every node that has one (so a phase's
 * voltage and current travel together), its `ts` the newest SourceTimestamp among the changes.
 * When the same node changes twice in one response (queueSize > 1) the first state is emitted
 * before the second is applied. Good → good, Uncertain → questionable, Bad → invalid, each not-good
 * field named in `field_quality` with the reason `opcua:<StatusCodeName>`; a Bad value keeps the
 * last good value. On a connection loss one measurement marks every field invalid
 * (`opcua:BadNotConnected`).
 */
import { join } from 'node:path';
import type { ClientMonitoredItemBase, ClientSession, ClientSubscription, DataValue, OPCUAClient } from 'node-opcua-client';
import type { Driver, DriverSpec, Emit, PluginContext, PluginHealth } from '../../agent/core/plugin.js';
import type { Measurement, Quality } from '../../algorithms/common/measurement.js';
import { QUALITY_BY_RANK, qualityRank, setPath } from '../../algorithms/common/field-quality.js';
import { effectivePolicy, parseEndpoint, resolveNodes, schema, validate, type NodeSpec, type OpcuaConfig } from './config.js';
import { checkOwnCertificate, diagnose, ensurePki, loadOpcua, pkiPaths, userIdentity, within, type CertificateModule, type Diagnosis, type OpcuaModule, type OwnCertificate } from './client.js';
import { qualityOfStatus, statusName, toLeaf, type Leaf } from './values.js';
import { makeDirs } from '../../agent/core/make-dirs.js';

export type { OpcuaConfig } from './config.js';

const metrics = {
  opcua_value_changes: { type: 'counter', help: 'OPC UA data changes received (one per monitored item and notification), by device', labels: ['device'] },
  opcua_errors: {
    type: 'counter',
    help: 'OPC UA connection attempts that failed and connections lost, by device and reason (refused, timeout, untrusted_server_certificate, session_refused, lost, ...)',
    labels: ['device', 'reason'],
  },
  opcua_reconnects: { type: 'counter', help: 'OPC UA sessions re-established (new session, subscription re-created) after a loss, by device', labels: ['device'] },
  opcua_certificates_renewed: { type: 'counter', help: 'Expired client certificates moved aside and made anew (the server must trust the new one), by device', labels: ['device'] },
  opcua_unknown_nodes: { type: 'counter', help: 'OPC UA monitored items the server refused (BadNodeIdUnknown, BadNodeIdInvalid ...), by device, per connection', labels: ['device'] },
  opcua_bad_values: { type: 'counter', help: 'OPC UA data changes with a Bad status (field marked invalid), by device', labels: ['device'] },
  opcua_unsupported_values: {
    type: 'counter',
    help: 'OPC UA values the driver cannot carry (unsupported type, not finite, not a number for an electrical field), by device',
    labels: ['device'],
  },
} as const;

interface NodeState {
  spec: NodeSpec;
  /** Last good or uncertain value (undefined until the first one). */
  value: Leaf | undefined;
  quality: Quality;
  reason: string | undefined;
  /** The node was refused when its monitored item was created (this connection). */
  refused: boolean;
}

/** One attempt's objects; closed together. */
interface Connection {
  gen: number;
  client: OPCUAClient;
  session?: ClientSession;
  subscription?: ClientSubscription;
}

const UNKNOWN_NODE = /^Bad(NodeIdUnknown|NodeIdInvalid|AttributeIdInvalid|NotReadable|UserAccessDenied|TypeMismatch|IndexRangeInvalid)/;

export class OpcuaDriver implements Driver {
  private readonly nodes: NodeState[];
  private ctx: PluginContext | undefined;
  private emit: Emit | undefined;
  private state: PluginHealth['state'] = 'starting';
  private stopped = false;
  private gen = 0;
  private conn: Connection | undefined;
  private connected = false;
  private everConnected = false;
  /** Days until the client's own certificate ends (undefined: not created yet). */
  private certificateDaysLeft: number | undefined;
  /** The day (epoch days) the "expires soon" warning was last logged. */
  private certificateWarnedDay = -1;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private attempt: Promise<void> | undefined;
  private pki = '';
  private certManager: InstanceType<CertificateModule['OPCUACertificateManager']> | undefined;
  // The round of data changes not yet emitted (see onChange).
  private round = new Set<number>();
  private roundTs = 0;
  private flushQueued = false;
  private stats = { changes: 0, emitted: 0, errors: 0, reconnects: 0, unknownNodes: 0, badValues: 0, unsupported: 0 };
  private lastValueAt = 0;
  private lastError: string | undefined;
  private lastErrorAt: number | undefined;
  private lastReason: Diagnosis['reason'] | 'lost' | undefined;

  constructor(
    private readonly cfg: OpcuaConfig,
    private readonly now: () => number = Date.now,
  ) {
    const problems = validate(cfg);
    if (problems.length) throw new Error(`opcua ${cfg.id}: ${problems.join('; ')}`);
    this.nodes = resolveNodes(cfg).map((spec) => ({ spec, value: undefined, quality: 'good', reason: undefined, refused: false }));
  }

  async start(ctx: PluginContext, emit: Emit): Promise<void> {
    if (this.stopped) return;
    this.ctx = ctx;
    this.emit = emit;
    this.pki = join(ctx.storageDir, 'pki');
    makeDirs(ctx.storageDir);
    ensurePki(this.pki);
    ctx.signal.addEventListener('abort', () => this.halt(), { once: true });
    this.state = 'running';
    this.schedule(0);
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.attempt = this.connect().finally(() => (this.attempt = undefined));
    }, delay);
  }

  private backoff(): number {
    const d = Math.min(this.cfg.reconnectMaxMs, this.cfg.reconnectMinMs * 2 ** Math.min(this.failures, 20));
    this.failures++;
    return d;
  }

  /** One connection attempt; on failure, closes what it opened and schedules the next. */
  private async connect(): Promise<void> {
    const gen = ++this.gen;
    const cfg = this.cfg;
    const log = this.ctx!.log;
    const policy = effectivePolicy(cfg.security);
    let mods: { ua: OpcuaModule; cm: CertificateModule };
    try {
      mods = await loadOpcua(log);
      if (!this.certManager) {
        this.certManager = new mods.cm.OPCUACertificateManager({ rootFolder: this.pki, automaticallyAcceptUnknownCertificate: false });
        await this.certManager.initialize();
      }
    } catch (e) {
      this.failed(gen, { reason: 'other', unreachable: false, message: `cannot set up the OPC UA client: ${(e as Error).message}` });
      return;
    }
    const { ua } = mods;
    if (this.stopped || gen !== this.gen) return;
    this.checkCertificate(log);
    const client = ua.OPCUAClient.create({
      applicationName: 'gridedge',
      clientName: `gridedge-${cfg.id}`,
      endpointMustExist: false,
      securityMode: ua.MessageSecurityMode[cfg.security.mode],
      securityPolicy: ua.SecurityPolicy[policy],
      connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 1000 },
      clientCertificateManager: this.certManager,
      requestedSessionTimeout: cfg.sessionTimeoutMs,
      keepSessionAlive: false,
    });
    const conn: Connection = { gen, client };
    this.conn = conn;
    client.on('connection_lost', () => this.lost(gen, 'the connection to the server was lost'));
    client.on('close', (err?: Error | null) => this.lost(gen, err ? `the connection closed: ${err.message}` : 'the connection closed'));
    const opts = { pki: this.pki, user: cfg.security.username, mode: cfg.security.mode, policy, timeoutMs: cfg.connectTimeoutMs };
    try {
      await within(client.connect(cfg.endpoint), cfg.connectTimeoutMs, `connecting to ${cfg.endpoint}`);
      if (gen !== this.gen || this.stopped) return void this.close(conn);
      conn.session = await within(client.createSession(userIdentity(ua, cfg.security.username, cfg.security.password ?? '')), cfg.connectTimeoutMs, 'creating the session');
      if (gen !== this.gen || this.stopped) return void this.close(conn);
      conn.session.on('session_closed', () => this.lost(gen, 'the server closed the session'));
      const publishing = cfg.publishingInterval > 0 ? cfg.publishingInterval : Math.max(50, Math.min(...this.nodes.map((n) => n.spec.samplingInterval)));
      const sub = await within(
        conn.session.createSubscription2({
          requestedPublishingInterval: publishing,
          requestedLifetimeCount: 60,
          requestedMaxKeepAliveCount: 10,
          maxNotificationsPerPublish: 0,
          publishingEnabled: true,
          priority: 1,
        }),
        cfg.connectTimeoutMs,
        'creating the subscription',
      );
      conn.subscription = sub;
      sub.on('terminated', () => this.lost(gen, 'the server ended the subscription'));
      await this.monitor(ua, conn, sub);
    } catch (e) {
      this.failed(gen, diagnose(e, cfg.endpoint, opts));
      return;
    }
    if (gen !== this.gen || this.stopped) return;
    this.connected = true;
    this.failures = 0;
    this.checkCertificate(log); // the first connection has just made it: its days left for health
    if (this.everConnected) {
      this.stats.reconnects++;
      this.ctx?.counters.inc('opcua_reconnects', { device: cfg.id });
      log.info({ endpoint: cfg.endpoint }, 'opcua: reconnected (new session, subscription re-created)');
    } else log.info({ endpoint: cfg.endpoint, mode: cfg.security.mode, policy, nodes: this.nodes.length, certificate: pkiPaths(this.pki).ownCert }, 'opcua: connected');
    this.everConnected = true;
  }

  /**
   * The client's own certificate before each attempt: an expired one is moved aside (the client
   * makes a new one on this attempt) and said once, with what the server's operator must do; one
   * that ends within CERT_WARN_DAYS is warned about once a day. Shown in health as
   * `certificateDaysLeft`.
   */
  private checkCertificate(log: PluginContext['log']): void {
    let c: OwnCertificate;
    try {
      c = checkOwnCertificate(this.pki, Date.now());
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'opcua: cannot check the client certificate');
      return;
    }
    const file = pkiPaths(this.pki).ownCert;
    if (c.state === 'expired') {
      this.certificateDaysLeft = undefined;
      this.ctx?.counters.inc('opcua_certificates_renewed', { device: this.cfg.id });
      log.warn(
        { certificate: file, expiredAt: c.validTo.toISOString(), movedTo: c.movedTo },
        `opcua: the client certificate expired (${c.validTo.toISOString()}); a new one is created now — ` +
          `with security Sign or SignAndEncrypt, add the new ${file} to the server's trusted certificates`,
      );
    } else if (c.state === 'expiring' || c.state === 'ok') {
      this.certificateDaysLeft = c.daysLeft;
      const day = Math.floor(Date.now() / 86_400_000);
      if (c.state === 'expiring' && this.certificateWarnedDay !== day) {
        this.certificateWarnedDay = day;
        log.warn(
          { certificate: file, validTo: c.validTo.toISOString(), daysLeft: c.daysLeft },
          `opcua: the client certificate expires in ${c.daysLeft} days; once it has, the driver makes a new one that the server must trust`,
        );
      }
    }
  }

  /** Create the monitored items, one group per (samplingInterval, queueSize); note the nodes the server refuses. */
  private async monitor(ua: OpcuaModule, conn: Connection, sub: ClientSubscription): Promise<void> {
    const groups = new Map<string, number[]>();
    this.nodes.forEach((n, k) => {
      n.refused = false;
      const key = `${n.spec.samplingInterval}/${n.spec.queueSize}`;
      groups.set(key, [...(groups.get(key) ?? []), k]);
    });
    for (const idx of groups.values()) {
      const first = this.nodes[idx[0]!]!.spec;
      const group = ua.ClientMonitoredItemGroup.create(
        sub,
        idx.map((k) => ({ nodeId: this.nodes[k]!.spec.nodeId, attributeId: ua.AttributeIds.Value })),
        { samplingInterval: first.samplingInterval, queueSize: first.queueSize, discardOldest: true },
        ua.TimestampsToReturn.Both,
      );
      // Listening before the items exist on the server, so no initial value is missed.
      group.on('changed', (_item: ClientMonitoredItemBase, dv: DataValue, j: number) => this.onChange(conn.gen, idx[j]!, dv));
      await within(
        new Promise<void>((resolve, reject) => {
          group.once('initialized', () => resolve());
          group.once('err', (msg: string) => reject(new Error(`creating the monitored items failed: ${msg}`)));
        }),
        this.cfg.connectTimeoutMs,
        'creating the monitored items',
      );
      group.monitoredItems.forEach((item, j) => {
        const sc = item.statusCode;
        if (!sc || qualityOfStatus(sc.value) !== 'invalid') return;
        const n = this.nodes[idx[j]!]!;
        const name = statusName(sc.name, sc.value);
        n.refused = true;
        n.quality = 'invalid';
        n.reason = `opcua:${name}`;
        this.stats.unknownNodes++;
        this.ctx?.counters.inc('opcua_unknown_nodes', { device: this.cfg.id });
        const hint = UNKNOWN_NODE.test(name) ? ' — check the nodeId against the server (gridedge opcua browse)' : '';
        this.noteError(`node ${n.spec.nodeId} (${n.spec.field}) refused by the server: ${name}${hint}`);
        this.ctx?.log.warn({ nodeId: n.spec.nodeId, field: n.spec.field, status: name }, `opcua: the server refused node ${n.spec.nodeId} (${name}); field ${n.spec.field} stays invalid, the other nodes are served`);
      });
    }
  }

  /** A data change of node `k`: update its state; the round is emitted once the publish response is handled. */
  private onChange(gen: number, k: number, dv: DataValue): void {
    if (gen !== this.gen || this.stopped) return;
    if (this.round.has(k)) this.flush();
    const n = this.nodes[k]!;
    const device = this.cfg.id;
    this.stats.changes++;
    this.ctx?.counters.inc('opcua_value_changes', { device });
    const code = dv.statusCode?.value ?? 0;
    const q = qualityOfStatus(code);
    const name = statusName(dv.statusCode?.name, code);
    n.refused = false;
    if (q === 'invalid') {
      n.quality = 'invalid';
      n.reason = `opcua:${name}`;
      this.stats.badValues++;
      this.ctx?.counters.inc('opcua_bad_values', { device });
    } else {
      const c = toLeaf(dv.value, n.spec.field);
      if (c.ok) {
        n.value = c.value;
        n.quality = q;
        n.reason = q === 'good' ? undefined : `opcua:${name}`;
        this.lastValueAt = this.now();
      } else if (c.why === 'empty') {
        n.quality = 'invalid';
        n.reason = 'opcua:empty_value';
      } else {
        n.quality = 'invalid';
        n.reason = `opcua:${c.why}`;
        this.stats.unsupported++;
        this.ctx?.counters.inc('opcua_unsupported_values', { device });
      }
    }
    const t = dv.sourceTimestamp ?? dv.serverTimestamp;
    const us = t instanceof Date && !Number.isNaN(t.getTime()) ? t.getTime() * 1000 : this.now() * 1000;
    if (us > this.roundTs) this.roundTs = us;
    this.round.add(k);
    if (!this.flushQueued) {
      this.flushQueued = true;
      // node-opcua hands every change of one publish response over synchronously: a microtask runs after the last.
      queueMicrotask(() => {
        this.flushQueued = false;
        this.flush();
      });
    }
  }

  /** Emit the current state of every node as one measurement (nothing when no node has a value). */
  private flush(): void {
    if (this.round.size === 0) return;
    const ts = this.roundTs;
    this.round.clear();
    this.roundTs = 0;
    if (this.stopped) return;
    const m = buildMeasurement(this.cfg.id, ts, this.nodes);
    if (!m) return;
    this.stats.emitted++;
    this.emit?.(m);
  }

  private noteError(msg: string): void {
    this.lastError = msg;
    this.lastErrorAt = this.now();
  }

  /** A connection attempt failed: count, log, close it, retry after the backoff. */
  private failed(gen: number, d: Diagnosis): void {
    if (gen !== this.gen || this.stopped) return;
    if (d.reason === 'untrusted_server_certificate' && this.certManager) {
      // The next attempt reads the trust folders anew, so a certificate moved into trusted/certs
      // counts at once (the manager's own folder watching is not relied on).
      const cm = this.certManager;
      this.certManager = undefined;
      void within(cm.dispose(), 1000, 'closing the certificate store').catch(() => undefined);
    }
    const conn = this.conn;
    this.conn = undefined;
    this.connected = false;
    // From here on, events of this attempt's client (its close while it is shut) are ignored.
    this.gen++;
    this.stats.errors++;
    this.ctx?.counters.inc('opcua_errors', { device: this.cfg.id, reason: d.reason });
    const delay = this.backoff();
    // The same failure again is logged at debug level: a server that stays away does not flood the log.
    const repeat = this.lastReason === d.reason && this.lastError === d.message;
    this.noteError(d.message);
    this.lastReason = d.reason;
    this.ctx?.log[repeat ? 'debug' : 'warn']({ endpoint: this.cfg.endpoint, reason: d.reason, retryInMs: delay }, `opcua: ${d.message}`);
    if (conn) void this.close(conn);
    this.schedule(delay);
  }

  /** The connection of attempt `gen` was lost after it succeeded (or while it was being set up). */
  private lost(gen: number, why: string): void {
    if (gen !== this.gen || this.stopped) return;
    if (!this.connected) {
      // Still setting up: the pending call fails with the real cause; make sure it does not hang.
      this.failed(gen, { reason: 'other', unreachable: false, message: why });
      return;
    }
    const conn = this.conn;
    this.conn = undefined;
    this.connected = false;
    this.gen++;
    this.stats.errors++;
    this.ctx?.counters.inc('opcua_errors', { device: this.cfg.id, reason: 'lost' });
    this.noteError(why);
    this.lastReason = 'lost';
    this.ctx?.log.warn({ endpoint: this.cfg.endpoint }, `opcua: ${why}; reconnecting`);
    this.markAllLost();
    if (conn) void this.close(conn);
    this.failures = 0;
    this.schedule(this.backoff());
  }

  /** One measurement with every known value marked invalid: the link is down, nothing is current. */
  private markAllLost(): void {
    for (const n of this.nodes) {
      n.quality = 'invalid';
      n.reason = 'opcua:BadNotConnected';
    }
    const m = buildMeasurement(this.cfg.id, this.now() * 1000, this.nodes);
    if (!m) return;
    this.stats.emitted++;
    this.emit?.(m);
  }

  /** Close one attempt's client (session and subscription with it); errors are of no interest then. */
  private async close(conn: Connection, signal?: AbortSignal): Promise<void> {
    const done = conn.client.disconnect().catch(() => undefined);
    if (!signal) return within(done, 3000, 'disconnect').catch(() => undefined);
    if (signal.aborted) return;
    await Promise.race([done, new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }))]);
  }

  private halt(): void {
    this.stopped = true;
    this.gen++;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  async stop(deadline: AbortSignal): Promise<void> {
    this.halt();
    const conn = this.conn;
    this.conn = undefined;
    this.connected = false;
    if (conn) await this.close(conn, deadline);
    if (this.attempt && !deadline.aborted)
      await Promise.race([this.attempt.catch(() => undefined), new Promise<void>((r) => deadline.addEventListener('abort', () => r(), { once: true }))]);
    if (this.certManager) {
      const cm = this.certManager;
      this.certManager = undefined;
      // The manager watches the PKI folders; its dispose stops that.
      await within(cm.dispose(), 1000, 'closing the certificate store').catch(() => undefined);
    }
    this.state = 'stopped';
  }

  health(): PluginHealth {
    const refused = this.nodes.filter((n) => n.refused).length;
    const bad = this.nodes.filter((n) => n.quality !== 'good').length;
    const ep = parseEndpoint(this.cfg.endpoint);
    const h: PluginHealth = {
      state: this.state === 'running' && (!this.connected || refused > 0) ? 'degraded' : this.state,
      devices: [this.cfg.id],
      info: {
        connected: this.connected,
        endpoint: this.cfg.endpoint,
        host: ep ? `${ep.host}:${ep.port}` : '',
        securityMode: this.cfg.security.mode,
        securityPolicy: effectivePolicy(this.cfg.security),
        identity: this.cfg.security.username ? 'username' : 'anonymous',
        nodes: this.nodes.length,
        unknownNodes: refused,
        notGoodNodes: bad,
        changes: this.stats.changes,
        emitted: this.stats.emitted,
        errors: this.stats.errors,
        reconnects: this.stats.reconnects,
        badValues: this.stats.badValues,
        unsupportedValues: this.stats.unsupported,
      },
    };
    if (this.pki) h.info!['pki'] = this.pki;
    if (this.certificateDaysLeft !== undefined) h.info!['certificateDaysLeft'] = this.certificateDaysLeft;
    if (this.lastValueAt > 0) h.info!['lastValueAgeMs'] = Math.max(0, this.now() - this.lastValueAt);
    if (this.lastError !== undefined) {
      h.lastError = this.lastError;
      h.lastErrorAt = this.lastErrorAt;
    }
    return h;
  }
}

/**
 * The measurement of the current state: every node with a value at its field path; the not-good
 * ones named in `field_quality` with their reasons in `reasons`; the message quality the worst of
 * them. Null when no node has a value. A phasor without a magnitude is left out (a measurement's
 * phasor needs `mag`).
 */
export function buildMeasurement(device: string, ts: number, nodes: readonly Pick<NodeState, 'spec' | 'value' | 'quality' | 'reason'>[]): Measurement | null {
  const m: Measurement = { device, ts: Math.trunc(ts), quality: 'good' };
  const fq: Record<string, 'questionable' | 'invalid'> = {};
  const reasons = new Set<string>();
  let worst = 0;
  let count = 0;
  const skip = new Set<string>();
  for (const n of nodes) {
    const f = n.spec.field;
    const ph = /^(v|i)\.([abc])\.ang$/.exec(f);
    if (ph && !nodes.some((o) => o.spec.field === `${ph[1]}.${ph[2]}.mag` && o.value !== undefined)) skip.add(f);
  }
  for (const n of nodes) {
    if (n.value === undefined || skip.has(n.spec.field)) continue;
    setPath(m, n.spec.field, n.value);
    count++;
    if (n.quality !== 'good') {
      fq[n.spec.field] = n.quality;
      if (n.reason) reasons.add(n.reason);
      worst = Math.max(worst, qualityRank(n.quality));
    }
  }
  if (count === 0) return null;
  if (worst > 0) {
    m.quality = QUALITY_BY_RANK[worst]!;
    m.field_quality = fq;
    m.reasons = [...reasons];
  }
  return m;
}

export const opcuaDriver: DriverSpec<OpcuaConfig> = {
  type: 'opcua',
  doc: 'OPC UA client (node-opcua): monitored items on one subscription, security None/Sign/SignAndEncrypt, anonymous or user name, quality per node from its StatusCode',
  schema,
  metrics,
  validate,
  create: (config) => new OpcuaDriver(config),
};
