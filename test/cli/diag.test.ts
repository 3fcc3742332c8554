/** `gridedge diag --out`: where the bundle goes, and what it may not overwrite. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { tempDir } from '../helpers/agent-process.js';
import { refusedPort } from '../helpers/ports.js';
import { runCli } from './run-cli.js';

t.test('diag --out FILE that is not a .tar.gz: refused, the file untouched (it was overwritten with the bundle)', async (t) => {
  const dir = tempDir();
  const config = join(dir, 'gridedge.yaml');
  writeFileSync(config, 'gateway: { id: gw-1 }\n');
  const r = await runCli(['diag', '-o', config, '--url', `http://127.0.0.1:${await refusedPort()}`], { cwd: dir });
  t.equal(r.code, 1);
  t.equal(r.stderr, `gridedge diag: --out: must name a .tar.gz or .tgz file (the bundle is a gzip tar) or a folder, got ${JSON.stringify(config)}\n`);
  t.equal(readFileSync(config, 'utf8'), 'gateway: { id: gw-1 }\n', 'the config is as it was');
});

t.test('diag --out FOLDER: the bundle under its default name in that folder (tar failed: cannot open a folder)', async (t) => {
  const dir = tempDir();
  const folder = join(dir, 'bundles');
  mkdirSync(folder);
  const r = await runCli(['diag', '--out', folder, '--url', `http://127.0.0.1:${await refusedPort()}`, '--lines', '1', '--timeout', '2'], { cwd: dir });
  t.equal(r.code, 0, r.stderr);
  const files = readdirSync(folder);
  t.equal(files.length, 1, files.join(', '));
  t.match(files[0], /^gridedge-diag-.+-\d{8}T\d{6}Z\.tar\.gz$/);
  t.equal(r.stdout.split('\n')[0], join(folder, files[0]!), 'the path is printed first');
  const listing = execFileSync('tar', ['-tzf', join(folder, files[0]!)], { encoding: 'utf8' });
  t.match(listing, /summary\.json/, 'a real bundle');
});
