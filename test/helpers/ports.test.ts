/**
 * The port helpers: claimed ports lie outside the kernel's ephemeral range, refuse connections and
 * are held by a claim file; mosquitto started on a port another process holds is started again on
 * another port instead of failing the test.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startMosquitto } from './mosquitto.js';
import { accepts, claimDir, claimPort, fixedPortRange, releasePort } from './ports.js';

t.test('claimPort: below the ephemeral range, refused, claimed with this process id', async (t) => {
  const [lo, hi] = fixedPortRange();
  const eph = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  t.ok(hi < eph[0]! || lo > eph[1]!, `${lo}-${hi} does not overlap the ephemeral range ${eph.join('-')}`);
  const ports = [await claimPort(), await claimPort(), await claimPort()];
  t.equal(new Set(ports).size, 3, `three different ports: ${ports.join(', ')}`);
  for (const port of ports) {
    t.ok(port >= lo && port <= hi, `${port} in ${lo}-${hi}`);
    t.equal(await accepts(port), false, `nothing listens on ${port}`);
    t.equal(readFileSync(join(claimDir(), String(port)), 'utf8'), String(process.pid), `${port} claimed by this process`);
  }
  releasePort(ports[0]!);
  t.throws(() => readFileSync(join(claimDir(), String(ports[0]))), { code: 'ENOENT' }, 'a released claim is gone');
});

t.test('startMosquitto: a port taken meanwhile by another process → started again on another port', async (t) => {
  // A listener of this test process stands in for a process that took the port after it was claimed.
  const squatter = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
  const taken = (squatter.address() as AddressInfo).port;
  const handedOut: number[] = [];
  const m = await startMosquitto({
    pickPort: async () => {
      const port = handedOut.length === 0 ? taken : await claimPort();
      handedOut.push(port);
      return port;
    },
  });
  t.teardown(() => m.stop());
  t.equal(handedOut.length, 2, 'a second port was asked for');
  t.equal(handedOut[0], taken, 'the first port was the taken one');
  t.equal(m.port, handedOut[1], 'mosquitto runs on the second one');
  t.ok(await accepts(m.port), 'and accepts connections there');
});

t.test('startMosquitto: a fixed port that is taken → an error naming it, no retry', async (t) => {
  const squatter = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
  const taken = (squatter.address() as AddressInfo).port;
  await t.rejects(startMosquitto({ port: taken }), new RegExp(`mosquitto exited at start \\(ports ${taken}\\):[\\s\\S]*Address already in use`));
});
