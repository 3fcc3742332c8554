/**
 * Package figures for `npm run bench` (part "package"): the amd64 .deb's size, its installed size,
 * and, installed in a clean Debian root and run as the gridedge user with the packaged config,
 * the cold start time to READY=1 on a real notify socket and the RSS idle and at 1 000
 * measurements/s (a simulated PMU). Needs root and the package from prepare.sh (or dist/deb).
 * Bounded: three starts and two runs of a few seconds each.
 */
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { NotifySocket } from '../ops/notify-socket.js';
import { waitFor } from '../helpers/wait.js';
import { cleanRoot, debFile, sh, skipReason, type CleanRoot } from './root.js';

interface Run {
  readyMs: number;
  rssMiB: number;
}

/** The `Environment=` settings of the installed unit, so the agent runs here as systemd would run it. */
function unitEnvironment(root: CleanRoot): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(root.path('lib/systemd/system/gridedge.service'), 'utf8').split('\n')) {
    const m = /^Environment=([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

/** Start the installed agent (with its unit's environment); READY time from spawn, then RSS after `settleMs`; SIGTERM. */
async function runOnce(root: CleanRoot, drivers: string, settleMs: number): Promise<Run> {
  const sock = new NotifySocket(root.path('tmp/notify.sock'));
  chmodSync(sock.path, 0o777); // the agent runs as gridedge and must be able to send
  const t0 = process.hrtime.bigint();
  const child = spawn('/usr/sbin/chroot', ['--userspec=gridedge:gridedge', root.dir, 'gridedge', 'run', '--config', '/etc/gridedge/gridedge.yaml'], {
    env: { ...unitEnvironment(root), PATH: '/usr/bin:/bin', NOTIFY_SOCKET: '/tmp/notify.sock', GRIDEDGE_MQTT_PORT: '0', GRIDEDGE_HTTP_PORT: '0', GRIDEDGE_DRIVERS: drivers },
    stdio: 'ignore',
  });
  try {
    const ready = await waitFor('READY=1 from the installed agent', () => sock.with('READY', '1')[0], { on: [[sock, 'datagram']], timeoutMs: 60_000 });
    const readyMs = Number(process.hrtime.bigint() - t0) / 1e6 - (Date.now() - ready.at);
    await new Promise((r) => setTimeout(r, settleMs)); // a bench: let memory settle under the load
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    const rssKiB = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]);
    return { readyMs: Math.round(readyMs), rssMiB: Math.round((rssKiB / 1024) * 10) / 10 };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    sock.close();
    await sh('rm', ['-f', root.path('tmp/notify.sock')]);
  }
}

export async function benchPackage(): Promise<Record<string, unknown>> {
  const why = skipReason();
  if (why) return { skipped: why };
  const deb = debFile('amd64');
  const installedKiB = Number((await sh('dpkg-deb', ['-f', deb, 'Installed-Size'])).stdout.trim());
  const root = await cleanRoot('amd64');
  try {
    copyFileSync(deb, root.path(`tmp/${basename(deb)}`));
    const inst = await root.run(['dpkg', '-i', `/tmp/${basename(deb)}`]);
    if (inst.code !== 0) throw new Error(`dpkg -i: ${inst.stderr}`);
    const du = await root.run(['du', '-sk', '/usr/lib/gridedge']);
    const starts: number[] = [];
    let idle: Run | null = null;
    for (let i = 0; i < 3; i++) {
      idle = await runOnce(root, '[]', 3000);
      starts.push(idle.readyMs);
    }
    const loaded = await runOnce(root, '[{"type":"sim-pmu","id":"pmu1","rate":1000}]', 10_000);
    const sorted = [...starts].sort((a, b) => a - b);
    return {
      debBytes: statSync(deb).size,
      installedSizeKiB: installedKiB,
      usrLibGridedgeKiB: Number(du.stdout.split('\t')[0]),
      coldStartToReadyMs: { runs: starts, median: sorted[1] },
      rssIdleMiB: idle!.rssMiB,
      rssAt1000PerSecondMiB: loaded.rssMiB,
      note: 'Debian 13 root, Node 20.19 from Debian, the unit\'s Environment= settings, packaged config (no drivers) for idle; a sim-pmu at 1000/s for the loaded figure after 10 s',
    };
  } finally {
    await root.destroy();
  }
}
