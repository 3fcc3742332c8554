/**
 * Reads a config file: YAML (.yaml, .yml) or JSON (.json), by extension. A syntax error names the
 * file, line and column: `gridedge.yaml:3:5: YAML syntax error: ...`.
 */
import { scanJson } from '../pipeline/json-limits.js';
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import yaml from 'js-yaml';
import type { Problem } from './problems.js';

export type ReadResult = { ok: true; doc: unknown } | { ok: false; problems: Problem[] };

/** 1-based line and column of a character offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let k = 0; k < offset && k < text.length; k++) {
    if (text[k] === '\n') {
      line++;
      start = k + 1;
    }
  }
  return { line, column: offset - start + 1 };
}

/**
 * Where JSON text first goes wrong, and why (V8's JSON.parse messages do not always give a
 * position). A small recursive-descent scan over RFC 8259's grammar.
 */
export function jsonSyntaxError(text: string): { offset: number; reason: string } | null {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const fail = (reason: string): never => {
    throw Object.assign(new Error(reason), { offset: i });
  };
  const what = (): string => (i >= text.length ? 'end of file' : `'${text[i]}'`);
  const literal = (word: string): void => {
    if (text.startsWith(word, i)) i += word.length;
    else fail(`unexpected ${what()}`);
  };
  const string = (): void => {
    i++; // opening quote
    while (i < text.length && text[i] !== '"') {
      const c = text.charCodeAt(i);
      if (c < 0x20) fail('control character in string');
      if (text[i] === '\\') {
        i++;
        if (text[i] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail('bad \\u escape');
          i += 5;
          continue;
        }
        if (!'"\\/bfnrt'.includes(text[i] ?? '')) fail('bad escape in string');
      }
      i++;
    }
    if (i >= text.length) fail('unterminated string');
    i++;
  };
  const number = (): void => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (!m || m[0] === '' || m[0] === '-') fail(`unexpected ${what()}`);
    i += m![0].length;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail(`expected a property name in double quotes, found ${what()}`);
        string();
        ws();
        if (text[i] !== ':') fail(`expected ':' after the property name, found ${what()}`);
        i++;
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return;
        }
        fail(`expected ',' or '}', found ${what()}`);
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return;
        }
        fail(`expected ',' or ']', found ${what()}`);
      }
    }
    if (c === '"') return string();
    if (c === 't') return literal('true');
    if (c === 'f') return literal('false');
    if (c === 'n') return literal('null');
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return number();
    fail(`unexpected ${what()}`);
  };
  try {
    value();
    ws();
    if (i < text.length) fail(`unexpected ${what()} after the end of the document`);
    return null;
  } catch (e) {
    return { offset: (e as { offset: number }).offset, reason: (e as Error).message };
  }
}

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
