/**
 * `GET /api/v1/events`: the devices' latest values as server-sent events (text/event-stream), for
 * the live page.
 *
 * - One timer for every client (started by the first, stopped when the last leaves) reads the
 *   latest processed measurement of every device each `intervalMs` (1 s) and sends the devices whose
 *   measurement changed since the previous tick: at most one update per device per tick, however
 *   fast the device sends. A device beyond `maxDevicesPerTick` changed devices waits for the next tick.
 * - On connect a client first gets `event: hello` (`{ intervalMs }`) and one `event: device` per known
 *   device (the same cap), then the changes. Each `device` event's data is
 *   `{ device, ageSeconds, latest }`, as `GET /api/v1/devices/{id}` answers.
 * - `?devices=` narrows a stream to some devices (what a page shows: its cards and plots), see
 *   {@link parseDeviceFilter}: comma-separated names, `*` for any run of characters, `\` before a
 *   `,` `*` or `\` that belongs to a name; empty for none. Such a stream sends `event: device` for the
 *   devices it names only, and for every other device a light `event: summary` (`{ device, quality }`):
 *   once each on connect, then when one appears or its message quality changes, so a page still learns
 *   of new devices and of problems among those it does not show (stale ones are in the status). A bad
 *   value is a 400 problem naming `devices` and the entry.
 * - A comment line every 15 s keeps idle connections (and proxies) open.
 * - To a client that accepts gzip (browsers do) the stream goes gzipped (`Content-Encoding: gzip`),
 *   flushed after every write so each event arrives at once: the devices' JSON repeats its keys, so
 *   a stream of PMU updates takes about a third of the bytes, which counts on a narrow link. One
 *   zlib stream per client (a few hundred KiB while it is open).
 * - A client whose socket does not take more (the write buffer is full) gets nothing until it
 *   drains (each skipped tick counted in `http_sse_skipped`); then, if it missed a tick, it gets
 *   every device again (a full buffer alone loses nothing: what was written is still sent). So what
 *   a client that never reads costs is bounded: the socket's buffers and the one write that filled
 *   them (a tick: at most `maxDevicesPerTick` devices; on connect also a summary of each other
 *   device). One that takes nothing for `maxBlockedMs` (1 min) is disconnected (`http_sse_cut`),
 *   so clients that never read cannot hold every stream for good.
 * - At most `maxClients` streams at once (32); one more is refused with a 503 problem and
 *   `Retry-After` (counted in `http_sse_refused{reason="streams"}`). Of those, one remote address
 *   (an IPv6 one by its /64, address.ts) holds `maxClientsPerAddress` (8) at most: one more from it is
 *   a 429 problem naming the limit, with `Retry-After` (`http_sse_refused{reason="address"}`), so one
 *   device cannot take every stream. Other machines together hold `maxClients - loopbackReserve` (28)
 *   at most; the last `loopbackReserve` (4) are kept for this machine (loopback: the CLI, a local
 *   proxy), which no per-address limit applies to. `http_sse_clients` is the number open now.
 * - A client that disconnects is removed at once. Closing the server ends every stream first and
 *   waits until each has finished (1 s at most, then cuts it): a stream would otherwise keep the
 *   server from closing.
 * - The route is registered after the access check, so with `http.users` it needs a session
 *   (cookie or bearer token) like every other API route.
 */
import type { FastifyInstance } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import { constants as zlibConstants, createGzip, type Gzip } from 'node:zlib';
import type { Measurement } from '../../../algorithms/common/measurement.js';
import { deviceNameError, MAX_DEVICE_NAME_BYTES } from '../../pipeline/device-name.js';
import { addressKey, isLoopback } from '../address.js';
import { acceptsGzip } from '../compress.js';
import type { HttpDeps } from '../deps.js';
import { problem, problemSchema, sendProblem } from '../problem.js';
import { EVERY_ANSWER_HEADERS } from '../security-headers.js';

export const EVENTS_PATH = '/api/v1/events';

