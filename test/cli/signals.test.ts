/**
 * Ctrl-C (SIGINT) and SIGTERM while a command waits on a peer that hangs: the command ends at once
 * (not after its --timeout), says nothing misleading, and leaves nothing half written.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { tempDir } from '../helpers/agent-process.js';
import { withTimeout } from '../helpers/wait.js';
import { silentServer, startCli } from './run-cli.js';

t.test('status waiting on an agent that never answers: Ctrl-C ends it at once, by the signal, silently', async (t) => {
  const peer = await silentServer();
  t.teardown(peer.close);
  // --timeout 600: only the signal can end it within the test's wait.
  const cli = startCli(['status', '--url', `http://127.0.0.1:${peer.port}`, '--timeout', '600']);
  await withTimeout(peer.connected, 'the status request to reach the silent agent');
  cli.kill('SIGINT');
  const end = await withTimeout(cli.exited, 'status to end on SIGINT (it used to wait out --timeout)');
  t.same(end, { code: null, signal: 'SIGINT' }, 'ended by SIGINT, as the shell reports Ctrl-C (130)');
  const r = await cli.result;
  t.equal(r.stdout, '');
  t.equal(r.stderr, '', 'no "no answer within" message: nobody waited that long');
});

t.test('tail connecting to a broker that never answers: Ctrl-C exits 0 at once', async (t) => {
  const peer = await silentServer();
  t.teardown(peer.close);
  const cli = startCli(['tail', 'x/#', '--url', `mqtt://127.0.0.1:${peer.port}`, '--timeout', '600']);
  await withTimeout(peer.connected, 'the tail to connect to the silent broker');
  cli.kill('SIGINT');
  const r = await withTimeout(cli.result, 'tail to end on SIGINT');
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stderr, '');
});

t.test('pmu probe interrupted before the configuration arrived: says so, exits 130 (it exited 0 silently)', async (t) => {
  const peer = await silentServer();
  t.teardown(peer.close);
  const cli = startCli(['pmu', 'probe', `127.0.0.1:${peer.port}`, '--idcode', '7', '--timeout', '600']);
  await withTimeout(peer.connected, 'the probe to connect to the silent PMU');
  cli.kill('SIGINT');
  const r = await withTimeout(cli.result, 'pmu probe to end on SIGINT');
  t.equal(r.code, 130);
  t.equal(r.stdout, '');
  t.equal(r.stderr, `gridedge pmu probe: interrupted: no configuration frame from 127.0.0.1:${peer.port} yet\n`);
});

t.test('diag interrupted while it waits for the agent: exits 143 on SIGTERM, no bundle, no temporary folder left', async (t) => {
  const peer = await silentServer();
  t.teardown(peer.close);
  const dir = tempDir();
  const tmp = join(dir, 'tmp');
  mkdirSync(tmp);
  const out = join(dir, 'bundle.tar.gz');
  const cli = startCli(['diag', '--url', `http://127.0.0.1:${peer.port}`, '--timeout', '600', '--out', out], { env: { TMPDIR: tmp } });
  await withTimeout(peer.connected, 'diag to ask the silent agent for its status');
  cli.kill('SIGTERM');
  const r = await withTimeout(cli.result, 'diag to end on SIGTERM (it used to wait out --timeout)');
  t.equal(r.code, 143, r.stderr);
  t.equal(r.stderr, 'gridedge diag: interrupted; no bundle written\n');
  t.equal(r.stdout, '');
  t.notOk(existsSync(out), 'no bundle');
  t.same(readdirSync(dir).sort(), ['tmp'], 'nothing half written beside --out');
  t.same(readdirSync(tmp), [], 'the collected parts are removed');
});
