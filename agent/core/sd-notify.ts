/**
 * systemd's notify protocol (sd_notify(3)) from inside the agent process: READY=1, STATUS=...,
 * WATCHDOG=1, RELOADING=1, STOPPING=1, each one datagram to the AF_UNIX socket named by
 * $NOTIFY_SOCKET. Node's dgram has no unix datagram sockets, so the `unix-dgram` addon sends them;
 * the datagram leaves from our own PID, so the unit can keep NotifyAccess=main.
 *
 * Without $NOTIFY_SOCKET (not started by systemd, or Type= is not notify) every call is a no-op.
 * An abstract socket ("@name") is not supported by the addon: notifications are then disabled and
 * a warning logged. A send that fails is counted (`sd_notify_errors`) and logged at most once a
 * minute; it never throws into the agent.
 *
 * The watchdog: with $WATCHDOG_USEC set (WatchdogSec= in the unit; $WATCHDOG_PID, when set, must be
 * our PID), `startWatchdog(alive)` pings every half period, but only while `alive()` returns null.
 * The pings come from a timer, so a blocked event loop sends none; `alive()` reports a stuck
 * pipeline (PipelineLiveness below). When it returns a reason the ping is skipped, STATUS says
 * why, and systemd kills and restarts the agent once WatchdogSec passes without a ping.
 */
import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import type { Counters } from './counters.js';

/** The few calls of the `unix-dgram` addon this module uses. */
interface DgramSocket {
  on(event: 'error', listener: (err: Error) => void): void;
  send(buf: Buffer, offset: number, length: number, path: string, cb: (err?: Error) => void): void;
  close(): void;
}

export interface NotifyTransport {
  /** Send one datagram; resolves when the kernel took it, rejects with the reason otherwise. */
  send(message: string): Promise<void>;
  close(): void;
}

/** The datagram transport over `unix-dgram`. */
export function unixDgramTransport(socketPath: string): NotifyTransport {
  const require = createRequire(import.meta.url);
  const mod = require('unix-dgram') as { createSocket(type: 'unix_dgram'): DgramSocket };
  const sock = mod.createSocket('unix_dgram');
  let lastError: Error | null = null;
  sock.on('error', (err) => (lastError = err));
  let open = true;
  return {
    send(message) {
      if (!open) return Promise.reject(new Error('notify socket closed'));
      const buf = Buffer.from(message, 'utf8');
      return new Promise((resolve, reject) =>
        sock.send(buf, 0, buf.length, socketPath, (err) => (err ? reject(err) : lastError ? reject(lastError) : resolve())),
      );
    },
    close() {
      if (!open) return;
      open = false;
      try {
        sock.close();
      } catch {
        // already closed by the addon after an error: nothing to release
      }
    },
  };
}

export interface NotifierOptions {
  env?: NodeJS.ProcessEnv;
  log: Logger;
  counters?: Counters;
  /** For tests: a transport other than the unix datagram socket. */
  transport?: NotifyTransport;
  /** For tests: our PID as compared with $WATCHDOG_PID. */
  pid?: number;
}

export class SdNotifier {
  readonly socketPath: string | null;
  /** Half of $WATCHDOG_USEC in ms (how often to ping), or null when no watchdog is asked for. */
  readonly watchdogIntervalMs: number | null;
  private readonly transport: NotifyTransport | null;
  private readonly log: Logger;
  private readonly counters: Counters | undefined;
  private timer: NodeJS.Timeout | null = null;
  private lastErrorLogAt = 0;
  private lastStatus = '';

  constructor(o: NotifierOptions) {
    const env = o.env ?? process.env;
    this.log = o.log;
    this.counters = o.counters;
    const path = env['NOTIFY_SOCKET'] || null;
    if (path && path.startsWith('@') && !o.transport) {
      this.log.warn({ NOTIFY_SOCKET: path }, 'abstract NOTIFY_SOCKET is not supported; systemd notifications disabled');
      this.socketPath = null;
    } else this.socketPath = path;
    let transport: NotifyTransport | null = null;
    if (this.socketPath) {
      try {
        transport = o.transport ?? unixDgramTransport(this.socketPath);
      } catch (err) {
        // The addon is missing or does not load (built for another Node): run without notifications;
        // under Type=notify systemd then times the start out, and the log says why.
        this.log.error({ err: (err as Error).message }, 'cannot open the systemd notify socket; notifications disabled');
      }
    }
    this.transport = transport;

    const usec = Number(env['WATCHDOG_USEC'] ?? '');
    const wpid = env['WATCHDOG_PID'];
    const forUs = wpid === undefined || wpid === '' || Number(wpid) === (o.pid ?? process.pid);
    this.watchdogIntervalMs = this.transport && forUs && Number.isFinite(usec) && usec > 0 ? Math.max(1, Math.floor(usec / 2000)) : null;
  }

