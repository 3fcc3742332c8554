/**
 * Checks of one built package (content-amd64.slow.ts, content-arm64.slow.ts run them): what is inside and what is not, the control fields, the
 * conffile, and lintian (no error, no warning; the info tags kept are overridden with reasons in
 * packaging/lintian-overrides).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { repoRoot } from '../helpers/agent-process.js';
import { debFile, packageVersion, sh, skipReason } from './root.js';

const skip = skipReason();

export function contentTests(arch: 'amd64' | 'arm64'): void {
  t.test(`${arch}: contents, control fields, conffile`, { skip: skip ?? false }, async (t) => {
    const deb = debFile(arch);
    t.match(deb, new RegExp(`/gridedge_${packageVersion().replace(/\./g, '\\.')}_${arch}\\.deb$`), 'named gridedge_<version>_<arch>.deb');
    const list = await sh('dpkg-deb', ['-c', deb]);
    t.equal(list.code, 0, list.stderr);
    const paths = list.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => l.slice(l.indexOf('./') + 1).replace(/ -> .*$/, ''));
    for (const p of ['/usr/bin/gridedge', '/lib/systemd/system/gridedge.service', '/etc/gridedge/gridedge.yaml', '/usr/lib/gridedge/dist/agent/cli/main.js', '/usr/lib/gridedge/package.json', '/usr/share/doc/gridedge/copyright'])
      t.ok(paths.includes(p), `contains ${p}`);
    const app = paths.filter((p) => p.startsWith('/usr/lib/gridedge/'));
    t.same(app.filter((p) => /\.(ts|mts|cts|map)$/.test(p)), [], 'no TypeScript sources, declarations or source maps');
    t.same(app.filter((p) => p.startsWith('/usr/lib/gridedge/dist/test') || p.includes('/bench/')), [], 'no tests or benchmarks');
    const tops = new Set(app.filter((p) => p.startsWith('/usr/lib/gridedge/dist/')).map((p) => p.split('/')[5]).filter(Boolean));
    t.same([...tops].sort(), ['agent', 'algorithms', 'drivers'], 'only the runtime folders are compiled in');
    // Every package the lock file marks dev-only (typescript, tap, playwright-core ...) is absent.
    const lock = JSON.parse(readFileSync(join(repoRoot(), 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devOnly = Object.entries(lock.packages).filter(([k, v]) => k.startsWith('node_modules/') && v.dev).map(([k]) => `/usr/lib/gridedge/${k}/`);
    t.ok(devOnly.length > 50, `the lock file lists dev-only packages (${devOnly.length})`);
    t.same(devOnly.filter((d) => app.some((p) => p.startsWith(d))), [], 'no dev-only package is in the package');
    for (const prod of ['aedes', 'better-sqlite3', 'fastify', 'mqtt', 'pino', 'unix-dgram'])
      t.ok(app.some((p) => p.startsWith(`/usr/lib/gridedge/node_modules/${prod}/`)), `has production dependency ${prod}`);

    // The addons are ELF objects for this architecture.
    const tmp = (await sh('mktemp', ['-d'])).stdout.trim();
    t.teardown(() => void sh('rm', ['-rf', tmp]));
    t.equal((await sh('dpkg-deb', ['-x', deb, tmp])).code, 0);
    const machine = arch === 'amd64' ? /x86-64/ : /aarch64|ARM aarch64/;
    for (const addon of ['better-sqlite3/build/Release/better_sqlite3.node', 'unix-dgram/build/Release/unix_dgram.node']) {
      const f = await sh('file', ['-b', `${tmp}/usr/lib/gridedge/node_modules/${addon}`]);
      t.match(f.stdout, machine, `${addon} is built for ${arch}: ${f.stdout.trim()}`);
    }

    const field = async (name: string) => (await sh('dpkg-deb', ['-f', deb, name])).stdout.trim();
    t.equal(await field('Architecture'), arch);
    t.equal(await field('Version'), packageVersion());
    t.match(await field('Depends'), /^nodejs \(>= 20\), nodejs \(<< 21\), libc6 \(>= 2\.\d+\)/);
    const ctrl = await sh('dpkg-deb', ['--ctrl-tarfile', deb]);
    t.equal(ctrl.code, 0);
    const conffiles = await sh('sh', ['-c', `dpkg-deb --ctrl-tarfile '${deb}' | tar -xOf - ./conffiles`]);
    t.equal(conffiles.stdout, '/etc/gridedge/gridedge.yaml\n', 'the config is a conffile');
  });

  t.test(`${arch}: lintian reports no error and no warning`, { skip: skip ?? false }, async (t) => {
    const r = await sh('lintian', ['--tag-display-limit', '0', '--fail-on', 'none', debFile(arch)], { timeoutMs: 100_000 });
    const tags = r.stdout.split('\n').filter((l) => /^[EW]: /.test(l));
    t.same(tags, [], `lintian E/W tags:\n${tags.join('\n')}`);
    t.equal(r.code, 0, r.stderr);
  });
}
