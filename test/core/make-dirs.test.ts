/**
 * makeDirs (agent/core/make-dirs.ts), the agent's `mkdir -p`: nested folders created, an existing one
 * accepted, a file in the way and a folder the file system refuses are errors naming the path. The
 * last case is why it exists: Node 20's `mkdirSync(dir, { recursive: true })` never returns for
 * `/proc/<name>` (procfs answers ENOENT), so an agent with `storage.dir: /proc/...` spun a core and
 * ignored SIGTERM. Checked on the real agent too.
 */
import t from 'tap';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeDirs } from '../../agent/core/make-dirs.js';
import { startAgent, tempDir } from '../helpers/agent-process.js';
import { withTimeout } from '../helpers/wait.js';

t.test('creates what is missing, accepts what is there, names what is in the way', async (t) => {
  const root = tempDir('gridedge-make-dirs-');
  const deep = join(root, 'a', 'b', 'c');
  makeDirs(deep);
  t.ok(statSync(deep).isDirectory(), 'nested folders created');
  t.doesNotThrow(() => makeDirs(deep), 'an existing folder is fine');
  writeFileSync(join(root, 'file'), 'x');
  t.throws(() => makeDirs(join(root, 'file')), { code: 'ENOTDIR', message: /not a folder, .*file$/ }, 'a file where the folder should be');
  t.throws(() => makeDirs(join(root, 'file', 'sub')), { code: 'ENOTDIR', message: /file\/sub/ }, 'a file in the way above it');
});

t.test('a folder procfs refuses is an error at once, not an endless loop', { skip: !existsSync('/proc/self') && 'no /proc here' }, async (t) => {
  t.throws(() => makeDirs('/proc/gridedge-no-such-folder/data'), { code: 'ENOENT', message: /\/proc\/gridedge-no-such-folder/ });
});

t.test('the agent with storage.dir under /proc stops with an error naming the folder', { skip: !existsSync('/proc/self') && 'no /proc here' }, async (t) => {
  const agent = await startAgent({ config: { storage: { dir: '/proc/gridedge-no-such-folder' } }, noWait: true });
  t.teardown(() => agent.stop('SIGKILL'));
  const { code } = await withTimeout(agent.exited, 'the agent to exit', 30_000);
  t.not(code, 0, 'a non-zero exit');
  t.ok(
    agent.logs.some((l) => /\/proc\/gridedge-no-such-folder/.test(JSON.stringify(l))),
    `a log line names the folder (${agent.logs.map((l) => l.msg).join(' | ')})`,
  );
});
