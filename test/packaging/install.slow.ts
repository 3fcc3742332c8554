/**
 * The amd64 package in a clean Debian 13 root (debootstrap; nodejs 20 and systemd installed,
 * nothing of gridedge): dpkg -i; the command, the config check, the user, folders and modes the
 * postinst makes, the unit enabled; the agent really runs there as the gridedge user (the addon
 * loads, the buffer opens); the unit verifies clean and its exposure score; an upgrade keeps an
 * edited conffile; purge leaves no file, no user and no group behind.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import t from 'tap';
import { cleanRoot, debFile, fileList, packageVersion, runAgentInRoot, sh, skipReason, type CleanRoot } from './root.js';

const skip = skipReason();

/** The same package with another version (what an upgrade installs). */
async function bumped(deb: string, version: string, dir: string): Promise<string> {
  const tree = join(dir, 'tree');
  for (const [cmd, args] of [
    ['dpkg-deb', ['-R', deb, tree]],
    ['sed', ['-i', `s/^Version: .*/Version: ${version}/`, join(tree, 'DEBIAN', 'control')]],
    ['dpkg-deb', ['--root-owner-group', '-Zxz', '-b', tree, join(dir, `gridedge_${version}_amd64.deb`)]],
  ] as const) {
    const r = await sh(cmd, args);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  }
  return join(dir, `gridedge_${version}_amd64.deb`);
}

t.test('install, run, upgrade and purge in a clean Debian root', { skip: skip ?? false }, async (t) => {
  const root: CleanRoot = await cleanRoot('amd64');
  t.teardown(() => root.destroy());
  const before = await fileList(root);
  const version = packageVersion();

  const deb = debFile('amd64');
  copyFileSync(deb, root.path(`tmp/${basename(deb)}`));
  const inst = await root.run(['dpkg', '-i', `/tmp/${basename(deb)}`]);
  t.equal(inst.code, 0, `dpkg -i: ${inst.stdout}${inst.stderr}`);

  const v = await root.run(['gridedge', '--version']);
  t.same({ code: v.code, out: v.stdout }, { code: 0, out: `${version}\n` }, `gridedge --version: ${v.stderr}`);
  const check = await root.run(['gridedge', 'config', 'check', '/etc/gridedge/gridedge.yaml']);
  t.same({ code: check.code, out: check.stdout }, { code: 0, out: '/etc/gridedge/gridedge.yaml: ok\n' }, check.stderr);

  t.match((await root.run(['getent', 'passwd', 'gridedge'])).stdout, /^gridedge:x:\d+:\d+:gridedge gateway agent:\/var\/lib\/gridedge:\/usr\/sbin\/nologin\n$/, 'system user');
  t.equal((await root.run(['stat', '-c', '%U:%G %a', '/var/lib/gridedge'])).stdout, 'gridedge:gridedge 750\n', 'data folder');
  t.equal((await root.run(['stat', '-c', '%U:%G %a', '/etc/gridedge/gridedge.yaml'])).stdout, 'root:gridedge 640\n', 'config readable by the agent only');
  const wants = await root.run(['readlink', '/etc/systemd/system/multi-user.target.wants/gridedge.service']);
  t.match(wants.stdout, /^(\/usr)?\/lib\/systemd\/system\/gridedge\.service\n$/, 'the unit is enabled on install');

  // The agent runs as its user with the packaged config (ports 0: free ones), opens the buffer in
  // /var/lib/gridedge, and stops cleanly.
  const agent = runAgentInRoot(root);
  t.teardown(() => agent.stop());
  await agent.ready(30_000);
  t.pass('the agent started');
  t.equal(await agent.stop(), 0, `exit 0 after SIGTERM: ${agent.output()}`);
  t.ok(agent.logs.some((l) => l.msg === 'gridedge stopped' && l.code === 0), 'and logged a clean stop');
  t.equal((await root.run(['stat', '-c', '%U', '/var/lib/gridedge/buffer.db'])).stdout, 'gridedge\n', 'the buffer was created by the agent');

  // The unit, as installed: the root's own systemd-analyze verifies it clean (its warning that
  // /sys is not mounted in the chroot is about the check's environment, not the unit); the
  // exposure score is reported and low.
  const verify = await root.run(['systemd-analyze', 'verify', '/lib/systemd/system/gridedge.service']);
  const complaints = (verify.stdout + verify.stderr).split('\n').filter((l) => l.trim() && !/proc\/ is not mounted|\/sys\/ properly|mileage may vary/.test(l));
  t.same({ code: verify.code, complaints }, { code: 0, complaints: [] }, 'systemd-analyze verify is clean');
  const sec = await sh('systemd-analyze', ['security', '--offline=true', `--root=${root.dir}`, '/lib/systemd/system/gridedge.service']);
  const score = Number(/Overall exposure level for gridedge\.service: ([\d.]+)/.exec(sec.stdout)?.[1]);
  t.ok(score > 0 && score <= 2.0, `systemd-analyze security exposure ${score} <= 2.0`);
  t.comment(`systemd-analyze security: exposure ${score}`);

  // Upgrade: the administrator's edit of the conffile is kept, and so are its owner and mode.
  const conf = root.path('etc/gridedge/gridedge.yaml');
  writeFileSync(conf, readFileSync(conf, 'utf8').replace('id: gw-1', 'id: substation-7') + '# edited by the technician\n');
  const tmp = join(root.dir, '..');
  const next = await bumped(deb, `${version}+1`, tmp);
  copyFileSync(next, root.path(`tmp/${basename(next)}`));
  const up = await root.run(['dpkg', '-i', `/tmp/${basename(next)}`]);
  t.equal(up.code, 0, `upgrade: ${up.stdout}${up.stderr}`);
  t.match((await root.run(['dpkg-query', '-W', '-f', '${Version}', 'gridedge'])).stdout, `${version}+1`);
  const kept = readFileSync(conf, 'utf8');
  t.match(kept, /id: substation-7/, 'the edited gateway id is kept');
  t.match(kept, /# edited by the technician\n$/, 'the added line is kept');
  t.equal((await root.run(['stat', '-c', '%U:%G %a', '/etc/gridedge/gridedge.yaml'])).stdout, 'root:gridedge 640\n');
  t.equal((await root.run(['gridedge', 'config', 'check', '/etc/gridedge/gridedge.yaml'])).code, 0, 'the kept config is still valid');

  // Purge: nothing of gridedge remains: no file, no user, no group, no unit state.
  const purge = await root.run(['dpkg', '--purge', 'gridedge']);
  t.equal(purge.code, 0, `purge: ${purge.stdout}${purge.stderr}`);
  const after = await fileList(root);
  t.same([...after].filter((p) => !before.has(p)).sort(), [], 'no path was left behind');
  t.same([...before].filter((p) => !after.has(p)).sort(), [], 'no path of the clean root was removed');
  t.equal((await root.run(['getent', 'passwd', 'gridedge'])).code, 2, 'no user');
  t.equal((await root.run(['getent', 'group', 'gridedge'])).code, 2, 'no group');
});
