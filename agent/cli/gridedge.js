#!/usr/bin/env node
// The `gridedge` command. The TypeScript sources compile to dist/ (npm run build).
import('../../dist/agent/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/agent/cli/main.js')) {
    process.stderr.write('gridedge: not built yet — run `npm ci && npm run build` in the repository first\n');
    process.exit(1);
  }
  throw err;
});
