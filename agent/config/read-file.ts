/**
 * Reads a config file: YAML (.yaml, .yml) or JSON (.json), by extension. A syntax error names the
 * file, line and column: `gridedge.yaml:3:5: YAML syntax error: ...`.
 */
import { scanJson } from '../pipeline/json-limits.js';
import { jsonSyntaxError, lineColumn } from '../../algorithms/common/json-syntax.js';
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import yaml from 'js-yaml';
import type { Problem } from './problems.js';

/** The JSON position helpers live in algorithms/common (the grid inputs use them too). */
export { jsonSyntaxError, lineColumn };

export type ReadResult = { ok: true; doc: unknown } | { ok: false; problems: Problem[] };

/** Keys that could reach an object's prototype when copied or merged: refused anywhere in a config. */
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

/** The document, or a problem naming every forbidden key with its path. */
function forbiddenKeys(doc: unknown, file: string): ReadResult {
  const problems: Problem[] = [];
  const walk = (x: unknown, path: string): void => {
    if (Array.isArray(x)) x.forEach((v, k) => walk(v, `${path}[${k}]`));
    else if (typeof x === 'object' && x !== null)
      for (const k of Object.keys(x)) {
        const here = path ? `${path}.${k}` : k;
        if (FORBIDDEN.has(k)) problems.push({ path: here, message: `is not allowed as a key (in ${file})` });
        else walk((x as Record<string, unknown>)[k], here);
      }
  };
  walk(doc, '');
  return problems.length ? { ok: false, problems } : { ok: true, doc };
}

export function parseConfigText(text: string, file: string): ReadResult {
  const ext = extname(file).toLowerCase();
  if (ext === '.json') {
    const body = text.replace(/^\uFEFF/, '');
    try {
      const doc: unknown = JSON.parse(body);
      // JSON.parse keeps the last of two equal member names silently: a config must say one thing.
      const dup = scanJson(body, { maxDepth: 256, maxKeys: 1_000_000 });
      if (dup) return { ok: false, problems: [{ path: file, message: `JSON: ${dup.detail}` }] };
      return forbiddenKeys(doc, file);
    } catch (e) {
      const where = jsonSyntaxError(body);
      if (!where) return { ok: false, problems: [{ path: file, message: `JSON syntax error: ${(e as Error).message.split('\n')[0]}` }] };
      const { line, column } = lineColumn(body, where.offset);
      return { ok: false, problems: [{ path: `${file}:${line}:${column}`, message: `JSON syntax error: ${where.reason}` }] };
    }
  }
  if (ext === '.yaml' || ext === '.yml') {
    try {
      return forbiddenKeys(yaml.load(text, { filename: file }), file);
    } catch (e) {
      if (e instanceof yaml.YAMLException) {
        const mark = (e as yaml.YAMLException & { mark?: { line: number; column: number } }).mark;
        const path = mark ? `${file}:${mark.line + 1}:${mark.column + 1}` : file;
        return { ok: false, problems: [{ path, message: `YAML syntax error: ${e.reason}` }] };
      }
      throw e;
    }
  }
  return unknownType(file);
}

const KNOWN = new Set(['.json', '.yaml', '.yml']);

function unknownType(file: string): ReadResult {
  const ext = extname(file).toLowerCase();
  return {
    ok: false,
    problems: [{ path: file, message: `unknown config file type "${ext || '(no extension)'}": use .yaml, .yml or .json` }],
  };
}

export function readConfigFile(file: string): ReadResult {
  if (!KNOWN.has(extname(file).toLowerCase())) return unknownType(file);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.code === 'EISDIR' ? 'is a directory' : err.message;
    return { ok: false, problems: [{ path: file, message: `cannot read the config file: ${why}` }] };
  }
  return parseConfigText(text, file);
}
