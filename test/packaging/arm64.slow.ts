/**
 * The arm64 package really works on arm64: installed with dpkg -i into a clean arm64 Debian root
 * that runs under qemu-user-static, `gridedge --version` answers, and the agent starts, opens its
 * SQLite buffer through the arm64 better-sqlite3 addon, stores data and stops cleanly.
 */
import { copyFileSync } from 'node:fs';
import { basename } from 'node:path';
import t from 'tap';
import { waitFor } from '../helpers/wait.js';
import { cleanRoot, debFile, packageVersion, runAgentInRoot, skipReason } from './root.js';

const skip = skipReason();

t.test('arm64 package under qemu: version, the addon loads, a buffer opens', { skip: skip ?? false }, async (t) => {
  const root = await cleanRoot('arm64');
  t.teardown(() => root.destroy());
  const uname = await root.run(['uname', '-m']);
  t.equal(uname.stdout, 'aarch64\n', 'the root runs arm64 binaries (qemu-user-static)');

  const deb = debFile('arm64');
  copyFileSync(deb, root.path(`tmp/${basename(deb)}`));
  const inst = await root.run(['dpkg', '-i', `/tmp/${basename(deb)}`], { timeoutMs: 120_000 });
  t.equal(inst.code, 0, `dpkg -i: ${inst.stdout}${inst.stderr}`);

  const v = await root.run(['gridedge', '--version'], { timeoutMs: 60_000 });
  t.same({ code: v.code, out: v.stdout }, { code: 0, out: `${packageVersion()}\n` }, `gridedge --version: ${v.stderr}`);

  // The agent with a simulated PMU (so rows are stored), as the gridedge user; stopped by SIGTERM
  // once its status shows rows committed to the buffer. Under emulation everything is slower.
  const agent = runAgentInRoot(root, { GRIDEDGE_DRIVERS: '[{"type":"sim-pmu","id":"pmu1","rate":10}]' });
  t.teardown(() => agent.stop());
  const url = await agent.ready(60_000);
  t.pass('the agent started on arm64');
  const lastSeq = await waitFor('rows committed to the arm64 buffer', async () => {
    const s = (await (await fetch(`${url}/api/v1/status`)).json()) as { buffer: { lastSeq: number } | null };
    return (s.buffer?.lastSeq ?? 0) > 0 && s.buffer!.lastSeq;
  }, { intervalMs: 200, timeoutMs: 30_000, retryErrors: true });
  t.ok(lastSeq > 0, `buffer lastSeq ${lastSeq}`);
  t.equal(await agent.stop(), 0, `stopped cleanly: ${agent.output()}`);
  t.ok(agent.logs.some((l) => l.msg === 'gridedge stopped' && l.code === 0), 'logged a clean stop');
  // The buffer file was written through the arm64 addon; read it back with it, in the root.
  const rows = await root.run(
    ['node', '-e', "const D=require('/usr/lib/gridedge/node_modules/better-sqlite3');const db=new D('/var/lib/gridedge/buffer.db',{readonly:true});console.log(db.prepare(\"select count(*) n from messages m left join shapes s on s.id = m.shape where coalesce(s.topic, m.topic)='bal/processed/pmu1'\").get().n)"],
    { user: 'gridedge:gridedge', timeoutMs: 60_000 },
  );
  t.equal(rows.code, 0, rows.stderr);
  t.ok(Number(rows.stdout) > 0, `measurements stored in the arm64 buffer (${rows.stdout.trim()})`);
});
