/**
 * The unit's serial device groups: DevicePolicy=closed with one `DeviceAllow=char-<group> rw` per
 * serial device group, the same groups systemd/README.md lists for technicians; systemd parses the
 * unit without complaint (where systemd-analyze exists; the binary it runs is not installed here).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { repoRoot } from '../helpers/agent-process.js';

const unitFile = join(repoRoot(), 'systemd', 'gridedge.service');
const unit = readFileSync(unitFile, 'utf8');

t.test('DevicePolicy=closed; the serial groups allowed are those systemd/README.md lists', async (t) => {
  t.match(unit, /^DevicePolicy=closed$/m);
  const allows = [...unit.matchAll(/^DeviceAllow=(.*)$/gm)].map((m) => m[1]!);
  t.same(allows.filter((a) => !/^char-tty[A-Za-z]+ rw$/.test(a)), [], 'only serial tty groups, read-write, no mknod');
  const groups = allows.map((a) => /^char-(\S+)/.exec(a)![1]!);
  for (const g of ['ttyS', 'ttyUSB', 'ttyACM', 'ttyAMA', 'ttymxc', 'ttyLP', 'ttySC', 'ttyTHS', 'ttyO']) t.ok(groups.includes(g), g);
  const readme = readFileSync(join(repoRoot(), 'systemd', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Serial ports'), readme.indexOf('### A port below 1024'));
  const listed = [...section.matchAll(/^\| ([^|]+) \|/gm)].flatMap((m) => [...m[1]!.matchAll(/`(tty[A-Za-z]+)`/g)].map((x) => x[1]!));
  t.same([...listed].sort(), [...groups].sort(), 'the README table lists exactly the allowed groups');
  t.match(section, /systemctl edit gridedge[\s\S]*DeviceAllow=char-ttyXY rw/, 'with how to add another');
});

t.test('systemd-analyze verify: no problem but the binary not installed here', { skip: spawnSync('systemd-analyze', ['--version']).error ? 'no systemd-analyze' : false }, async (t) => {
  const r = spawnSync('systemd-analyze', ['verify', unitFile], { encoding: 'utf8' });
  const problems = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() && !/Command \/usr\/bin\/gridedge is not executable/.test(l));
  t.same(problems, []);
});
