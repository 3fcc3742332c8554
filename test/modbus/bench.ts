/**
 * Modbus bench: `meters` drivers (default 50), one TCP connection each, polling 30 input registers
 * (15 f32 values, one request) every second from one local modbus-serial server running in a child
 * process. Reports polls/s and this process's CPU time per poll (decoding, planning, modbus-serial's
 * client, building measurements; the server's CPU is not counted). GRIDEDGE_BENCH_MODBUS_S sets the
 * measuring time (default 10 s, after 2 s of warm-up).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Counters } from '../../agent/core/counters.js';
import { modbusDriver, ModbusDriver } from '../../drivers/modbus/index.js';
import { ctxFor, abortedDeadline } from '../conformance/suites.js';
import { withDefaults } from '../helpers/plugin-config.js';

export async function benchModbus(meters = 50): Promise<Record<string, unknown>> {
  const seconds = Number(process.env.GRIDEDGE_BENCH_MODBUS_S ?? 10);
  const child = spawn(process.execPath, [fileURLToPath(new URL('./bench-server.js', import.meta.url)), String(meters)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('exit', (c) => reject(new Error(`bench server exited (${c})`)));
  });
  const counters = new Counters();
  counters.define(modbusDriver.metrics!);
  const drivers: { d: ModbusDriver; abort: AbortController }[] = [];
  let emitted = 0;
  for (let unit = 1; unit <= meters; unit++) {
    const registers = Array.from({ length: 15 }, (_, k) => ({ field: `r${k}`, function: 'input', address: 2 * k, type: 'f32' }));
    const cfg = withDefaults(modbusDriver, { type: 'modbus', id: `bench-${unit}`, tcp: `127.0.0.1:${port}`, unit, interval: 1000, registers });
    const d = new ModbusDriver(cfg);
    const { ctx, abort } = ctxFor(cfg.id, counters);
    await d.start(ctx, () => void emitted++);
    drivers.push({ d, abort });
  }
  await new Promise((r) => setTimeout(r, 2000));
  const polls0 = counters.total('modbus_polls');
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const cpu = process.cpuUsage(cpu0);
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const polls = counters.total('modbus_polls') - polls0;
  const errors = counters.total('modbus_errors');
  for (const { d, abort } of drivers) {
    abort.abort();
    await d.stop(abortedDeadline());
  }
  child.kill('SIGTERM');
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return {
    meters,
    registersPerMeter: 30,
    intervalMs: 1000,
    seconds: Math.round(wallS * 10) / 10,
    pollsPerSecond: Math.round((polls / wallS) * 10) / 10,
    cpuMsPerPoll: polls ? Math.round((cpuMs / polls) * 1000) / 1000 : null,
    cpuPercent: Math.round((cpuMs / (wallS * 1000)) * 1000) / 10,
    errors,
    emitted,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(JSON.stringify(await benchModbus(Number(process.argv[2] ?? 50)), null, 2));
