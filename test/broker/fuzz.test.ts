/**
 * Fuzz test of the broker's inputs against the real agent process: random bytes, valid MQTT packets
 * with random mutations, PUBLISHes with hostile topics and payloads, and odd CONNECTs, each on its
 * own TCP connection. Meanwhile a good client keeps publishing QoS 1 measurements. Checks: the agent
 * stays up, its RSS (from /api/v1/status) stays bounded, and every good publish is acknowledged.
 *
 * Bounded in count and time: GRIDEDGE_FUZZ_ROUNDS (default 500) connections, at most
 * GRIDEDGE_FUZZ_MS (default 40 s). Reproducible from GRIDEDGE_FUZZ_SEED (printed as a comment).
 */
import t from 'tap';
import mqtt from 'mqtt';
import type { Packet } from 'mqtt-packet';
import { prng } from '../../algorithms/common/prng.js';
import { getJson, startAgent } from '../helpers/agent-process.js';
import { testHash } from './helpers.js';
import { RawClient, connectPacket, generate, within } from './raw-client.js';

const SEED = Number(process.env.GRIDEDGE_FUZZ_SEED ?? 20_261_129);
const ROUNDS = Number(process.env.GRIDEDGE_FUZZ_ROUNDS ?? 500);
const BUDGET_MS = Number(process.env.GRIDEDGE_FUZZ_MS ?? 40_000);
/** RSS may grow by this much over the run (MiB): Node's heap settles, but nothing may grow per attack. */
const RSS_GROWTH_MIB = 150;

type Rnd = () => number;
const int = (r: Rnd, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
const pick = <T>(r: Rnd, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const bytes = (r: Rnd, n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(r, 0, 255)));

function measurement(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    ts: Date.now() * 1000,
    quality: 'good',
    freq: 50.01,
    v: { a: { mag: 230.1, ang: 0.1 }, b: { mag: 229.8, ang: -119.9 }, c: { mag: 230.4, ang: 120.2 } },
    i: { a: { mag: 101.2, ang: -18.1 }, b: { mag: 98.7, ang: -138.2 }, c: { mag: 102.3, ang: 101.9 } },
    ...extra,
  });
}

/** Topics an attacker or a broken device might send (some as raw bytes with invalid UTF-8). */
function topic(r: Rnd): string | Buffer {
  const dev = `fz${int(r, 0, 20)}`;
  switch (int(r, 0, 11)) {
    case 0:
      return `bal/raw/${dev}\u0000x`;
    case 1:
      return Buffer.concat([Buffer.from(`bal/raw/${dev}`), bytes(r, int(r, 1, 4)).map((b) => b | 0x80)]);
    case 2:
      return `bal/raw/${dev}${String.fromCharCode(int(r, 1, 31))}`;
    case 3:
      return `bal/raw/${'a/'.repeat(int(r, 50, 150))}${dev}`;
    case 4:
      return `bal/raw/${'x'.repeat(int(r, 1000, 20_000))}`;
    case 5:
      return pick(r, ['', '#', 'bal/+/x', 'bal/raw/#', '$SYS/x', '/', '//', 'bal/raw/', 'bal/raw//']);
    case 6:
      return `bal/processed/${dev}`;
    case 7:
      return `bal/raw/${String.fromCodePoint(int(r, 0xa0, 0x10ffff))}${dev}`;
    default:
      return `bal/raw/${dev}`;
  }
}

function payload(r: Rnd): Buffer {
  switch (int(r, 0, 9)) {
    case 0:
      return bytes(r, int(r, 0, 2048));
    case 1:
      return Buffer.from('['.repeat(int(r, 1000, 20_000)) + ']'.repeat(int(r, 0, 5)));
    case 2:
      return Buffer.from(measurement({ __proto__: { v: { a: { mag: -777 } } }, constructor: { prototype: {} } }).replace('"freq"', '"__proto__":{"x":1},"freq"'));
    case 3:
      return Buffer.from(measurement({ freq: pick(r, [1e308, -1e308, 0, 'NaN', null, [], {}]) }));
    case 4:
      return Buffer.from(measurement({ ['k'.repeat(int(r, 1, 5000))]: 'v'.repeat(int(r, 1, 30_000)) }));
    case 5:
      return Buffer.from(measurement({ s\u0065q: 999 }).replace('"seq"', '"s\\u0065q"'));
    case 6:
      return Buffer.alloc(0);
    case 7:
      return Buffer.from(JSON.stringify(Object.fromEntries(Array.from({ length: int(r, 100, 3000) }, (_v, k) => [`f${k}`, k]))));
    default:
      return Buffer.from(measurement());
  }
}

