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
 * and `JSON.parse` then reports the syntax error. Work is linear in the text length, memory is bounded
 * by the depth limit (one reusable name list per level, holding the last scan's names until the next
 * scan reuses it). It is not re-entrant (module-level scratch space), which is fine: it runs
 * synchronously to completion.
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
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;

/** Objects with more names than this switch from a linear search to a Set for duplicate detection. */
const LINEAR_NAMES = 16;

// Scratch space reused across calls, one slot per nesting level (grown to the largest maxDepth seen).
let isObject = new Uint8Array(0);
let index = new Int32Array(0);
let names: string[][] = [];
let nameSets: Set<string>[] = [];
let useSet = new Uint8Array(0);

function ensureDepth(n: number): void {
  if (isObject.length > n) return;
  isObject = new Uint8Array(n + 1);
  index = new Int32Array(n + 1);
  useSet = new Uint8Array(n + 1);
  while (names.length <= n) {
    names.push([]);
    nameSets.push(new Set());
  }
}

/** The dotted path of the container open at `depth` (levels 1..depth), plus `last` when given. */
function pathAt(depth: number, last?: string): string {
  let p = '';
  for (let d = 1; d < depth; d++) {
    // The container at level d+1 sits under level d's latest name or element.
    if (isObject[d]) {
      const list = names[d]!;
      p += (p ? '.' : '') + list[list.length - 1];
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
 */
export function scanJson(s: string, limits: ScanLimits): ScanError | null {
  const maxDepth = limits.maxDepth;
  ensureDepth(maxDepth);
  const n = s.length;
  let depth = 0;
  let keys = 0;
  let expectKey = false;
  for (let k = 0; k < n; k++) {
    const c = s.charCodeAt(k);
    if (c === QUOTE) {
      let j = k + 1;
      let escaped = false;
      while (j < n) {
        const d = s.charCodeAt(j);
        if (d === BACKSLASH) {
          escaped = true;
          j += 2;
        } else if (d === QUOTE) break;
        else j++;
      }
      if (j >= n) return null;
      if (expectKey) {
        expectKey = false;
        if (++keys > limits.maxKeys)
          return { reason: 'too_many_keys', detail: `more than ${limits.maxKeys} member names in the message (at ${pathAt(depth)})` };
        let name: string;
        if (escaped) {
          try {
            name = JSON.parse(s.slice(k, j + 1)) as string;
          } catch {
            return null;
          }
        } else name = s.slice(k + 1, j);
        const list = names[depth]!;
        let dup: boolean;
        if (useSet[depth]) {
          const set = nameSets[depth]!;
          dup = set.has(name);
          set.add(name);
        } else {
          dup = list.includes(name);
          if (list.length >= LINEAR_NAMES) {
            const set = nameSets[depth]!;
            for (let x = 0; x < list.length; x++) set.add(list[x]!);
            set.add(name);
            useSet[depth] = 1;
          }
        }
        if (dup) return { reason: 'duplicate_key', detail: `${shorten(pathAt(depth, name))} appears twice in the same object` };
        list.push(name);
      }
      k = j;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > maxDepth) return { reason: 'too_deep', detail: `${shorten(pathAt(depth))} nests deeper than ${maxDepth} levels` };
      if (c === OPEN_OBJECT) {
        isObject[depth] = 1;
        expectKey = true;
        names[depth]!.length = 0;
        if (useSet[depth]) {
          nameSets[depth]!.clear();
          useSet[depth] = 0;
        }
      } else {
        isObject[depth] = 0;
        index[depth] = 0;
        expectKey = false;
      }
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (--depth < 0) return null;
      expectKey = false;
    } else if (c === COMMA && depth > 0) {
      if (isObject[depth]) expectKey = true;
      else index[depth] = index[depth]! + 1;
    }
  }
  return null;
}
