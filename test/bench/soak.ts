/**
 * Soak benchmark: does the agent's memory stay flat under the churn a gateway sees for months?
 *
 * Two agents, each started with `--heapsnapshot-signal=SIGUSR2` (a snapshot collects garbage
 * first, so what it counts is what is retained):
 * - **churn**: rounds of 50 MQTT clients (fresh client ids, password login, a subscription to a
 *   shared and to a unique topic, 5 good and 2 rejected publishes, disconnect), 10 logins with a
 *   wrong password, and 10 times over HTTP: status, devices, metrics, an unknown path, a failed and
 *   a good login, an event stream opened and closed, a logout. Devices cycle over 300 names, so
 *   what the agent keeps per device is bounded by design.
 * - **reload**: SIGHUPs alternating two configs, in which a simulated PMU driver and an upstream
 *   forwarder (to a port where nothing listens) come and go; each snapshot waits 4 s first, so
 *   the 3 s stop deadlines of the last reloads have run out.
 * Snapshots after the first mark (warm-up) and after each later one; reported: the heap retained at
 * each mark, and the object kinds that grew most between the last two marks. A leak shows as
 * retained heap or counts that grow with every mark. No pass/fail: the figures go in the README.
 *
 * Environment: GRIDEDGE_BENCH_SOAK_ROUNDS (churn marks, default "40,150,300"),
 * GRIDEDGE_BENCH_SOAK_RELOADS (reload marks, default "20,80,160").
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startAgent, type AgentProcess } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/wait.js';

const DEVICES = 300;
const CLIENTS_PER_ROUND = 50;

interface HeapSnapshotFile {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

interface HeapSummary {
  /** Self size of every object retained, KiB. */
  kib: number;
  /** Per kind ("object:Name", "closure", "string", ...): count and self size in bytes. */
  kinds: Map<string, { n: number; bytes: number }>;
}

function summarise(file: string): HeapSummary {
  const s = JSON.parse(readFileSync(file, 'utf8')) as HeapSnapshotFile;
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const nf = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const kinds = new Map<string, { n: number; bytes: number }>();
  let total = 0;
  for (let i = 0; i < s.nodes.length; i += nf) {
    const type = types[s.nodes[i + typeAt]!]!;
    const size = s.nodes[i + sizeAt]!;
    total += size;
    // Objects by constructor; code, strings and the rest by their type only (their names are text).
    const key = type === 'object' ? `object:${s.strings[s.nodes[i + nameAt]!]}` : type;
    const k = kinds.get(key) ?? { n: 0, bytes: 0 };
    k.n++;
    k.bytes += size;
    kinds.set(key, k);
  }
  return { kib: Math.round(total / 1024), kinds };
}

/** The kinds that grew most in retained bytes from `a` to `b`. */
function growth(a: HeapSummary, b: HeapSummary, top = 8): { kind: string; count: number; kib: number }[] {
  const rows = [...b.kinds].map(([kind, v]) => {
    const was = a.kinds.get(kind) ?? { n: 0, bytes: 0 };
    return { kind, count: v.n - was.n, kib: Math.round(((v.bytes - was.bytes) / 1024) * 10) / 10 };
  });
  return rows.sort((x, y) => y.kib - x.kib).slice(0, top);
}