  get enabled(): boolean {
    return this.transport !== null;
  }

  /** Send a raw notify message (`KEY=VALUE` lines); errors are counted and logged, never thrown. */
  async notify(message: string): Promise<boolean> {
    if (!this.transport) return false;
    try {
      await this.transport.send(message);
      return true;
    } catch (err) {
      this.counters?.inc('sd_notify_errors');
      const now = Date.now();
      if (now - this.lastErrorLogAt > 60_000) {
        this.lastErrorLogAt = now;
        this.log.warn({ err: (err as Error).message, socket: this.socketPath }, 'sd_notify failed');
      }
      return false;
    }
  }

  /** READY=1 with a first status line, and MAINPID so the manager knows who we are. */
  ready(status: string): Promise<boolean> {
    this.lastStatus = oneLine(status);
    return this.notify(`READY=1\nSTATUS=${this.lastStatus}\nMAINPID=${process.pid}`);
  }

  /** STATUS=<one line>, sent only when it changed. */
  status(text: string): Promise<boolean> {
    const line = oneLine(text);
    if (line === this.lastStatus) return Promise.resolve(true);
    this.lastStatus = line;
    return this.notify(`STATUS=${line}`);
  }

  /**
   * RELOADING=1 with MONOTONIC_USEC (required by Type=notify-reload, accepted by Type=notify);
   * `ready()` again when the reload is done.
   */
  reloading(): Promise<boolean> {
    const usec = process.hrtime.bigint() / 1000n;
    return this.notify(`RELOADING=1\nMONOTONIC_USEC=${usec}`);
  }

  /** STOPPING=1; the watchdog stops (a stop may take longer than one ping period). */
  stopping(): Promise<boolean> {
    this.stopWatchdog();
    return this.notify('STOPPING=1\nSTATUS=stopping');
  }

  /**
   * Ping WATCHDOG=1 every `watchdogIntervalMs` while `alive()` returns null. When it returns a
   * reason, no ping is sent and STATUS carries the reason; pings resume when it clears.
   */
  startWatchdog(alive: () => string | null): void {
    if (this.watchdogIntervalMs === null || this.timer) return;
    const tick = (): void => {
      let why: string | null;
      try {
        why = alive();
      } catch (err) {
        why = `liveness check failed: ${(err as Error).message}`;
      }
      if (why === null) void this.notify('WATCHDOG=1');
      else {
        this.log.error({ why }, 'watchdog ping withheld');
        void this.status(`stalled: ${why}`);
      }
    };
    this.timer = setInterval(tick, this.watchdogIntervalMs);
    this.timer.unref();
    tick();
  }

  stopWatchdog(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  close(): void {
    this.stopWatchdog();
    this.transport?.close();
  }
}

function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ').slice(0, 512);
}

/** What the pipeline liveness check reads: counters, and a way to hear of buffer commits. */
export interface LivenessSources {
  counters: Counters;
  /** Subscribes to the buffer's commits (null: no buffer, nothing to watch). */
  onCommit: ((listener: () => void) => () => void) | null;
  now?: () => number;
}

/**
 * Is the data path moving? Measurements enter the buffer after processing (`processed` counts
 * them); a commit, or a counted failure to store (`dropped`, `buffer_write_errors`), settles them.
 * The pipeline is stuck when measurements were processed but nothing settled for `stallMs`: the
 * buffer writer hangs. Idle (nothing processed) is alive; a full disk (failures counted) is
 * degraded but alive, since a restart would not help.
 */
export class PipelineLiveness {
  private settledAt: number;
  private processedAtSettle: number;
  private failuresAtSettle: number;
  private pendingSince: number | null = null;
  private readonly unsubscribe: () => void;
  private readonly now: () => number;

  constructor(
    private readonly src: LivenessSources,
    private readonly stallMs: number,
  ) {
    this.now = src.now ?? Date.now;
    this.settledAt = this.now();
    this.processedAtSettle = this.processed();
    this.failuresAtSettle = this.failures();
    this.unsubscribe = src.onCommit ? src.onCommit(() => this.settled()) : () => undefined;
  }

