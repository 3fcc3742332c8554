/**
 * The OPC UA bench's server, run as a child process: `node bench-server.js N PERIOD_MS` serves N
 * Double variables `ns=1;s=r<k>` and changes every one of them each PERIOD_MS; it prints its port
 * on stdout once it listens, and stops on SIGTERM.
 */
import { startOpcuaServer, type VarType } from './server.js';

const n = Number(process.argv[2] ?? 1000);
const period = Number(process.argv[3] ?? 100);
const vars: Record<string, { type: VarType; value: number }> = {};
for (let k = 0; k < n; k++) vars[`r${k}`] = { type: 'Double', value: k };
const srv = await startOpcuaServer({ vars });
let tick = 0;
const timer = setInterval(() => {
  tick++;
  for (let k = 0; k < n; k++) srv.set(`r${k}`, k + tick / 1000);
}, period);
process.stdout.write(`${srv.port}\n`);
process.on('SIGTERM', () => {
  clearInterval(timer);
  void srv.stop().finally(() => process.exit(0));
});
