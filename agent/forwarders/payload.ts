/**
 * Adds `"gw"` (gateway id) and `"seq"` (the buffer's sequence number, which receivers use to drop
 * duplicates) — and optionally more fields — to a stored
 * payload without parsing it: the stored text is a JSON object, so the fields are spliced in after
 * its opening brace.
 *
 * A stored payload may already have a top-level key of the same name: processed measurements carry
 * `seq` (their symmetrical components). JSON with duplicate names is
 * read differently by different parsers (RFC 8259 §4), so such a key is renamed in the forwarded
 * copy: `seq` → `seq_components`, any other `<name>` → `<name>_orig` (with `_orig` appended again
 * while the new name is itself taken). Keys are compared after decoding JSON escapes, so
 * `"s\u0065q"` is the key `seq` and gets renamed too: the receiver's parser never reads a stored
 * `gw` or `seq`. The text is scanned (one linear pass over the top level) only when it contains one
 * of the names in quotes or any backslash (the only way to spell a name differently); other payloads
 * cost one `includes` per name plus one for the backslash.
 */

/** The renamed key for a clashing top-level key in the forwarded copy. */
export function renamedKey(name: string): string {
  return name === 'seq' ? 'seq_components' : `${name}_orig`;
}

interface KeyToken {
  /** Index of the opening quote. */
  at: number;
  /** Index after the closing quote. */
  end: number;
}

/**
 * Positions of the top-level keys of the JSON object starting at `open` (the index of `{`), or null
 * when the text is not a well-formed object as far as nesting and strings go.
 */
function topLevelKeys(s: string, open: number): { keys: Map<string, KeyToken[]>; close: number } | null {
  const keys = new Map<string, KeyToken[]>();
  let depth = 0;
  let expectKey = false;
  const n = s.length;
  for (let k = open; k < n; k++) {
    const c = s.charCodeAt(k);
    if (c === 0x22 /* " */) {
      let j = k + 1;
      while (j < n) {
        const d = s.charCodeAt(j);
        if (d === 0x5c /* \ */) j += 2;
        else if (d === 0x22) break;
        else j++;
      }
      if (j >= n) return null;
      if (depth === 1 && expectKey) {
        let name = s.slice(k + 1, j);
        if (name.includes('\\')) {
          // The key as a parser reads it: escapes decoded. A malformed escape makes the text unreadable.
          try {
            name = JSON.parse(s.slice(k, j + 1)) as string;
          } catch {
            return null;
          }
        }
        const list = keys.get(name);
        if (list) list.push({ at: k, end: j + 1 });
        else keys.set(name, [{ at: k, end: j + 1 }]);
        expectKey = false;
      }
      k = j;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++;
      if (depth === 1) expectKey = true;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
      if (depth === 0) return { keys, close: k };
      if (depth < 0) return null;
    } else if (c === 0x2c /* , */ && depth === 1) expectKey = true;
  }
  return null;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/**
 * The forwarded text of one stored payload: `{"gw":…,"seq":…,<extra fields>,<stored fields>}`.
 * `fields` are pairs of name and already-serialised JSON value, in order.
 */
export function spliceFields(payload: string, fields: readonly (readonly [string, string])[]): string {
  let head = '{';
  for (let k = 0; k < fields.length; k++) {
    const f = fields[k]!;
    head += (k ? ',"' : '"') + f[0] + '":' + f[1];
  }
  let open = 0;
  while (open < payload.length && isSpace(payload.charCodeAt(open))) open++;
  if (payload.charCodeAt(open) !== 0x7b) return head + ',"payload":' + wrapNonObject(payload) + '}';

  let clash = payload.includes('\\');
  for (const f of fields) if (!clash && payload.includes('"' + f[0] + '"')) clash = true;
  let body = payload;
  if (clash) {
    const scan = topLevelKeys(payload, open);
    if (!scan) return head + ',"payload":' + JSON.stringify(payload) + '}';
    const edits: { at: number; end: number; text: string }[] = [];
    for (const f of fields) {
      const toks = scan.keys.get(f[0]);
      if (!toks) continue;
      let name = renamedKey(f[0]);
      while (scan.keys.has(name) || fields.some((g) => g[0] === name)) name += '_orig';
      for (const tok of toks) edits.push({ ...tok, text: JSON.stringify(name) });
    }
    if (edits.length) {
      edits.sort((a, b) => a.at - b.at);
      let out = '';
      let from = 0;
      for (const e of edits) {
        out += payload.slice(from, e.at) + e.text;
        from = e.end;
      }
      body = out + payload.slice(from);
    }
  }
  let first = open + 1;
  while (first < body.length && isSpace(body.charCodeAt(first))) first++;
  if (body.charCodeAt(first) === 0x7d /* } */) return head + body.slice(first);
  return head + ',' + body.slice(open + 1);
}

/** A stored payload that is not a JSON object travels as `"payload"`: its JSON value, or the text as a string. */
function wrapNonObject(payload: string): string {
  try {
    JSON.parse(payload);
    return payload.trim() || '""';
  } catch {
    return JSON.stringify(payload);
  }
}

/** `{"gw":…,"seq":…, …stored fields}` for the upstream MQTT forwarder. */
export function withGwSeq(payload: string, gwJson: string, seq: number): string {
  return spliceFields(payload, [
    ['gw', gwJson],
    ['seq', String(seq)],
  ]);
}

/** The forwarded text of a row: through the buffer's encoded form when it has one (no scan), else spliced. */
export function splicedRow(row: { payload: string; spliced?(fields: readonly (readonly [string, string])[]): string }, fields: readonly (readonly [string, string])[]): string {
  return row.spliced ? row.spliced(fields) : spliceFields(row.payload, fields);
}
