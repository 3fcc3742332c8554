/**
 * Where JSON text first goes wrong, as a line and column: V8's JSON.parse messages do not always give
 * a position. Used by the config reader (agent/config) and the grid inputs (algorithms/grid).
 */

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

/**
 * Parses JSON text (a leading byte-order mark skipped): the value, or the message
 * `file:line:column: not valid JSON: reason` (without a position when the scan finds none).
 */
export function parseJsonText(text: string, file: string): { ok: true; value: unknown } | { ok: false; message: string } {
  const body = text.replace(/^\uFEFF/, '');
  try {
    return { ok: true, value: JSON.parse(body) };
  } catch (e) {
    const where = jsonSyntaxError(body);
    if (!where) return { ok: false, message: `${file}: not valid JSON: ${(e as Error).message.split('\n')[0]}` };
    const { line, column } = lineColumn(body, where.offset);
    return { ok: false, message: `${file}:${line}:${column}: not valid JSON: ${where.reason}` };
  }
}
