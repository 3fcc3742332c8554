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

/**
 * The document, or the problems that stop the reading. A failed read may still carry a document
 * (`doc`): problems that leave it usable (a key given twice, a forbidden key, both left out or the
 * last value kept) are reported with the rest of the config's problems, not instead of them.
 */
export type ReadResult = { ok: true; doc: unknown } | { ok: false; problems: Problem[]; doc?: unknown };

/** Keys that could reach an object's prototype when copied or merged: refused anywhere in a config. */
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * The document, or a problem naming every forbidden key with its path (after `before`, the problems
 * already found) and the document without those keys, so that the rest is still checked.
 */
function forbiddenKeys(doc: unknown, file: string, before: Problem[] = []): ReadResult {
  const problems: Problem[] = [...before];
  const walk = (x: unknown, path: string): unknown => {
    if (Array.isArray(x)) return x.map((v, k) => walk(v, `${path}[${k}]`));
    if (typeof x !== 'object' || x === null || x instanceof Date) return x;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(x)) {
      const here = path ? `${path}.${k}` : k;
      if (FORBIDDEN.has(k)) problems.push({ path: here, message: `is not allowed as a key (in ${file})` });
      else out[k] = walk((x as Record<string, unknown>)[k], here);
    }
    return out;
  };
  const clean = walk(doc, '');
  return problems.length ? { ok: false, problems, doc: clean } : { ok: true, doc };
}


/**
 * Where `bytes` are not UTF-8: the offset of each byte that starts no valid UTF-8 character (a
 * lead byte without its continuation, a stray continuation, an overlong form or a surrogate), as
 * the decoder replaces each with U+FFFD.
 */
function nonUtf8Offsets(bytes: Buffer): number[] {
  const out: number[] = [];
  for (let at = 0; at < bytes.length; ) {
    const c = bytes[at]!;
    const n = c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    // The second byte's range excludes overlong forms and surrogates (E0, ED, F0, F4 lead bytes).
    const lo = c === 0xe0 ? 0xa0 : c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xed ? 0x9f : c === 0xf4 ? 0x8f : 0xbf;
    let k = 1;
    for (; n > 0 && k <= n; k++) {
      const x = bytes[at + k];
      if (x === undefined || x < (k === 1 ? lo : 0x80) || x > (k === 1 ? hi : 0xbf)) break;
    }
    if (n < 0 || (n > 0 && k <= n)) {
      // One replacement for the longest valid start of a character (as the decoder does).
      out.push(at);
      at += n < 0 ? 1 : k;
    } else at += n + 1;
  }
  return out;
}

/** `line:column` (1-based; columns in characters) of a byte offset. */
function bytePlace(bytes: Buffer, at: number): string {
  const lineStart = bytes.lastIndexOf(0x0a, at - 1) + 1;
  let line = 1;
  for (let k = 0; k < lineStart; k++) if (bytes[k] === 0x0a) line++;
  return `${line}:${[...bytes.subarray(lineStart, at).toString('utf8')].length + 1}`;
}

/** The paths of the keys and string values of `doc` that hold U+FFFD (the decoder's replacement character). */
function replacedPaths(doc: unknown): string[] {
  const out: string[] = [];
  const walk = (x: unknown, path: string): void => {
    if (typeof x === 'string') {
      if (x.includes('\uFFFD')) out.push(path || '(top level)');
    } else if (Array.isArray(x)) x.forEach((v, k) => walk(v, `${path}[${k}]`));
    else if (typeof x === 'object' && x !== null)
      for (const [k, v] of Object.entries(x)) {
        const here = path ? `${path}.${k}` : k;
        if (k.includes('\uFFFD')) out.push(here);
        else walk(v, here);
      }
  };
  walk(doc, '');
  return out;
}

/**
 * A file whose bytes are not all UTF-8 (saved as Latin-1, Windows-1252 or UTF-16). UTF-16 is
 * refused at once (nothing in it parses). Otherwise each key and value that holds such a byte is a
 * problem naming its path and where the bytes are (read as U+FFFD, a Latin-1 password would
 * silently no longer match); such bytes in comments change nothing and are let be, as before.
 */
function encodingProblems(bytes: Buffer, file: string, result: ReadResult): ReadResult {
  const offsets = nonUtf8Offsets(bytes);
  if (offsets.length === 0) return result;
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))
    return { ok: false, problems: [{ path: file, message: 'is UTF-16 text (it starts with a UTF-16 byte-order mark): save it as UTF-8' }] };
  const places = offsets.slice(0, 3).map((at) => `${bytePlace(bytes, at)} (0x${bytes[at]!.toString(16).toUpperCase().padStart(2, '0')})`);
  const where = `${file} has bytes that are not UTF-8 at ${places.join(', ')}${offsets.length > 3 ? ` and ${offsets.length - 3} more` : ''}`;
  if (!result.ok && result.doc === undefined) {
    // A syntax error: the bytes may be why; say where they are too.
    return { ok: false, problems: [...result.problems, { path: file, message: `${where.slice(file.length + 1)}: a file saved as Latin-1 or Windows-1252? Save it as UTF-8` }] };
  }
  const paths = replacedPaths(result.doc);
  if (paths.length === 0) return result;
  const problems = paths.map((path) => ({ path, message: `holds a character that is not UTF-8 (${where}; saved as Latin-1 or Windows-1252?): save the file as UTF-8` }));
  return { ok: false, problems: [...problems, ...(result.ok ? [] : result.problems)], doc: result.doc };
}

export function parseConfigText(text: string, file: string): ReadResult {
  const ext = extname(file).toLowerCase();
  if (ext === '.json') {
    const body = text.replace(/^\uFEFF/, '');
    try {
      const doc: unknown = JSON.parse(body);
      // JSON.parse keeps the last of two equal member names silently: a config must say one thing.
      // Each one given twice is a problem at its place; the rest of the file is still checked.
      const twice: Problem[] = [];
      const limit = scanJson(body, {
        maxDepth: 256,
        maxKeys: 1_000_000,
        onDuplicate: (path, at, firstAt) => {
          const { line, column } = lineColumn(body, at);
          const first = lineColumn(body, firstAt);
          twice.push({ path: `${file}:${line}:${column}`, message: `JSON: ${path} appears twice in the same object (first at line ${first.line}, column ${first.column}); give it once` });
        },
      });
      if (limit) return { ok: false, problems: [{ path: file, message: `JSON: ${limit.detail}` }] };
      return forbiddenKeys(doc, file, twice);
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
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.code === 'EISDIR' ? 'is a directory' : err.message;
    return { ok: false, problems: [{ path: file, message: `cannot read the config file: ${why}` }] };
  }
  return encodingProblems(bytes, file, parseConfigText(bytes.toString('utf8'), file));
}
