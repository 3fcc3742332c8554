/**
 * The man page cannot drift from the CLI: its COMMANDS section is made from the command table
 * (agent/cli/man.ts), the committed packaging/gridedge.1 is that page (regenerate: npm run man), and
 * the package ships what packaging/man-page.mjs prints.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { optionDescription, optionLabel } from '../../agent/cli/command.js';
import { COMMANDS } from '../../agent/cli/commands/index.js';
import { manCommands, renderManPage, roffText } from '../../agent/cli/man.js';
import { repoRoot } from '../helpers/agent-process.js';

const page = readFileSync(join(repoRoot(), 'packaging', 'gridedge.1'), 'utf8');

t.test('packaging/gridedge.1 is the page the command table gives (regenerate: npm run man)', async (t) => {
  t.equal(page, renderManPage(page));
  t.equal(execFileSync(process.execPath, [join(repoRoot(), 'packaging', 'man-page.mjs')], { encoding: 'utf8' }), page, 'what build-deb.sh ships');
  t.match(readFileSync(join(repoRoot(), 'packaging', 'build-deb.sh'), 'utf8'), /node "\$root\/packaging\/man-page\.mjs" \| gzip -9n >"\$pkg\/usr\/share\/man\/man1\/gridedge\.1\.gz"/);
});

t.test('every command, argument and option is in the page, as --help names it', async (t) => {
  for (const c of COMMANDS) {
    t.ok(page.includes(`.B ${roffText(c.name)}`), `${c.name}`);
    for (const p of c.positionals) t.ok(page.includes(`.B ${roffText(p.name)}\n${roffText(p.description)}\n`), `${c.name} ${p.name}`);
    for (const [k, o] of Object.entries(c.options)) t.ok(page.includes(`.B ${roffText(optionLabel(k, o))}\n${roffText(optionDescription(o))}\n`), `${c.name} --${k}`);
  }
  t.match(manCommands([{ name: 'x', summary: "a .b 'c -d \\e", options: {}, positionals: [], run: async () => 0 }]), ".TP\n.B x\na .b 'c \\-d \\ee.\n");
  t.equal(roffText('.x\n\'y'), '\\&.x\n\\&\'y', 'a line starting with . or \' is text');
});

t.test('man renders the page without warnings', { skip: spawnSync('man', ['--version']).error ? 'no man here' : false }, async (t) => {
  const r = spawnSync('man', ['--warnings', '-E', 'UTF-8', '-l', '-Tutf8', '-Z', join(repoRoot(), 'packaging', 'gridedge.1')], {
    env: { ...process.env, LC_ALL: 'C.UTF-8', MANWIDTH: '80' },
    encoding: 'utf8',
  });
  t.equal(r.status, 0);
  t.equal(r.stderr, '', 'no groff warnings');
});
