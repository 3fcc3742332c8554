/**
 * `gridedge pmu probe` as a real process against the test PMU server: the configuration with units,
 * FORMAT, rate and nominal frequency, decoded frames with STAT in words, the measured rate; --json;
 * data off sent before it exits; exit 1 for bad input and 2 for a refused connection or a silent peer.
 */
import t from 'tap';
import { refusedPort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { runCli } from '../cli/run-cli.js';
import { PmuServer, threePhase } from './pmu-server.js';

t.test('probe prints configuration, frames with STAT in words, rate', async (t) => {
  const srv = await new PmuServer({ idcode: 7734, dataRate: 50, blocks: [threePhase(101, 1, { components: true, stat: 0x2800 | 4 }), threePhase(102, 15)] }).start();
  t.teardown(() => srv.close());
  const r = await runCli(['pmu', 'probe', `127.0.0.1:${srv.port}`, '--idcode', '7734', '--frames', '3']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /IDCODE 7734: CFG3 .*50 frames\/s/, 'stream line: configuration kind and rate');
  t.match(r.stdout, /PMU 1: "PMU 101", IDCODE 101, nominal 50 Hz/, 'station, PMU IDCODE, nominal frequency');
  t.match(r.stdout, /FORMAT: phasors integer polar, analogs integer, FREQ\/DFREQ integer/, 'FORMAT in words');
  t.match(r.stdout, /VA\s+voltage, phase A, 0\.0100000 V\/count -> v\.a/, 'phasor channel with unit, type and mapping');
  t.match(r.stdout, /IC\s+current, phase C, 0\.00500000 A\/count -> i\.c/);
  t.match(r.stdout, /TEMP C\s+scale 1/, 'analog channel');
  t.match(r.stdout, /Digital word 1: BRK Q1, ALARM/, 'digital names');
  t.match(r.stdout, /STAT 0x2804 PMU not in sync with UTC; trigger detected \(frequency high or low\)/, 'STAT explained');
  t.match(r.stdout, /VA 230\.000 V ∠ 0\.00°/, 'decoded phasor');
  t.match(r.stdout, /Frames \(3\)/);
  t.match(r.stdout, /Measured: 3 frames in [\d.]+ s, [\d.]+ frames\/s; latency/, 'measured rate and latency');
  t.match(r.stdout, /Header: gridedge test PMU/, 'header frame text');
  t.same(srv.commands.slice(0, 3), [6, 3, 2], 'asked for CFG-3, then the header, then data on');
  // The probe exits right after writing the command: this server (in this process) may read it a
  // moment after the exit is seen, so wait for it.
  await waitFor('the data-off command (1) the probe sends before leaving', () => srv.commands.includes(1), { detail: () => `commands: ${srv.commands.join(',')}` });
  t.ok(srv.commands.includes(1), 'data off before leaving');

  const j = await runCli(['pmu', 'probe', `127.0.0.1:${srv.port}`, '--idcode', '7734', '--frames', '2', '--json', '--config', 'cfg2']);
  t.equal(j.code, 0, j.stderr);
  const doc = JSON.parse(j.stdout);
  t.equal(doc.config.kind, 'cfg2');
  t.equal(doc.config.dataRate, 50);
  t.equal(doc.config.pmus[1].phasors[3].unit, 'A');
  t.equal(doc.frames.length, 2);
  t.equal(doc.frames[0].pmus[0].stat, 0x2804);
  t.same(doc.frames[0].pmus[1].statText, ['good']);
  t.ok(Math.abs(doc.frames[0].pmus[1].phasors[0].mag - 230) < 1e-3);
  t.equal(doc.measured.frames, 2);
});

t.test('probe: bad input exits 1, unreachable or silent exits 2', async (t) => {
  const noId = await runCli(['pmu', 'probe', '127.0.0.1:4712']);
  t.equal(noId.code, 1);
  t.match(noId.stderr, /--idcode is required/);
  const badHost = await runCli(['pmu', 'probe', 'nohost', '--idcode', '1']);
  t.equal(badHost.code, 1);
  t.match(badHost.stderr, /HOST:PORT must look like/);
  const badId = await runCli(['pmu', 'probe', '127.0.0.1:1', '--idcode', '70000']);
  t.equal(badId.code, 1);
  t.match(badId.stderr, /--idcode: must be an integer between 0 and 65535/);
  const port = await refusedPort();
  const refused = await runCli(['pmu', 'probe', `127.0.0.1:${port}`, '--idcode', '1']);
  t.equal(refused.code, 2);
  t.match(refused.stderr, /cannot connect to 127\.0\.0\.1:\d+: connection refused/);
  // A PMU that never answers the configuration request (another IDCODE's stream ignores us).
  const srv = await new PmuServer({ idcode: 5, dataRate: 50, blocks: [threePhase(5, 0)], cfg3: false, answerDelayMs: 60_000 }).start();
  t.teardown(() => srv.close());
  const silent = await runCli(['pmu', 'probe', `127.0.0.1:${srv.port}`, '--idcode', '5', '--timeout', '0.6']);
  t.equal(silent.code, 2);
  t.match(silent.stderr, /no configuration frame from 127\.0\.0\.1:\d+ within 0\.6 s/);
});
