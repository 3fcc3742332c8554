/**
 * OPC UA bench (`npm run bench`, part `opcua`): 1 000 monitored items sampled every 100 ms, as 5
 * opcua drivers of 200 nodes each (one measurement may carry at most about 250 fields) in a real
 * agent process, against one node-opcua server in a child process that changes every value every
 * 100 ms. Reports the value changes/s the agent received (its opcua_value_changes counters), the
 * measurements/s it emitted, and the agent process's CPU (user + system from /proc, the whole
 * agent: node-opcua client, the driver, validation, processing and the SQLite buffer), total and
 * per value change. GRIDEDGE_BENCH_OPCUA_S sets the measuring time (default 10 s, after the
 * drivers connected and 2 s of warm-up). Linux only (/proc).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startAgent } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/wait.js';

const TICK_S = 100; // USER_HZ on Linux

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / TICK_S; // utime, stime (fields 14 and 15)
}

async function counter(httpUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^(?:gridedge_)?${name}(?:_total)?(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum += Number(m[1]);
  return sum;
}

export async function benchOpcua(items = 1000, perDriver = 200, periodMs = 100): Promise<Record<string, unknown>> {
  const seconds = Number(process.env.GRIDEDGE_BENCH_OPCUA_S ?? 10);
  const child = spawn(process.execPath, [fileURLToPath(new URL('./bench-server.js', import.meta.url)), String(items), String(periodMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      child.once('exit', (c) => reject(new Error(`bench server exited (${c})`)));
    });
    const drivers = [];
    for (let d = 0; d * perDriver < items; d++) {
      const nodes = [];
      for (let k = d * perDriver; k < Math.min(items, (d + 1) * perDriver); k++) nodes.push({ nodeId: `ns=1;s=r${k}`, field: `r${k}`, samplingInterval: periodMs });
      drivers.push({ type: 'opcua', id: `bench-${d + 1}`, endpoint: `opc.tcp://127.0.0.1:${port}`, nodes });
    }
    const agent = await startAgent({ config: { drivers } });
    try {
      await waitFor('every bench driver connected', async () => {
        const s = (await (await fetch(`${agent.httpUrl}/api/v1/status`)).json()) as Record<string, unknown>;
        const n = (JSON.stringify(s).match(/"connected":true/g) ?? []).length;
        return n >= drivers.length;
      }, { timeoutMs: 60_000, intervalMs: 200 });
      await new Promise((r) => setTimeout(r, 2000));
      const c0 = await counter(agent.httpUrl, 'opcua_value_changes');
      const p0 = await counter(agent.httpUrl, 'processed');
      const cpu0 = cpuSeconds(agent.child.pid!);
      const t0 = process.hrtime.bigint();
      await new Promise((r) => setTimeout(r, seconds * 1000));
      const cpu = cpuSeconds(agent.child.pid!) - cpu0;
      const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
      const changes = (await counter(agent.httpUrl, 'opcua_value_changes')) - c0;
      const errors = await counter(agent.httpUrl, 'opcua_errors');
      const processed = (await counter(agent.httpUrl, 'processed')) - p0;
      const rejected = await counter(agent.httpUrl, 'rejected');
      return {
        monitoredItems: items,
        drivers: drivers.length,
        samplingIntervalMs: periodMs,
        seconds: Math.round(wallS * 10) / 10,
        offeredChangesPerSecond: Math.round((items * 1000) / periodMs),
        valueChangesPerSecond: Math.round(changes / wallS),
        agentCpuPercent: Math.round((cpu / wallS) * 1000) / 10,
        agentCpuUsPerChange: changes ? Math.round((cpu * 1e6) / changes) : null,
        opcuaErrors: errors,
        processedPerSecond: Math.round(processed / wallS),
        rejected,
      };
    } finally {
      await agent.stop('SIGTERM');
    }
  } finally {
    child.kill('SIGTERM');
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(JSON.stringify(await benchOpcua(), null, 2));