/** A valid packet of a random kind (after a CONNECT). */
function packet(r: Rnd): Packet {
  const messageId = int(r, 1, 65535);
  switch (int(r, 0, 7)) {
    case 0:
      return { cmd: 'subscribe', messageId, subscriptions: [{ topic: pick(r, ['#', 'bal/#', '$SYS/#', 'bal/raw/+', 'a/\u0000', '+/+/#']), qos: pick(r, [0, 1, 2] as const) }] };
    case 1:
      return { cmd: 'unsubscribe', messageId, unsubscriptions: [pick(r, ['#', 'bal/#', 'x'])] };
    case 2:
      return { cmd: 'pingreq' };
    case 3:
      return { cmd: 'pubrel', messageId };
    case 4:
      return { cmd: 'puback', messageId };
    default: {
      const qos = pick(r, [0, 1, 2] as const);
      const t = topic(r);
      return { cmd: 'publish', topic: t as string, payload: payload(r), qos, retain: r() < 0.3, dup: r() < 0.1, ...(qos > 0 ? { messageId } : {}) };
    }
  }
}

function safeGenerate(p: Packet): Buffer {
  try {
    return generate(p);
  } catch {
    return Buffer.alloc(0); // mqtt-packet refuses to encode some of these (e.g. an empty topic): skip them
  }
}

function mutate(r: Rnd, b: Buffer): Buffer {
  let out = Buffer.from(b);
  for (let k = int(r, 1, 4); k > 0 && out.length > 0; k--) {
    const at = int(r, 0, out.length - 1);
    switch (int(r, 0, 5)) {
      case 0:
        out[at] = int(r, 0, 255);
        break;
      case 1:
        out[at] = pick(r, [0x00, 0xff, 0x7f, 0x80]);
        break;
      case 2:
        out = Buffer.concat([out.subarray(0, at), bytes(r, int(r, 1, 16)), out.subarray(at)]);
        break;
      case 3:
        out = Buffer.concat([out.subarray(0, at), out.subarray(Math.min(out.length, at + int(r, 1, 16)))]);
        break;
      case 4:
        out = out.subarray(0, at);
        break;
      default:
        out = Buffer.concat([out, out.subarray(at)]);
    }
  }
  return out;
}

function connectBytes(r: Rnd, k: number): Buffer {
  const c = connectPacket({ clientId: `fuzz-${k}`, clean: r() < 0.8 });
  if (r() < 0.8) return c;
  // An odd CONNECT: random protocol level, flags, or a will with a hostile topic.
  const odd = Buffer.from(c);
  switch (int(r, 0, 2)) {
    case 0:
      odd[8] = int(r, 0, 255); // protocol level (after 0x10, length, 0x00 0x04 "MQTT")
      return odd;
    case 1:
      odd[9] = int(r, 0, 255); // connect flags
      return odd;
    default: {
      const t = topic(r);
      return safeGenerate({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clean: true,
        clientId: `fuzz-will-${k}`,
        keepalive: int(r, 0, 65535),
        will: { topic: typeof t === 'string' ? t : t.toString('latin1'), payload: payload(r), qos: pick(r, [0, 1, 2] as const), retain: r() < 0.5 },
      });
    }
  }
}

/** One attack: the bytes one connection writes. */
function attack(r: Rnd, k: number): { kind: string; data: Buffer } {
  const kind = pick(r, ['random', 'mutated', 'hostile', 'hostile', 'connect'] as const);
  if (kind === 'random') return { kind, data: bytes(r, int(r, 1, 1024)) };
  const parts = [connectBytes(kind === 'connect' ? r : () => 0, k)];
  for (let n = int(r, 1, 6); n > 0; n--) parts.push(safeGenerate(packet(r)));
  const data = Buffer.concat(parts);
  return { kind, data: kind === 'mutated' ? mutate(r, data) : data };
}

const PINGREQ = Buffer.from([0xc0, 0x00]);

