#!/usr/bin/env node
// The man page with its COMMANDS section made from the CLI's command table (agent/cli/man.ts).
//   node packaging/man-page.mjs           print it (packaging/build-deb.sh ships what this prints)
//   node packaging/man-page.mjs --write   update packaging/gridedge.1 (npm run man)
// Needs the compiled JavaScript (npm run build).
import { readFileSync, writeFileSync } from 'node:fs';
const root = new URL('../', import.meta.url);
const { renderManPage } = await import(new URL('dist/agent/cli/man.js', root));
const file = new URL('packaging/gridedge.1', root);
const page = renderManPage(readFileSync(file, 'utf8'));
if (process.argv[2] === '--write') {
  writeFileSync(file, page);
  console.log('packaging/gridedge.1: COMMANDS regenerated');
} else process.stdout.write(page);
