/**
 * `gridedge modbus read` (the real CLI as a child process) against modbus-serial's TCP server: text
 * and JSON output with values decoded per type and order; exit 1 and a hint for a Modbus exception
 * and for a bad option; exit 2 and what to check for a refused connection. The decoded values are
 * cross-checked with an independent client, Debian's mbpoll.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { runCli } from '../cli/run-cli.js';
import { refusedPort } from '../helpers/ports.js';
import { Registers, startTcpServer } from './server.js';

function mbpoll(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('mbpoll', args, { timeout: 10_000 }, (err, stdout) => (err ? reject(new Error(`mbpoll ${args.join(' ')}: ${err.message}`)) : resolve(stdout))),
  );
}

/** mbpoll's "[ref]: value" lines. */
const mbValues = (out: string): number[] => [...out.matchAll(/^\[\d+\]:\s+(\S+)/gm)].map((m) => Number(m[1]));

t.test('gridedge modbus read', async (t) => {
  const regs = new Registers();
  regs.set(1, 'input', 0, 230.5, 'f32', 'ABCD');
  regs.set(1, 'input', 2, -2.5, 'f32', 'CDAB');
  regs.set(1, 'holding', 10, -123, 'i32', 'ABCD');
  regs.set(1, 'holding', 12, 305419896, 'u32', 'CDAB');
  regs.set(7, 'holding', 0, 0xbeef);
  regs.setBit(1, 'coil', 0, true);
  regs.setBit(1, 'coil', 1, false);
  const server = await startTcpServer(regs);
  t.teardown(() => server.close());
  const at = `127.0.0.1:${server.port}`;

  const text = await runCli(['modbus', 'read', '--tcp', at, '--unit', '1', '--function', 'input', '--address', '0', '--count', '2', '--type', 'f32']);
  t.equal(text.code, 0, text.stderr);
  t.match(text.stdout, /^\s+0\s+4366 8000\s+230\.5$/m, 'address, raw words and value');

  const j = await runCli(['modbus', 'read', '--tcp', at, '--function', 'holding', '--address', '10', '--count', '4', '--type', 'i32', '--json']);
  t.equal(j.code, 0, j.stderr);
  const doc = JSON.parse(j.stdout) as { raw: number[]; values: { address: number; value: number }[] };
  t.same(doc.raw, [0xffff, 0xff85, 0x5678, 0x1234]);
  t.same(doc.values, [{ address: 10, value: -123 }, { address: 12, value: 0x5678 * 65536 + 0x1234 }], 'ABCD decoding of both values');
  const cdab = JSON.parse((await runCli(['modbus', 'read', '--tcp', at, '--address', '12', '--type', 'u32', '--order', 'CDAB', '--json'])).stdout) as { values: { value: number }[] };
  t.equal(cdab.values[0]?.value, 305419896, 'CDAB');

  const unit7 = JSON.parse((await runCli(['modbus', 'read', '--tcp', at, '--unit', '7', '--address', '0', '--json'])).stdout) as { values: { value: number }[] };
  t.equal(unit7.values[0]?.value, 0xbeef, 'the unit id is passed on');

  const coils = JSON.parse((await runCli(['modbus', 'read', '--tcp', at, '--function', 'coil', '--address', '0', '--count', '2', '--json'])).stdout) as { raw: boolean[] };
  t.same(coils.raw, [true, false]);

  const exc = await runCli(['modbus', 'read', '--tcp', at, '--function', 'input', '--address', '70']);
  t.equal(exc.code, 1, 'a Modbus exception is bad input');
  t.match(exc.stderr, /exception 2 \(illegal data address\) at input register 70 of unit 1 — check the register map for this meter model/);

  const bad = await runCli(['modbus', 'read', '--tcp', at, '--address', '0', '--type', 'f32', '--count', '3']);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /--count: 3 registers do not hold whole f32 values/);
  const both = await runCli(['modbus', 'read', '--tcp', at, '--rtu', '/dev/ttyUSB0', '--address', '0']);
  t.equal(both.code, 1);
  t.match(both.stderr, /give exactly one of --tcp HOST:PORT and --rtu DEVICE/);
  for (const [args, re] of [
    [['--rtu', '/tmp', '--address', '0'], /--rtu: must be a serial device \(a character device such as \/dev\/ttyUSB0\), and \/tmp is a folder/],
    [['--tcp', at, '--baud', '19200', '--address', '0'], /--baud: applies to --rtu \(a serial line\), not to --tcp/],
    [['--tcp', at], /--address: is required/],
  ] as [string[], RegExp][]) {
    const r = await runCli(['modbus', 'read', ...args]);
    t.equal(r.code, 1, `${args.join(' ')}: bad input`);
    t.match(r.stderr, re);
  }

  const port = await refusedPort();
  const refused = await runCli(['modbus', 'read', '--tcp', `127.0.0.1:${port}`, '--address', '0']);
  t.equal(refused.code, 2, 'an unreachable device is exit 2');
  t.match(refused.stderr, new RegExp(`connection refused at 127\\.0\\.0\\.1:${port} — is Modbus TCP enabled on the meter, and is port ${port} open\\?`));
  // An IPv6 address keeps its brackets in the message ("::1:502" would not read apart from the port).
  const refused6 = await runCli(['modbus', 'read', '--tcp', `[::1]:${port}`, '--address', '0']);
  t.equal(refused6.code, 2);
  t.match(refused6.stderr, new RegExp(`(connection refused|cannot connect|unreachable|not available)[^\\n]* at \\[::1\\]:${port}|\\[::1\\]:${port}`), 'the address in brackets');

  await t.test('cross-check with mbpoll', { skip: existsSync('/usr/bin/mbpoll') ? false : 'mbpoll is not installed (apt-get install mbpoll)' }, async (t) => {
    // mbpoll counts references from 1; -B: big-endian words (ABCD), default: little-endian words (CDAB).
    const p = String(server.port);
    t.same(mbValues(await mbpoll(['-m', 'tcp', '-p', p, '-a', '1', '-t', '3:float', '-B', '-r', '1', '-c', '1', '-1', '127.0.0.1'])), [230.5]);
    t.same(mbValues(await mbpoll(['-m', 'tcp', '-p', p, '-a', '1', '-t', '3:float', '-r', '3', '-c', '1', '-1', '127.0.0.1'])), [-2.5]);
    t.same(mbValues(await mbpoll(['-m', 'tcp', '-p', p, '-a', '1', '-t', '4:int', '-B', '-r', '11', '-c', '1', '-1', '127.0.0.1'])), [-123]);
    const ours = JSON.parse((await runCli(['modbus', 'read', '--tcp', at, '--function', 'input', '--address', '2', '--type', 'f32', '--order', 'CDAB', '--json'])).stdout) as {
      values: { value: number }[];
    };
    t.equal(ours.values[0]?.value, -2.5, 'the same value as mbpoll reads');
  });
});
