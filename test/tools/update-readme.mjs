#!/usr/bin/env node
// Regenerates the README's configuration reference from the convict schema (npm run readme).
// test/readme.test.ts fails when the README and the schema disagree.
import { readFileSync, writeFileSync } from 'node:fs';
const root = new URL('../../', import.meta.url);
const { schemaMarkdown } = await import(new URL('dist/agent/config/index.js', root));
const file = new URL('README.md', root);
const readme = readFileSync(file, 'utf8');
const start = '<!-- config-reference:start -->';
const end = '<!-- config-reference:end -->';
const a = readme.indexOf(start);
const b = readme.indexOf(end);
if (a < 0 || b < a) throw new Error('README.md has no config-reference markers');
const body = schemaMarkdown(undefined, 3).trim();
writeFileSync(file, readme.slice(0, a + start.length) + '\n' + body + '\n' + readme.slice(b));
console.log('README.md: configuration reference regenerated');