/** SIGUSR2 the agent and wait for the snapshot file it writes into its working directory. */
async function snapshot(agent: AgentProcess): Promise<string> {
  const before = new Set(readdirSync(agent.dir).filter((f) => f.endsWith('.heapsnapshot')));
  agent.child.kill('SIGUSR2');
  let lastSize = -1;
  return waitFor(
    'the heap snapshot to be written (its size steady)',
    () => {
      const name = readdirSync(agent.dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
      if (!name) return undefined;
      const path = join(agent.dir, name);
      const size = statSync(path).size;
      const done = size > 0 && size === lastSize;
      lastSize = size;
      return done ? path : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );
}

function measurement(k: number): string {
  const ph = (mag: number, ang: number): { mag: number; ang: number } => ({ mag, ang });
  return JSON.stringify({ ts: Date.now() * 1000, quality: 'good', freq: 50, k, v: { a: ph(230, 0), b: ph(230, -120), c: ph(230, 120) }, i: { a: ph(10, -20), b: ph(10, -140), c: ph(10, 100) } });
}

const DEV = { username: 'dev', password: 'soak-device-pw' };
const OP = { username: 'op', password: 'soak-operator-pw' };
let unique = 0;

async function churnRound(agent: AgentProcess, round: number): Promise<void> {
  const tasks: Promise<unknown>[] = [];
  for (let c = 0; c < CLIENTS_PER_ROUND; c++) {
    tasks.push(
      (async () => {
        const cl = await mqtt.connectAsync(agent.mqttUrl, { ...DEV, clientId: `soak-${round}-${c}-${unique++}`, reconnectPeriod: 0 });
        await cl.subscribeAsync([`bal/processed/soak-${c % DEVICES}`, `bal/processed/uniq-${unique++}/+`]);
        const device = `soak-${(round * CLIENTS_PER_ROUND + c) % DEVICES}`;
        for (let k = 0; k < 5; k++) await cl.publishAsync(`bal/raw/${device}`, measurement(k), { qos: 1 });
        await cl.publishAsync(`bal/raw/${device}`, '{not json', { qos: 1 });
        await cl.publishAsync(`bal/raw/${device}`, JSON.stringify({ ts: 1 }), { qos: 1 });
        await cl.endAsync();
      })(),
    );
  }
  for (let c = 0; c < 10; c++) {
    tasks.push(mqtt.connectAsync(agent.mqttUrl, { username: 'dev', password: 'wrong', clientId: `bad-${c}`, reconnectPeriod: 0 }).then((x) => x.end(), () => undefined));
  }
  await Promise.all(tasks);
  const h = agent.httpUrl;
  const json = { 'content-type': 'application/json' };
  for (let k = 0; k < 10; k++) {
    for (const path of ['/api/v1/status', '/api/v1/devices', '/metrics', `/api/v1/no-such-${unique++}`]) await (await fetch(h + path)).arrayBuffer();
    const login = await fetch(`${h}/api/v1/login`, { method: 'POST', headers: json, body: JSON.stringify(OP) });
    if (!login.ok) throw new Error(`login: HTTP ${login.status}`);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
    await login.arrayBuffer();
    const ac = new AbortController();
    const events = await fetch(`${h}/api/v1/events`, { headers: { cookie }, signal: ac.signal });
    const reader = events.body!.getReader();
    await reader.read();
    ac.abort();
    await reader.read().catch(() => undefined);
    await (await fetch(`${h}/api/v1/logout`, { method: 'POST', headers: { cookie } })).arrayBuffer();
  }
}

async function reloadOnce(agent: AgentProcess, config: Record<string, unknown>): Promise<void> {
  writeFileSync(agent.configFile, JSON.stringify(config));
  const from = agent.logs.length;
  agent.child.kill('SIGHUP');
  const done = await waitFor('the reload to end', () => agent.logs.slice(from).find((l) => /^config reload(ed| refused| failed)/.test(l.msg ?? '')), { timeoutMs: 30_000 });
  if (done.msg !== 'config reloaded') throw new Error(`reload: ${JSON.stringify(done)}`);
}

const marks = (name: string, dflt: string): number[] => (process.env[name] ?? dflt).split(',').map(Number).filter((n) => n > 0);

async function withAgent<T>(config: Record<string, unknown>, fn: (a: AgentProcess) => Promise<T>): Promise<T> {
  const prev = process.env['GRIDEDGE_AGENT_NODE_ARGS'];
  process.env['GRIDEDGE_AGENT_NODE_ARGS'] = `${prev ?? ''} --heapsnapshot-signal=SIGUSR2`.trim();
  let agent: AgentProcess;
  try {
    agent = await startAgent({ config, env: { MALLOC_ARENA_MAX: '2' } });
  } finally {
    if (prev === undefined) delete process.env['GRIDEDGE_AGENT_NODE_ARGS'];
    else process.env['GRIDEDGE_AGENT_NODE_ARGS'] = prev;
  }
  try {
    return await fn(agent);
  } finally {
    await agent.stop('SIGTERM');
  }
}

async function runMarks(agent: AgentProcess, at: number[], step: (k: number) => Promise<void>, settleMs: number): Promise<Record<string, unknown>> {
  const heap: Record<string, number> = {};
  const rss: Record<string, number> = {};
  const summaries: HeapSummary[] = [];
  let k = 0;
  for (const m of at) {
    for (; k < m; k++) await step(k);
    if (settleMs > 0) await new Promise((r) => setTimeout(r, settleMs));
    // RSS before the snapshot: writing one takes memory of its own (the first mark's RSS is the only
    // one not inflated by an earlier snapshot).
    rss[String(m)] = Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${agent.child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);
    const s = summarise(await snapshot(agent));
    summaries.push(s);
    heap[String(m)] = s.kib;
  }
  const last = summaries.length - 1;
  return {
    retained_heap_kib_at: heap,
    rss_mb_at: rss,
    grew_most_between_last_two_marks: last > 0 ? growth(summaries[last - 1]!, summaries[last]!) : [],
  };
}

export async function benchSoak(): Promise<Record<string, unknown>> {
  const churnAt = marks('GRIDEDGE_BENCH_SOAK_ROUNDS', '40,150,300');
  const reloadsAt = marks('GRIDEDGE_BENCH_SOAK_RELOADS', '20,80,160');
  const churn = await withAgent(
    {
      stats: { enabled: true },
      mqtt: { allowAnonymous: false, users: [{ ...DEV, publish: ['bal/raw/#'], subscribe: ['bal/processed/#'] }] },
      http: { users: [{ ...OP, role: 'operator' }] },
    },
    (agent) => runMarks(agent, churnAt, (r) => churnRound(agent, r), 0),
  );
  const reload = await withAgent({ stats: { enabled: true } }, async (agent) => {
    const base = JSON.parse(readFileSync(agent.configFile, 'utf8')) as Record<string, unknown>;
    const a = { ...base, drivers: [{ type: 'sim-pmu', id: 'sim', count: 2, rate: 50 }], forwarders: [{ type: 'mqtt', id: 'up', url: 'mqtt://127.0.0.1:1', map: [{ from: 'bal/processed/#', to: 'legacy/#' }] }] };
    const b = { ...base, drivers: [{ type: 'sim-pmu', id: 'sim2', rate: 25 }], forwarders: [] };
    return runMarks(agent, reloadsAt, (k) => reloadOnce(agent, k % 2 ? b : a), 4000);
  });
  return {
    churn: { rounds_at_marks: churnAt, per_round: `${CLIENTS_PER_ROUND} MQTT clients (${CLIENTS_PER_ROUND * 7} publishes), 10 bad MQTT logins, 10 × (4 GETs, 1 login, 1 event stream, 1 logout)`, ...churn },
    reload: { reloads_at_marks: reloadsAt, ...reload },
  };
}
