/**
 * A single pass over JSON text, before `JSON.parse`, that enforces what `JSON.parse` cannot:
 *
 * - nesting depth (objects and arrays, the outermost one is depth 1): a payload nested thousands deep
 *   is stopped here in linear time, before anything recursive (parse, checks, `JSON.stringify`) sees it;
 * - the number of member names in the whole document;
 * - duplicate member names in one object, compared after decoding escapes (`"s\u0065q"` and `"seq"`
 *   are the same name); `JSON.parse` would silently keep the last one.
 *
 * The scanner does not validate JSON grammar: for text that `JSON.parse` accepts it sees exactly the
 * structure the parser builds; for anything else it stops (returning no error) or reports a limit,
 * and `JSON.parse` then reports the syntax error. Work is linear in the text length (plus the
 * duplicate search below); memory is a few typed arrays sized by the depth and name limits, reused by
 * every call. It is not re-entrant (module-level scratch space), which is fine: it runs synchronously
 * to completion.
 */

export type ScanReason = 'too_deep' | 'too_many_keys' | 'duplicate_key';

export interface ScanError {
  reason: ScanReason;
  detail: string;
}

export interface ScanLimits {
  /** Deepest allowed nesting of objects and arrays (the outermost one is depth 1). */
  maxDepth: number;
  /** Most member names allowed in the whole document, all levels together. */
  maxKeys: number;
  /**
   * When given, a duplicate member name is reported here (its dotted path, the offset of its quoted
   * name and of the first one) and the scan goes on, instead of ending with `duplicate_key`.
   */
  onDuplicate?: (path: string, at: number, firstAt: number) => void;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;

// Scratch space reused across calls. Per nesting level: whether it is an object, the element index
// (arrays) and where its names start in the name table. The name table holds the names of the objects
// currently open, as a stack: each name's hash and the position of its quoted token in the text.
let isObject = new Uint8Array(0);
let index = new Int32Array(0);
let base = new Int32Array(0);
let nameHash = new Int32Array(0);
let nameAt = new Int32Array(0);
let nameEnd = new Int32Array(0);

function ensureCapacity(depth: number, names: number): void {
  if (isObject.length <= depth) {
    isObject = new Uint8Array(depth + 1);
    index = new Int32Array(depth + 1);
    base = new Int32Array(depth + 2);
  }
  if (nameHash.length <= names) {
    nameHash = new Int32Array(names + 1);
    nameAt = new Int32Array(names + 1);
    nameEnd = new Int32Array(names + 1);
  }
}

/** The name whose quoted token is s[at, end), escapes decoded (null when an escape is malformed). */
function decodeName(s: string, at: number, end: number): string | null {
  const raw = s.slice(at + 1, end - 1);
  if (!raw.includes('\\')) return raw;
  try {
    return JSON.parse(s.slice(at, end)) as string;
  } catch {
    return null;
  }
}

function hashOf(name: string): number {
  let h = 0;
  for (let k = 0; k < name.length; k++) h = (Math.imul(h, 31) + name.charCodeAt(k)) | 0;
  return h;
}

/** The dotted path of the container open at `depth` (levels 1..depth-1 name it), plus `last` when given. */
function pathAt(s: string, depth: number, last?: string): string {
  let p = '';
  for (let d = 1; d < depth; d++) {
    // The container at level d+1 is the value of level d's latest name, or its current element.
    if (isObject[d]) {
      const x = base[d + 1]! - 1;
      p += (p ? '.' : '') + decodeName(s, nameAt[x]!, nameEnd[x]!);
    } else p += `[${index[d]}]`;
  }
  if (last !== undefined) p += (p ? '.' : '') + last;
  return p || '(top level)';
}

function shorten(s: string): string {
  return s.length > 40 ? s.slice(0, 40) + '…' : s;
}

/**
 * Scan `s` and return the first limit it breaks, or null (also for malformed text, which `JSON.parse`
 * then rejects with its own message).
 *
 * Duplicate names are found by comparing each name's hash with those of the earlier names of the
 * same object (decoding and comparing the text only when the hashes are equal): quadratic in the
 * names of one object, which `maxKeys` bounds.
 */
export function scanJson(s: string, limits: ScanLimits): ScanError | null {
  const maxDepth = limits.maxDepth;
  const maxKeys = limits.maxKeys;
  // Scratch sized by what this text can hold, not by the limits (a 1 000 000-key limit for config
  // files would otherwise keep 12 MB of tables for the life of the process): a name is read only
  // after `{` or `,`, so each takes at least 3 characters (`,""`); a level takes at least 1.
  ensureCapacity(Math.min(maxDepth, s.length), Math.min(maxKeys, Math.floor(s.length / 3) + 2));
  // Locals for the hot loop (module-level bindings cost a context load on every access).
  const isObj = isObject, idx = index, bases = base, hashes = nameHash, ats = nameAt, ends = nameEnd;
  const n = s.length;
  let depth = 0;
  let keys = 0;
  let top = 0;
  let expectKey = false;
  for (let k = 0; k < n; k++) {
    switch (s.charCodeAt(k)) {
      case QUOTE: {
        if (!expectKey) {
          // A string value: jump to the closing quote, one not escaped by an odd run of backslashes.
          let j = s.indexOf('"', k + 1);
          while (j !== -1) {
            let b = j - 1;
            while (s.charCodeAt(b) === BACKSLASH) b--;
            if ((j - 1 - b) % 2 === 0) break;
            j = s.indexOf('"', j + 1);
          }
          if (j === -1) return null;
          k = j;
          break;
        }
        expectKey = false;
        let j = k + 1;
        let h = 0;
        let escaped = false;
        while (j < n) {
          const d = s.charCodeAt(j);
          if (d === BACKSLASH) {
            escaped = true;
            j += 2;
          } else if (d === QUOTE) break;
          else {
            h = (Math.imul(h, 31) + d) | 0;
            j++;
          }
        }
        if (j >= n) return null;
        if (++keys > maxKeys) return { reason: 'too_many_keys', detail: `more than ${maxKeys} member names in the message (at ${shorten(pathAt(s, depth))})` };
        let name: string | null = null;
        if (escaped) {
          name = decodeName(s, k, j + 1);
          if (name === null) return null;
          h = hashOf(name);
        }
        for (let x = bases[depth]!; x < top; x++) {
          if (hashes[x] !== h) continue;
          name ??= s.slice(k + 1, j);
          if (decodeName(s, ats[x]!, ends[x]!) !== name) continue;
          if (!limits.onDuplicate) return { reason: 'duplicate_key', detail: `${shorten(pathAt(s, depth, name))} appears twice in the same object` };
          limits.onDuplicate(pathAt(s, depth, name), k, ats[x]!);
          break;
        }
        hashes[top] = h;
        ats[top] = k;
        ends[top] = j + 1;
        top++;
        k = j;
        break;
      }
      case OPEN_OBJECT:
      case OPEN_ARRAY:
        bases[++depth] = top;
        if (depth > maxDepth) return { reason: 'too_deep', detail: `${shorten(pathAt(s, depth))} nests deeper than ${maxDepth} levels` };
        if (s.charCodeAt(k) === OPEN_OBJECT) {
          isObj[depth] = 1;
          expectKey = true;
        } else {
          isObj[depth] = 0;
          idx[depth] = 0;
          expectKey = false;
        }
        break;
      case CLOSE_OBJECT:
      case CLOSE_ARRAY:
        if (depth === 0) return null;
        // The closed object's names leave the table (an array holds none of its own).
        top = bases[depth]!;
        depth--;
        expectKey = false;
        break;
      case COMMA:
        if (depth > 0) {
          if (isObj[depth]) expectKey = true;
          else idx[depth] = idx[depth]! + 1;
        }
        break;
    }
  }
  return null;
}
