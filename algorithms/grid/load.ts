/**
 * Reads a network from disk by what it is: a MATPOWER case (`.m`), the JSON network format
 * (`.json`), or CGMES profiles (`.xml` files, several at once, or a folder holding them). Every
 * failure is a GridInputError naming the file.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseJsonText } from '../common/json-syntax.js';
import { parseCgmes } from './cgmes.js';
import { fileErrorWords } from '../common/file-error.js';
import { GridInputError } from './errors.js';
import { parseMatpower } from './matpower.js';
import { networkFromJson, type Network } from './network.js';

function read(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new GridInputError('format', `cannot read ${file}: ${fileErrorWords(e)}`);
  }
}

/**
 * Parses JSON text (a leading byte-order mark is skipped); a syntax error is a GridInputError
 * `file:line:column: not valid JSON: reason`.
 */
export function parseJson(text: string, file: string): unknown {
  const r = parseJsonText(text, file);
  if (!r.ok) throw new GridInputError('syntax', r.message);
  return r.value;
}

/** Reads and parses a JSON file (a network or a measurement file): errors as read() and parseJson(). */
export function loadJson(file: string): unknown {
  return parseJson(read(file), file);
}

/** `paths`: one path, or several (CGMES profiles). */
export function loadNetwork(paths: string | readonly string[]): Network {
  const list = typeof paths === 'string' ? [paths] : [...paths];
  if (list.length === 0) throw new GridInputError('format', 'no network file given');
  const files: string[] = [];
  for (const p of list) {
    let st;
    try {
      st = statSync(p);
    } catch (e) {
      throw new GridInputError('format', `cannot read ${p}: ${fileErrorWords(e)}`);
    }
    if (st.isDirectory()) {
      const xml = readdirSync(p)
        .filter((f) => /\.xml$/i.test(f))
        .sort()
        .map((f) => join(p, f));
      if (!xml.length) throw new GridInputError('format', `${p}: the folder holds no CGMES .xml file`);
      files.push(...xml);
    } else files.push(p);
  }
  if (files.length === 1 && /\.m$/i.test(files[0]!)) return parseMatpower(read(files[0]!), files[0]!);
  if (files.length === 1 && /\.json$/i.test(files[0]!)) return networkFromJson(loadJson(files[0]!), files[0]!);
  const other = files.filter((f) => !/\.xml$/i.test(f));
  if (other.length)
    throw new GridInputError('format', `${other[0]}: unknown network format (a MATPOWER .m file, a .json network, or CGMES .xml profiles are read)`);
  return parseCgmes(files.map((f) => ({ file: f, text: read(f) })));
}