export interface EventsOptions {
  /** Streams open at once at most (default 32). */
  maxClients?: number;
  /** Streams one remote address (IPv6: one /64) holds at once at most (default 8); loopback has no such limit. */
  maxClientsPerAddress?: number;
  /** Of maxClients, how many only loopback clients may take (default 4): other machines together hold the rest at most. */
  loopbackReserve?: number;
  /** Period of the update tick in ms (default 1000): at most one update per device per tick. */
  intervalMs?: number;
  /** Devices sent per tick at most (default 500). */
  maxDevicesPerTick?: number;
  /** Period of the keep-alive comment in ms (default 15000). */
  keepAliveMs?: number;
  /**
   * A client whose connection takes nothing for this long (ms, default 60000) is disconnected: a
   * client that never reads would otherwise hold one of the maxClients streams for good.
   */
  maxBlockedMs?: number;
}

/** Entries of `?devices=` at most (a page asks for its cards and plots: 50 + 6). */
export const MAX_FILTER_ENTRIES = 256;
/** Wildcards (`*`) in one entry at most. */
export const MAX_FILTER_WILDCARDS = 4;

/**
 * `?devices=` of the event stream: which devices a stream sends in full.
 *
 * The value is a comma-separated list of entries; each entry is a device name, or a pattern where an
 * unescaped `*` stands for any run of characters (`feeder-*`, `*-pmu`, `*`); matching is exact and
 * case-sensitive, like device names. A `\` takes the next character as it is: `\,`, `\*`, `\\`
 * (device names may hold commas and stars); a `\` before anything else, or at the end, is refused.
 * An empty value names no device (the stream then sends only summaries). Refused, with the reason
 * naming the entry: an empty entry (`a,,b`), more than MAX_FILTER_ENTRIES entries, more than
 * MAX_FILTER_WILDCARDS stars in one, an entry whose text could never be a device name (longer than
 * 128 bytes, control characters, `/`, `+`, `#`).
 *
 * Returns a predicate, or the reason the value is refused (a string).
 */
export function parseDeviceFilter(value: string): ((device: string) => boolean) | string {
  const names = new Set<string>();
  const patterns: RegExp[] = [];
  if (value === '') return () => false;
  let count = 0;
  let k = 0;
  while (k <= value.length) {
    // One entry: up to the next unescaped comma.
    count++;
    if (count > MAX_FILTER_ENTRIES) return `more than ${MAX_FILTER_ENTRIES} entries`;
    let literal = '';
    const parts: string[] = [''];
    for (; k < value.length && value[k] !== ','; k++) {
      let c = value[k]!;
      if (c === '\\') {
        const next = value[k + 1];
        if (next !== ',' && next !== '*' && next !== '\\') return `entry ${count}: "\\" must be followed by ",", "*" or "\\" (it takes that character as part of the name)`;
        c = next;
        k++;
      } else if (c === '*') {
        parts.push('');
        continue;
      }
      parts[parts.length - 1] += c;
      literal += c;
    }
    k++; // past the comma (or the end)
    if (parts.length === 1 && parts[0] === '') return `entry ${count} is empty (two commas in a row, or one at an end)`;
    if (parts.length - 1 > MAX_FILTER_WILDCARDS) return `entry ${count}: more than ${MAX_FILTER_WILDCARDS} "*"`;
    const bad = deviceNameError(literal || 'x'); // a pattern of stars only matches any name
    if (bad) return `entry ${count} (${JSON.stringify(shorten(parts.join('*')))}) can match no device: ${bad}`;
    if (parts.length === 1) names.add(parts[0]!);
    else patterns.push(new RegExp(`^${parts.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[^]*')}$`, 'u'));
  }
  if (patterns.length === 0) return (d) => names.has(d);
  return (d) => names.has(d) || patterns.some((r) => r.test(d));
}