interface Status {
  memory?: { rss?: number };
  counters?: Record<string, number | Record<string, number>>;
}

t.test(`fuzz: random and mutated MQTT input does not take the agent down (seed ${SEED})`, async (t) => {
  t.comment(`GRIDEDGE_FUZZ_SEED=${SEED} rounds=${ROUNDS} budget=${BUDGET_MS} ms`);
  const agent = await startAgent({
    config: {
      mqtt: {
        allowAnonymous: true,
        users: [{ username: 'good', passwordHash: testHash('good-pw'), publish: ['bal/raw/#'], subscribe: ['bal/#'] }],
      },
    },
  });
  t.teardown(() => agent.stop());
  const status = () => getJson<Status>(`${agent.httpUrl}/api/v1/status`);
  const good = await within(
    mqtt.connectAsync(agent.mqttUrl, { clientId: 'good-client', username: 'good', password: 'good-pw', reconnectPeriod: 0, connectTimeout: 30_000 }),
    30_000,
    'the good client to connect',
  );
  t.teardown(() => good.endAsync(true));
  const rss0 = (await status()).memory?.rss ?? NaN;
  t.ok(Number.isFinite(rss0), `status reports rss (${rss0} MiB)`);

  const r = prng(SEED);
  const kinds: Record<string, number> = {};
  let maxRss = rss0;
  let acked = 0;
  let sentGood = 0;
  const started = Date.now();
  let round = 0;
  for (; round < ROUNDS && Date.now() - started < BUDGET_MS; round++) {
    const a = attack(r, round);
    kinds[a.kind] = (kinds[a.kind] ?? 0) + 1;
    const c = await RawClient.open(agent.mqttPort);
    c.send(a.data);
    if (a.kind !== 'random') {
      // A PINGREQ last: its PINGRESP means the broker read everything before it. A mutation may have
      // left a packet incomplete (the broker then waits for more bytes): give up waiting after 250 ms.
      c.send(PINGREQ);
      await Promise.race([c.next('pingresp', 250), c.closed]).catch(() => undefined);
    }
    c.sock.end(); // half-close: the broker ends the connection after reading what we sent
    await c.waitClosed(10_000, `the agent to close fuzz connection ${round} (${a.kind})`);
    if (round % 10 === 0) {
      sentGood++;
      await within(good.publishAsync('bal/raw/good-pmu', measurement(), { qos: 1 }), 10_000, `PUBACK of good publish ${sentGood} (round ${round})`);
      acked++;
    }
    if (round % 50 === 0) {
      t.equal(agent.child.exitCode, null, `agent alive at round ${round}`);
      maxRss = Math.max(maxRss, (await status()).memory?.rss ?? Infinity);
    }
  }
  const end = await status();
  maxRss = Math.max(maxRss, end.memory?.rss ?? Infinity);
  t.comment(`rounds ${round}: ${JSON.stringify(kinds)}; rss ${rss0} → max ${maxRss} MiB`);
  t.ok(round >= Math.min(ROUNDS, 100), `ran ${round} rounds`);
  t.equal(agent.child.exitCode, null, 'the agent is still running');
  t.ok(good.connected, 'the good client is still connected');
  t.equal(acked, sentGood, `every good QoS 1 publish was acknowledged (${acked})`);
  t.ok(maxRss - rss0 < RSS_GROWTH_MIB, `rss grew by ${(maxRss - rss0).toFixed(1)} MiB (< ${RSS_GROWTH_MIB})`);
  const refused = end.counters?.broker_refused;
  t.ok(typeof refused === 'object' && Object.keys(refused).length > 0, `refusals were counted by reason: ${JSON.stringify(refused)}`);
  t.comment(`pipeline rejections: ${JSON.stringify(end.counters?.rejected)}`);
  // One more good publish after the storm, and a fresh good connection.
  await within(good.publishAsync('bal/raw/good-pmu', measurement(), { qos: 1 }), 10_000, 'PUBACK after the fuzz run');
  const fresh = await within(
    mqtt.connectAsync(agent.mqttUrl, { clientId: 'fresh', username: 'good', password: 'good-pw', reconnectPeriod: 0 }),
    30_000,
    'a fresh connection after the fuzz run',
  );
  await fresh.endAsync();
});
