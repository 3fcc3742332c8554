/**
 * `npm run bench`: every benchmark in one run, printed as one JSON document (also written to
 * bench-results.json when GRIDEDGE_BENCH_OUT names a file). Select parts with
 * GRIDEDGE_BENCH=e2e,source,buffer,forward,auth,grid,c37118,modbus,opcua,scheduler,soak,package.
 */
import { cpus, totalmem } from 'node:os';
import { writeFileSync } from 'node:fs';
import { benchE2E } from './e2e.js';

type Bench = () => Promise<Record<string, unknown>>;

async function load(name: string, file: string, fn: string): Promise<Bench | null> {
  try {
    const mod = (await import(file)) as Record<string, Bench>;
    return mod[fn] ?? null;
  } catch (err) {
    process.stderr.write(`bench ${name} unavailable: ${(err as Error).message}\n`);
    return null;
  }
}

async function main(): Promise<void> {
  const only = (process.env.GRIDEDGE_BENCH ?? 'e2e,source,buffer,forward,auth,grid,c37118,modbus,opcua,scheduler,soak,package').split(',');
  const benches: [string, Bench | null][] = [
    ['e2e', benchE2E],
    ['source', await load('source', './source.js', 'benchSource')], // mqtt-source from mosquitto
    ['buffer', await load('buffer', './buffer.js', 'benchBuffer')],
    ['forward', await load('forward', './forward.js', 'benchForward')],
    ['auth', await load('auth', './auth.js', 'benchAuth')],
    ['grid', await load('grid', './grid.js', 'benchGrid')],
    ['c37118', await load('c37118', './c37118.js', 'benchC37118')],
    ['modbus', await load('modbus', '../modbus/bench.js', 'benchModbus')],
    ['opcua', await load('opcua', '../opcua/bench.js', 'benchOpcua')],
    ['scheduler', await load('scheduler', './scheduler.js', 'benchScheduler')],
    ['soak', await load('soak', './soak.js', 'benchSoak')], // memory retained under months' worth of churn, compressed
    ['package', await load('package', '../packaging/bench.js', 'benchPackage')], // .deb size, install, start to READY
  ];
  const results: Record<string, unknown> = {
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, arch: process.arch },
    date: new Date().toISOString(),
  };
  for (const [name, fn] of benches) {
    if (!only.includes(name) || !fn) continue;
    process.stderr.write(`bench ${name} ...\n`);
    try {
      results[name] = await fn();
    } catch (err) {
      results[name] = { error: (err as Error).message };
    }
  }
  const out = JSON.stringify(results, null, 2);
  console.log(out);
  if (process.env.GRIDEDGE_BENCH_OUT) writeFileSync(process.env.GRIDEDGE_BENCH_OUT, out + '\n');
  process.exit(0);
}

void main();
