/**
 * Reusable convict `format` checks. Each throws an Error whose message completes the sentence
 * "<path>: must be ..." — the loader turns convict's messages into `path: message, got <value>`.
 * Plugin schemas use these (or convict's built-ins) so every problem reads the same way.
 */
import { statSync } from 'node:fs';
import { parseDuration } from '../../algorithms/common/duration.js';
import { filterError } from '../core/topics.js';

export type Check = (value: unknown) => void;

const show = (v: unknown): string => JSON.stringify(v) ?? String(v);

export function intRange(lo: number, hi: number): Check {
  return (v) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi)
      throw new Error(`must be an integer between ${lo} and ${hi}`);
  };
}

export function numberRange(lo: number, hi: number): Check {
  return (v) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi)
      throw new Error(`must be a number between ${lo} and ${hi}`);
  };
}

export function oneOf(...values: readonly string[]): Check {
  return (v) => {
    if (typeof v !== 'string' || !values.includes(v)) throw new Error(`must be one of ${values.join(', ')}`);
  };
}

export const port: Check = intRange(1, 65535);
/** A port, or 0 for "pick a free one" (tests). */
export const portOrZero: Check = intRange(0, 65535);

export const nonEmptyString: Check = (v) => {
  if (typeof v !== 'string' || v.trim() === '') throw new Error('must be a non-empty string');
};

export const optionalString: Check = (v) => {
  if (v !== null && v !== undefined && typeof v !== 'string') throw new Error('must be a string');
};

/**
 * A file the agent reads (a PEM certificate or key), or empty for none. A path that does not exist,
 * or names a folder, is refused now rather than when the agent starts. Whether it is readable is not
 * checked: `config check` may run as another user than the service (key files are often 0600).
 * A relative path is read from the agent's working folder (`/var/lib/gridedge` under systemd).
 */
export const optionalFile: Check = (v) => {
  if (v === null || v === undefined || v === '') return;
  if (typeof v !== 'string') throw new Error('must be a file path (empty: none)');
  let isFile: boolean;
  try {
    isFile = statSync(v).isFile();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new Error(`must be a file path (empty: none); no such file from ${process.cwd()}`);
    return; // EACCES and the like: the service's user may see it; not decided here
  }
  if (!isFile) throw new Error('must be a file path (empty: none); this is not a regular file (a folder?)');
};

/** Device and plugin ids end up in topic names: no wildcards, no '/', no spaces. */
export const identifier: Check = (v) => {
  if (typeof v !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/.test(v))
    throw new Error('must be 1-64 characters of letters, digits, "_", ".", ":" or "-", starting with a letter or digit');
};

export const topicFilter: Check = (v) => {
  if (typeof v !== 'string') throw new Error('must be an MQTT topic filter (string)');
  const e = filterError(v);
  if (e) throw new Error(`must be an MQTT topic filter: ${e}`);
};

/**
 * A list check that failed for several elements: `problems` holds one message per element, each
 * starting with the element's sub-path (`[2] ...`); `message` names the first.
 */
export class ListCheckError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.length === 1 ? problems[0]! : `${problems[0]} (and ${problems.length - 1} more)`);
  }
}

/** Run `one` on every element; collect every failure into one ListCheckError. */
export function checkEach(list: readonly unknown[], one: (x: unknown, k: number) => void): void {
  const problems: string[] = [];
  list.forEach((x, k) => {
    try {
      one(x, k);
    } catch (e) {
      problems.push((e as Error).message);
    }
  });
  if (problems.length) throw new ListCheckError(problems);
}

export const topicFilterList: Check = (v) => {
  if (!Array.isArray(v)) throw new Error('must be a list of MQTT topic filters');
  checkEach(v, (f, k) => {
    try {
      topicFilter(f);
    } catch (e) {
      throw new Error(`[${k}] ${(e as Error).message}`);
    }
  });
};

/** `[{ from: filter, to: template }]`; `to` has no more wildcards than `from`. */
export const topicMap: Check = (v) => {
  if (!Array.isArray(v)) throw new Error('must be a list of { from, to } topic mappings');
  checkEach(v, (e: unknown, k) => {
    if (typeof e !== 'object' || e === null) throw new Error(`[${k}] must be an object { from, to }`);
    const { from, to, ...rest } = e as Record<string, unknown>;
    const extra = Object.keys(rest);
    if (extra.length) {
      const key = extra[0]!;
      throw new Error(/^[A-Za-z_$][\w$-]*$/.test(key) ? `[${k}].${key} unknown key` : `[${k}] has unknown key ${show(key)}`);
    }
    if (typeof from !== 'string') throw new Error(`[${k}].from must be an MQTT topic filter`);
    const fe = filterError(from);
    if (fe) throw new Error(`[${k}].from must be an MQTT topic filter: ${fe}`);
    if (typeof to !== 'string' || to === '') throw new Error(`[${k}].to must be a topic template`);
    const count = (s: string) => s.split('/').filter((l) => l === '+' || l === '#').length;
    if (count(to) > count(from)) throw new Error(`[${k}].to has more wildcards than from`);
  });
};

export { parseDuration };

export const duration: Check = (v) => {
  if (typeof v !== 'string' || parseDuration(v) === null)
    throw new Error('must be a duration such as "500ms", "10s", "1m", "10min" or "1h"');
};

export const durationList: Check = (v) => {
  if (!Array.isArray(v) || v.length === 0) throw new Error('must be a non-empty list of durations ("10s", "1m", "10min")');
  checkEach(v, (d, k) => {
    if (typeof d !== 'string' || parseDuration(d) === null) throw new Error(`[${k}] must be a duration such as "10s", "1m" or "10min"`);
  });
};

export const stringList: Check = (v) => {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new Error('must be a list of strings');
};

export const boolean: Check = (v) => {
  if (typeof v !== 'boolean') throw new Error('must be true or false');
};

const isHost = (v: unknown): boolean => typeof v === 'string' && v.trim() !== '' && !/[\s/]/.test(v);

/** A host name or IP address to bind or connect to (no scheme, no port). */
export const host: Check = (v) => {
  if (!isHost(v)) throw new Error('must be a host name or IP address (no scheme, port or spaces)');
};

/** A host as above, or empty (another option's host applies; the option's doc says which). */
export const optionalHost: Check = (v) => {
  if (v !== '' && !isHost(v)) throw new Error('must be a host name or IP address (no scheme, port or spaces), or empty');
};

/** A URL path such as "/mqtt". */
export const urlPath: Check = (v) => {
  if (typeof v !== 'string' || !/^\/[^\s?#]*$/.test(v)) throw new Error('must be a URL path starting with "/"');
};

export const logLevel: Check = oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace');

/** A list of dotted field paths such as "v.a.mag" or "p.total". */
export const fieldPathList: Check = (v) => {
  if (!Array.isArray(v)) throw new Error('must be a list of dotted field paths ("v.a.mag", "p.total")');
  checkEach(v, (f, k) => {
    if (typeof f !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$/.test(f))
      throw new Error(`[${k}] must be a dotted field path such as "v.a.mag" or "p.total"`);
  });
};

/** A list whose entries the loader checks one by one against their own schema (plugin entries, MQTT users). */
export const list: Check = (v) => {
  if (!Array.isArray(v)) throw new Error('must be a list');
};

/** A list of objects. */
export const objectList: Check = (v) => {
  if (!Array.isArray(v)) throw new Error('must be a list');
  checkEach(v, (e, k) => {
    if (typeof e !== 'object' || e === null || Array.isArray(e)) throw new Error(`[${k}] must be an object`);
  });
};