function shorten(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

interface Client {
  res: ServerResponse;
  /** Where events are written: the response, or the gzip stream piped into it. */
  out: Writable;
  gzip?: Gzip;
  /** The socket's buffer is full: send nothing until 'drain'. */
  blocked: boolean;
  /** performance.now() when it became blocked (for maxBlockedMs; monotonic, so a wall-clock step cuts no one). */
  blockedSince: number;
  /** A tick was skipped while blocked: on 'drain' the client gets every device again. */
  missed: boolean;
  lastWriteMs: number;
  /** The per-address key of a remote client (address.ts); undefined for loopback. */
  address?: string;
  /** `?devices=`: the devices sent in full; undefined: every device. */
  filter?: {
    match: (device: string) => boolean;
    /** Each device's answer, asked once (names repeat every tick). */
    seen: Map<string, boolean>;
    /** The quality last sent in a summary, per device outside the filter. */
    quality: Map<string, string>;
  };
}

export function registerEventRoutes(app: FastifyInstance, deps: HttpDeps, o: EventsOptions = {}): void {
  const maxClients = o.maxClients ?? 32;
  const maxPerAddress = o.maxClientsPerAddress ?? 8;
  const maxRemote = Math.max(0, maxClients - (o.loopbackReserve ?? 4));
  const intervalMs = o.intervalMs ?? 1000;
  const maxPerTick = o.maxDevicesPerTick ?? 500;
  const keepAliveMs = o.keepAliveMs ?? 15_000;
  const maxBlockedMs = o.maxBlockedMs ?? 60_000;
  // http_sse_clients, http_sse_refused, http_sse_skipped, http_sse_cut: described in the metric catalogue (agent/core/metrics.ts).
  const counters = deps.counters;

  const clients = new Set<Client>();
  /** Open streams per remote address key (loopback clients are not in it). */
  const perAddress = new Map<string, number>();
  let remoteClients = 0;
  /** Timestamp of each device's measurement at the last tick that sent it. */
  const sentTs = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  let eventId = 0;

  const latest = () => deps.latestByDevice?.() ?? new Map();
  const gauge = () => counters.set('http_sse_clients', clients.size);

  const deviceEvent = (device: string, m: { ts: number }, nowUs: number): string =>
    `event: device\nid: ${++eventId}\ndata: ${JSON.stringify({ device, ageSeconds: Math.max(0, (nowUs - m.ts) / 1e6), latest: m })}\n\n`;

  const write = (c: Client, text: string): void => {
    if (c.blocked || c.res.destroyed || c.out.destroyed) return;
    c.lastWriteMs = Date.now();
    const ok = c.out.write(text);
    // Out at once, not when zlib's block is full (a sync flush keeps the dictionary, so the ratio stays).
    c.gzip?.flush(zlibConstants.Z_SYNC_FLUSH);
    if (!ok) {
      c.blocked = true;
      c.blockedSince = performance.now();
    }
  };

  const wants = (c: Client, device: string): boolean => {
    const f = c.filter;
    if (!f) return true;
    let yes = f.seen.get(device);
    if (yes === undefined) f.seen.set(device, (yes = f.match(device)));
    return yes;
  };

  /** A device outside a client's filter: a summary when it is new to the client or its quality changed, else ''. */
  const summary = (c: Client, device: string, m: Measurement): string => {
    const q = c.filter!.quality;
    if (q.get(device) === m.quality) return '';
    q.set(device, m.quality);
    return `event: summary\ndata: ${JSON.stringify({ device, quality: m.quality })}\n\n`;
  };

  /**
   * Every known device the client wants (up to the cap), and a summary of each other one it has not
   * heard of in its current quality, for a new client or one that drained. With no other client
   * (`mark`), what it sends counts as sent, so the first tick does not send it again.
   */
  const snapshot = (c: Client, mark: boolean): string => {
    const nowUs = Date.now() * 1000;
    let out = '';
    let n = 0;
    for (const [device, m] of latest()) {
      if (!wants(c, device)) {
        out += summary(c, device, m);
        continue;
      }
      if (n++ >= maxPerTick) {
        if (c.filter) continue; // the summaries of the rest still go out
        break;
      }
      if (mark) sentTs.set(device, m.ts);
      out += deviceEvent(device, m, nowUs);
    }
    return out;
  };

  /**
   * Devices sent before that the agent no longer knows (their driver removed by a reload, or
   * forgotten at pipeline.maxDevices): an `event: removed` each, to every client, so a page drops
   * their cards and plots instead of showing them until it is reloaded.
   */
  const removedEvents = (known: ReadonlyMap<string, Measurement>): string => {
    let out = '';
    for (const device of sentTs.keys()) {
      if (known.has(device)) continue;
      sentTs.delete(device);
      for (const c of clients) {
        c.filter?.seen.delete(device);
        c.filter?.quality.delete(device);
      }
      out += `event: removed\ndata: ${JSON.stringify({ device })}\n\n`;
    }
    return out;
  };

  const tick = (): void => {
    const nowUs = Date.now() * 1000;
    const changed: [string, Measurement][] = [];
    const known = latest();
    const gone = removedEvents(known);
    for (const [device, m] of known) {
      if (sentTs.get(device) === m.ts) continue;
      if (changed.length >= maxPerTick) break;
      sentTs.set(device, m.ts);
      changed.push([device, m]);
    }
    // Each device's event is written once and shared by every client that wants it (one id).
    const events: (string | undefined)[] = [];
    const event = (k: number): string => (events[k] ??= deviceEvent(changed[k]![0], changed[k]![1], nowUs));
    let all: string | undefined;
    const now = Date.now();
    for (const c of clients) {
      if (c.blocked && performance.now() - c.blockedSince >= maxBlockedMs) {
        // Taken nothing for maxBlockedMs: its stream goes, so the slot is free for a client that reads.
        counters.inc('http_sse_cut');
        remove(c);
        c.res.destroy();
        continue;
      }
      if (c.blocked) {
        counters.inc('http_sse_skipped');
        c.missed = true;
        continue;
      }
      let out: string;
      if (!c.filter) out = all ??= gone + changed.map((_, k) => event(k)).join('');
      else {
        out = gone;
        for (let k = 0; k < changed.length; k++) {
          const [device, m] = changed[k]!;
          out += wants(c, device) ? event(k) : summary(c, device, m);
        }
      }
      if (out) write(c, out);
      else if (now - c.lastWriteMs >= keepAliveMs) write(c, ': keep-alive\n\n');
    }
  };

  const remove = (c: Client): void => {
    if (!clients.delete(c)) return;
    if (c.address !== undefined) {
      remoteClients--;
      const n = (perAddress.get(c.address) ?? 1) - 1;
      if (n > 0) perAddress.set(c.address, n);
      else perAddress.delete(c.address);
    }
    gauge();
    if (clients.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
      sentTs.clear();
    }
  };

  app.get<{ Querystring: { devices?: string } }>(
    EVENTS_PATH,
    {
      schema: {
        summary: 'Live updates of every device (or of those named in `devices`) as server-sent events (event: device, data as GET /api/v1/devices/{id}), at most one per device per second',
        description:
          'The stream opens with `event: hello` (`{ intervalMs }`) and one `event: device` per known device, then sends each device whose measurement changed, at most once per `intervalMs`. ' +
          'With `devices`, only the devices it names get `event: device`; every other device gets a light `event: summary` (`{ device, quality }`) once on connect and again when it appears or its quality changes. ' +
          'A device the agent no longer knows (its driver removed by a reload, or forgotten at pipeline.maxDevices) gets `event: removed` (`{ device }`) on every stream.',
        tags: ['devices'],
        querystring: {
          type: 'object',
          properties: {
            devices: {
              type: 'string',
              maxLength: MAX_FILTER_ENTRIES * (MAX_DEVICE_NAME_BYTES + 1) * 2,
              description:
                `Only these devices in full: comma-separated device names or patterns (\`*\` = any run of characters, e.g. \`feeder-*\`), case-sensitive; ` +
                `\`\\\` before a \`,\`, \`*\` or \`\\\` that is part of a name. Empty: no device in full (summaries only). ` +
                `At most ${MAX_FILTER_ENTRIES} entries and ${MAX_FILTER_WILDCARDS} \`*\` in one; a bad value is a 400 problem naming the entry. Left out: every device.`,
              examples: ['feeder-1,feeder-2,pmu-*'],
            },
          },
        },
        response: {
          200: { description: 'An event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
          400: problemSchema,
          429: problemSchema,
          503: problemSchema,
        },
      },
    },
    async (req, reply) => {
      const devices = req.query.devices;
      const match = devices === undefined ? undefined : parseDeviceFilter(devices);
      if (typeof match === 'string') return sendProblem(reply, problem(400, `devices: ${match}`, EVENTS_PATH));
      // HEAD (the GET route's twin): the stream's headers, and the answer ends there. It opens no stream:
      // a stream of a HEAD request would never end (no body is sent) and would hold one of the maxClients.
      if (req.method === 'HEAD') return reply.code(200).type('text/event-stream; charset=utf-8').header('cache-control', 'no-store').send();
      const address = isLoopback(req.ip) ? undefined : addressKey(req.ip);
      if (address !== undefined && (perAddress.get(address) ?? 0) >= maxPerAddress) {
        counters.inc('http_sse_refused', { reason: 'address' });
        reply.header('retry-after', '10');
        return sendProblem(
          reply,
          problem(429, `${address} has ${maxPerAddress} event streams open, the most one address may hold (of ${maxClients} in all); close one and try again`, EVENTS_PATH),
        );
      }
      if (clients.size >= maxClients || (address !== undefined && remoteClients >= maxRemote)) {
        counters.inc('http_sse_refused', { reason: 'streams' });
        reply.header('retry-after', '10');
        const which = clients.size >= maxClients ? `${maxClients}` : `${maxRemote} from other machines; the last ${maxClients - maxRemote} of ${maxClients} are kept for this one`;
        return sendProblem(reply, problem(503, `too many event streams open (${which}); try again later`, EVENTS_PATH));
      }
      // From here the route writes the response itself (fastify's onResponse hooks do not run).
      reply.hijack();
      counters.inc('http_requests', { route: EVENTS_PATH, code: '200' });
      const res = reply.raw;
      const gzip = acceptsGzip(req.headers['accept-encoding']) ? createGzip({ level: 6 }) : undefined;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        ...EVERY_ANSWER_HEADERS, // written here, past the onSend hook that sets them on every other answer
        vary: 'accept-encoding',
        ...(gzip ? { 'content-encoding': 'gzip' } : {}),
      });
      if (gzip) gzip.pipe(res);
      const c: Client = { res, out: gzip ?? res, ...(gzip ? { gzip } : {}), blocked: false, blockedSince: 0, missed: false, lastWriteMs: Date.now() };
      if (match) c.filter = { match, seen: new Map(), quality: new Map() };
      const alone = clients.size === 0;
      clients.add(c);
      if (address !== undefined) {
        c.address = address;
        remoteClients++;
        perAddress.set(address, (perAddress.get(address) ?? 0) + 1);
      }
      gauge();
      res.on('close', () => {
        remove(c);
        gzip?.destroy();
      });
      res.on('error', () => remove(c));
      gzip?.on('error', () => {
        remove(c);
        res.destroy();
      });
      c.out.on('drain', () => {
        if (!c.blocked) return;
        c.blocked = false;
        // What was written before the buffer filled is still sent (write() keeps it): only a
        // skipped tick calls for every device again. (Sending them on every drain fed itself.)
        if (!c.missed) return;
        c.missed = false;
        write(c, snapshot(c, false));
      });
      req.raw.socket.setNoDelay?.(true);
      write(c, `retry: 3000\nevent: hello\ndata: ${JSON.stringify({ intervalMs })}\n\n` + snapshot(c, alone));
      timer ??= setInterval(tick, intervalMs);
      timer.unref?.();
    },
  );

  // End every stream and wait (1 s at most, then the socket is cut) until each response has finished:
  // through gzip the response ends only once zlib has written its last block (pipe), and a response
  // that finished only after the server began closing would hold it as a keep-alive connection.
  app.addHook('preClose', async () => {
    await Promise.all(
      [...clients].map(
        (c) =>
          new Promise<void>((resolve) => {
            remove(c);
            if (c.res.writableFinished || c.res.destroyed) return resolve();
            const cut = setTimeout(() => {
              c.res.destroy();
              resolve();
            }, 1000);
            const done = (): void => {
              clearTimeout(cut);
              resolve();
            };
            c.res.once('finish', done).once('close', done);
            c.out.end(); // through gzip: its end ends the response (pipe)
          }),
      ),
    );
  });
}
