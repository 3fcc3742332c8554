/**
 * Authentication benchmark, through the real agent process and through Debian's mosquitto with the
 * same users, over raw TCP sockets (CONNECT written with mqtt-packet, CONNACK awaited):
 *
 * - `connectAll`: N clients with a username and password connect at once (one login shared by the
 *   fleet, distinct client ids); `reconnectAll`: the same N again (after an outage).
 * - `duringFlood`: N CONNECTs with wrong passwords are written from 127.0.0.2 (another "host"),
 *   then one legitimate client from 127.0.0.1 connects with a login not used before; its connect
 *   time, how many of the bad logins were still unanswered when it got in, and how long the flood
 *   took to be answered.
 *
 * N is GRIDEDGE_BENCH_AUTH_CLIENTS (default 2000). Each phase is bounded (GRIDEDGE_BENCH_AUTH_TIMEOUT_MS,
 * default 120 s): what did not finish is reported as `timedOut`.
 */
import { startAgent } from '../helpers/agent-process.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { RawClient, connack, connectPacket } from '../broker/raw-client.js';
import { round } from './figures.js';

const USERS = { fleet: 'fleet-pw', operator: 'operator-pw' };

interface Login {
  code: number | null;
  ms: number;
}

/** One CONNECT on a raw socket; resolves with the CONNACK return code (null: closed or timed out). */
async function login(
  port: number,
  localAddress: string,
  clientId: string,
  username: string,
  password: string,
  t0: number,
  timeoutMs: number,
  onSent: () => void = () => undefined,
): Promise<{ login: Login; client: RawClient | null }> {
  let client: RawClient | null = null;
  try {
    client = await RawClient.open(port, localAddress);
    client.send(connectPacket({ clientId, username, password }));
    onSent();
    const a = await Promise.race([connack(client, timeoutMs), client.closed.then(() => null)]);
    return { login: { code: a ? a.returnCode : null, ms: performance.now() - t0 }, client };
  } catch {
    return { login: { code: null, ms: performance.now() - t0 }, client };
  }
}

interface Wave {
  clients: number;
  accepted: number;
  refused: Record<string, number>;
  timedOut: number;
  seconds: number;
}

/** N logins at once; keeps the connections open until all are answered, then closes them. */
async function wave(port: number, n: number, tag: string, timeoutMs: number): Promise<Wave> {
  const t0 = performance.now();
  const results = await Promise.all(
    Array.from({ length: n }, (_v, k) => login(port, '127.0.0.1', `${tag}-${k}`, 'fleet', USERS.fleet, t0, timeoutMs)),
  );
  const seconds = (performance.now() - t0) / 1000;
  for (const r of results) r.client?.destroy();
  const refused: Record<string, number> = {};
  let accepted = 0;
  let timedOut = 0;
  for (const { login: l } of results) {
    if (l.code === 0) accepted++;
    else if (l.code === null) timedOut++;
    else refused[String(l.code)] = (refused[String(l.code)] ?? 0) + 1;
  }
  return { clients: n, accepted, refused, timedOut, seconds: round(seconds, 3) };
}

async function duringFlood(port: number, n: number, timeoutMs: number): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  let answered = 0;
  let sent = 0;
  let allSent: () => void = () => undefined;
  const flooded = new Promise<void>((resolve) => (allSent = resolve));
  const bad = Array.from({ length: n }, (_v, k) =>
    login(port, '127.0.0.2', `flood-${k}`, k % 2 ? 'operator' : 'nobody', `wrong-${k}`, t0, timeoutMs, () => {
      if (++sent === n) allSent();
    }).then((r) => {
      answered++;
      if (r.client === null && sent < n && ++sent === n) allSent(); // a socket that never connected counts as sent
      return r;
    }),
  );
  await flooded; // every bad CONNECT is on the wire before the legitimate client starts
  const tGood = performance.now();
  const good = await login(port, '127.0.0.1', 'legit', 'operator', USERS.operator, tGood, timeoutMs);
  const stillPending = n - answered;
  good.client?.destroy();
  const flood = await Promise.all(bad);
  const floodSeconds = (performance.now() - t0) / 1000;
  for (const r of flood) r.client?.destroy();
  return {
    badLogins: n,
    legitConnectSeconds: good.login.code === 0 ? round(good.login.ms / 1000, 3) : null,
    legitReturnCode: good.login.code,
    badStillPendingWhenLegitConnected: stillPending,
    floodAnsweredSeconds: round(floodSeconds, 3),
    floodTimedOut: flood.filter((r) => r.login.code === null).length,
  };
}


async function measure(port: number, n: number, timeoutMs: number): Promise<Record<string, unknown>> {
  return {
    connectAll: await wave(port, n, 'cold', timeoutMs),
    reconnectAll: await wave(port, n, 'warm', timeoutMs),
    duringFlood: await duringFlood(port, n, timeoutMs),
  };
}

export async function benchAuth(): Promise<Record<string, unknown>> {
  const n = Number(process.env.GRIDEDGE_BENCH_AUTH_CLIENTS ?? 2000);
  const timeoutMs = Number(process.env.GRIDEDGE_BENCH_AUTH_TIMEOUT_MS ?? 120_000);
  const out: Record<string, unknown> = { clients: n, note: 'scrypt N=16384 for gridedge; mosquitto_passwd hashes for mosquitto' };

  const agent = await startAgent({
    config: {
      mqtt: {
        users: [
          { username: 'fleet', password: USERS.fleet, publish: ['bal/raw/#'], subscribe: [] },
          { username: 'operator', password: USERS.operator, publish: [], subscribe: ['bal/#'] },
        ],
      },
    },
  });
  try {
    out.gridedge = await measure(agent.mqttPort, n, timeoutMs);
  } finally {
    await agent.stop();
  }

  const mq = await startMosquitto({ users: USERS });
  try {
    out.mosquitto = await measure(mq.port, n, timeoutMs);
  } finally {
    await mq.stop();
  }
  return out;
}
