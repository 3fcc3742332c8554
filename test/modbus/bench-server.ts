/** A Modbus TCP test server in its own process for the bench: prints its port, serves until killed. */
import { Registers, startTcpServer } from './server.js';

const meters = Number(process.argv[2] ?? 50);
const regs = new Registers();
// 30 registers per unit: 15 f32 values at input 0..29.
for (let unit = 1; unit <= meters; unit++) for (let k = 0; k < 15; k++) regs.set(unit, 'input', 2 * k, 230 + k + unit / 100, 'f32');
const server = await startTcpServer(regs);
process.stdout.write(`${server.port}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
