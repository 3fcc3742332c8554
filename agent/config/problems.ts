/**
 * Config problems in one form: `path: message, got <value>` — e.g.
 * `drivers[1].port: must be an integer between 1 and 65535, got "50x"`.
 */

import { maskSecrets, maskUrlPassword } from '../core/secrets.js';

export interface Problem {
  /** `gateway.id`, `drivers[1].port`, `mqtt.users[0].publish[1]`, or `<file>:<line>:<col>`. */
  path: string;
  message: string;
}

const MAX_SHOWN = 120;

/**
 * The value as JSON, shortened; `[hidden]` for secrets. URL passwords in it, and values of keys
 * named like a secret inside it, are shown as `***` (masked before shortening).
 */
export function showValue(v: unknown, sensitive = false): string {
  if (sensitive) return '[hidden]';
  if (v === undefined) return 'nothing';
  // JSON has no NaN or Infinity (JSON.stringify would say null): YAML's .nan and .inf shown as such.
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  let s: string;
  try {
    s = JSON.stringify(maskSecrets(v)) ?? String(v);
  } catch {
    s = typeof v === 'string' ? maskUrlPassword(v) : String(v);
  }
  return s.length > MAX_SHOWN ? `${s.slice(0, MAX_SHOWN - 3)}...` : s;
}

export function render(p: Problem): string {
  return `${p.path}: ${p.message}`;
}

/** `a.b` + `c` → `a.b.c`; `a` + `[2]` → `a[2]`. */
export function joinPath(base: string, sub: string): string {
  if (!base) return sub.replace(/^\./, '');
  if (!sub) return base;
  return sub.startsWith('[') || sub.startsWith('.') ? base + sub : `${base}.${sub}`;
}

/** Split `a.b[2].c` into its steps: ['a', 'b', 2, 'c']. */
export function pathSteps(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  const re = /([^.[\]]+)|\[(\d+)\]/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(path))) out.push(m[2] !== undefined ? Number(m[2]) : m[1]!);
  return out;
}

/** The value at `path` inside `root`, or undefined. */
export function valueAt(root: unknown, path: string): unknown {
  let v: unknown = root;
  for (const step of pathSteps(path)) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string | number, unknown>)[step];
  }
  return v;
}

/**
 * Format checks of list options say which element is wrong by starting their message with the
 * element's sub-path (`[1] must be ...`, `[0].from must be ...`): move it into the path.
 */
export function splitSubPath(message: string): { sub: string; rest: string } {
  const m = /^((?:\[\d+\])(?:\.[A-Za-z_$][\w$-]*|\[\d+\])*)[:\s]\s*([\s\S]*)$/.exec(message);
  return m ? { sub: m[1]!, rest: m[2]! } : { sub: '', rest: message };
}

/**
 * One failed check → a Problem. `value` is the option's whole value; when the message names an
 * element (`[1] ...`), the element is shown instead.
 */
export function checkProblem(path: string, message: string, value: unknown, sensitive = false): Problem {
  const { sub, rest } = splitSubPath(message.trim());
  if (rest === 'unknown key') return { path: joinPath(path, sub), message: rest };
  const shown = sub ? valueAt(value, sub) : value;
  return { path: joinPath(path, sub), message: `${rest}, got ${showValue(shown, sensitive)}` };
}
