/**
 * `pf`, `se` and `schedule` say that an input file cannot be read as the other commands do (`--ca:
 * cannot read FILE: no such file (ENOENT)`): the path, the reason in words and the system code. They
 * said `FILE: cannot read: ENOENT`, or Node's own message (`ENOENT: no such file or directory, open ...`).
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { tempDir } from '../helpers/agent-process.js';
import { runCli } from './run-cli.js';

const CASE = '% a 2-bus case\nfunction mpc = c\nmpc.baseMVA = 100;\nmpc.bus = [1 3 0 0 0 0 1 1 0 230 1 1.1 0.9; 2 1 10 5 0 0 1 1 0 230 1 1.1 0.9];\nmpc.gen = [1 0 0 100 -100 1 100 1 200 0];\nmpc.branch = [1 2 0.01 0.1 0 0 0 0 0 0 1 -360 360];\n';

t.test('pf, se, schedule: a missing or unreadable input names the file (and the option) with the reason in words and its code', async (t) => {
  const dir = tempDir();
  const net = join(dir, 'case.m');
  writeFileSync(net, CASE);
  const missing = join(dir, 'none.m');
  const folder = join(dir, 'folder.json');
  mkdirSync(folder);
  const cases: [string[], string][] = [
    [['pf', missing], `gridedge pf: cannot read ${missing}: no such file (ENOENT)\n`],
    [['pf', `${join(dir, 'eq.xml')},${join(dir, 'tp.xml')}`], `gridedge pf: cannot read ${join(dir, 'eq.xml')}: no such file (ENOENT)\n`],
    [['pf', join(dir, 'no-folder', 'case.m')], `gridedge pf: cannot read ${join(dir, 'no-folder', 'case.m')}: no such file (ENOENT)\n`],
    [['se', '--network', missing, '--measurements', join(dir, 'm.json')], `gridedge se: --network: cannot read ${missing}: no such file (ENOENT)\n`],
    [['se', '--network', net, '--measurements', join(dir, 'm.json')], `gridedge se: --measurements: cannot read ${join(dir, 'm.json')}: no such file (ENOENT)\n`],
    [['se', '--network', net, '--measurements', folder], `gridedge se: --measurements: cannot read ${folder}: is a folder, not a file (EISDIR)\n`],
    [['schedule', '--input', join(dir, 'job.json')], `gridedge schedule: --input: cannot read ${join(dir, 'job.json')}: no such file (ENOENT)\n`],
    [['schedule', '--input', folder], `gridedge schedule: --input: cannot read ${folder}: is a folder, not a file (EISDIR)\n`],
  ];
  for (const [args, stderr] of cases) t.same(await runCli(args), { code: 1, stdout: '', stderr }, args.join(' '));
  const ok = await runCli(['pf', net]);
  t.equal(ok.code, 0, `a readable case still runs: ${ok.stderr}`);
});

t.test('pf: a file the user may not read is "permission denied (EACCES)" (not as root, who may read anything)', { skip: process.getuid?.() === 0 ? 'runs as root' : false }, async (t) => {
  const dir = tempDir();
  const net = join(dir, 'case.m');
  writeFileSync(net, CASE);
  chmodSync(net, 0o000);
  t.same(await runCli(['pf', net]), { code: 1, stdout: '', stderr: `gridedge pf: cannot read ${net}: permission denied (run as a user who may read it, or with sudo) (EACCES)\n` });
});
