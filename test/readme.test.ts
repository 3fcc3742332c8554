/** The README stays true: its configuration reference is the schema's own description. */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { schemaMarkdown } from '../agent/config/index.js';
import { repoRoot } from './helpers/agent-process.js';

t.test('README configuration reference matches the convict schema (regenerate: npm run readme)', async (t) => {
  const readme = readFileSync(join(repoRoot(), 'README.md'), 'utf8');
  const m = /<!-- config-reference:start -->\n([\s\S]*?)\n<!-- config-reference:end -->/.exec(readme);
  t.ok(m, 'markers present');
  t.equal(m?.[1], schemaMarkdown(undefined, 3).trim());
});

t.test('README names the two commands and .ci/run runs the test one', async (t) => {
  const root = repoRoot();
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  t.match(readme, /npm ci && npm start/);
  t.match(readme, /npm run test:all/);
  t.match(readFileSync(join(root, '.ci', 'run'), 'utf8'), /^npm run test:all$/m);
});