  private processed(): number {
    return this.src.counters.total('processed');
  }

  private failures(): number {
    return this.src.counters.total('dropped') + this.src.counters.total('buffer_write_errors');
  }

  private settled(): void {
    this.settledAt = this.now();
    this.processedAtSettle = this.processed();
    this.pendingSince = null;
  }

  /** null when alive, else why not (for STATUS and the log). */
  check(): string | null {
    if (!this.src.onCommit) return null;
    const failures = this.failures();
    if (failures !== this.failuresAtSettle) {
      this.failuresAtSettle = failures;
      this.settled();
      return null;
    }
    const waiting = this.processed() - this.processedAtSettle;
    if (waiting <= 0) return null;
    const now = this.now();
    this.pendingSince ??= now;
    const stuckMs = now - this.pendingSince;
    return stuckMs >= this.stallMs ? `pipeline stalled: ${waiting} measurements processed but not stored for ${Math.round(stuckMs)} ms` : null;
  }

  close(): void {
    this.unsubscribe();
  }
}

/** The parts of the agent the systemd integration reads. */
export interface NotifiedAgent {
  counters: Counters;
  status(): import('./status-types.js').AgentStatus;
  readonly messageBuffer: { onCommit(listener: () => void): () => void } | null;
}

/** One line for STATUS=: health, drivers, broker clients, buffer rows, forwarders, problems. */
export function statusLine(s: import('./status-types.js').AgentStatus): string {
  const running = s.drivers.filter((d) => d.state === 'running').length;
  const fwd = s.forwarders.filter((f) => f.connected).length;
  const parts = [
    s.health,
    `drivers ${running}/${s.drivers.length} running`,
    `broker ${s.broker.clients} clients`,
    s.buffer ? `buffer ${s.buffer.rows} rows` : 'buffer closed',
    `forwarders ${fwd}/${s.forwarders.length} connected`,
  ];
  if (s.problems.length) parts.push(`problems: ${s.problems.join('; ')}`);
  return parts.join(', ');
}

export interface SystemdHooks {
  notifier: SdNotifier;
  /** Resolves once READY=1 was sent (or at once when not under systemd). */
  ready: Promise<void>;
  stopping(): void;
  close(): void;
}

/**
 * Tie the agent to systemd once `agent.start()` resolved (broker listening, buffer open, drivers'
 * starts issued): wait until no driver is still `starting` (at most `readyWaitMs`: a driver whose
 * device does not answer retries in the background and must not hold the gateway back), then send
 * READY=1 with the status line, refresh STATUS every `statusIntervalMs`, and ping the watchdog
 * while the event loop runs and the pipeline moves.
 */
export function attachSystemd(
  agent: NotifiedAgent,
  log: Logger,
  o: { env?: NodeJS.ProcessEnv; readyWaitMs?: number; statusIntervalMs?: number } = {},
): SystemdHooks {
  const notifier = new SdNotifier({ env: o.env ?? process.env, log: log.child({ component: 'sd-notify' }), counters: agent.counters });
  const timers: NodeJS.Timeout[] = [];
  let liveness: PipelineLiveness | null = null;
  let closed = false;
  const safeStatus = (): string => {
    try {
      return statusLine(agent.status());
    } catch (err) {
      return `status unavailable: ${(err as Error).message}`;
    }
  };
  const ready = (async () => {
    if (!notifier.enabled) return;
    const deadline = Date.now() + (o.readyWaitMs ?? 5000);
    while (!closed && Date.now() < deadline && agent.status().drivers.some((d) => d.state === 'starting'))
      await new Promise((r) => setTimeout(r, 20));
    if (closed) return;
    await notifier.ready(safeStatus());
    const st = setInterval(() => void notifier.status(safeStatus()), o.statusIntervalMs ?? 10_000);
    st.unref();
    timers.push(st);
    if (notifier.watchdogIntervalMs !== null) {
      const buf = agent.messageBuffer;
      liveness = new PipelineLiveness({ counters: agent.counters, onCommit: buf ? (l) => buf.onCommit(l) : null }, notifier.watchdogIntervalMs);
      const lv = liveness;
      notifier.startWatchdog(() => lv.check());
    }
  })();
  return {
    notifier,
    ready,
    stopping() {
      closed = true;
      for (const t of timers) clearInterval(t);
      void notifier.stopping();
    },
    close() {
      closed = true;
      for (const t of timers) clearInterval(t);
      liveness?.close();
      notifier.close();
    },
  };
}
