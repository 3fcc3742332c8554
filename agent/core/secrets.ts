/**
 * Secrets kept out of what the agent shows and logs: the password of a URL (`mqtt://user:pass@host`),
 * the values of config keys named like a secret, and secrets written out in free text (a journal
 * line, a GRIDEDGE_* value quoted in a config problem). Used by the status, the logs, the config
 * problems, the CLI's messages and `gridedge diag`.
 */

export const MASK = '***';

/** Keys whose values are secrets wherever they appear in the config (case-insensitive). */
const SECRET_KEY = /(password|passphrase|secret|token|apikey|api_key|privatekey|private_key|connectionstring|credential|sastoken)/i;

/** `scheme://` where a URL starts (scheme as in RFC 3986 §3.1). */
const URL_START = /[a-z][a-z0-9+.-]*:\/\//gi;

/** A string that begins with a URL (leading white space allowed, as the WHATWG URL parser allows). */
const WHOLE_URL = /^\s*[a-z][a-z0-9+.-]*:\/\//i;

/** Where the authority of one URL ends: the path, query or fragment starts (as WHATWG URL parses it). */
const END_OF_URL_AUTHORITY = /[/?#]/;

/** In free text the authority also ends at white space, quotes and angle brackets. */
const END_OF_TEXT_AUTHORITY = /[/?#\s"'<>`]/;

/**
 * `s` with the password of the URL whose authority starts at `from` replaced by `***`. The
 * authority runs up to the first character matching `end`; its last `@` separates the user info
 * from the host (so `u:Fw@Pass@host` has the password `Fw@Pass`), and the first `:` of the user info
 * separates the user name (kept) from the password. Returns the text and where the authority ends.
 */
function maskAuthority(s: string, from: number, end: RegExp): { text: string; next: number } {
  const rest = s.slice(from);
  const m = end.exec(rest);
  const authority = m ? rest.slice(0, m.index) : rest;
  const next = from + authority.length;
  const at = authority.lastIndexOf('@');
  if (at < 0) return { text: s, next };
  const colon = authority.indexOf(':');
  if (colon < 0 || colon >= at - 1) return { text: s, next }; // no password, or an empty one
  const masked = `${authority.slice(0, colon + 1)}${MASK}${authority.slice(at)}`;
  return { text: s.slice(0, from) + masked + s.slice(next), next: from + masked.length };
}

/**
 * `s` with the password of every URL in it replaced by `***`, the user name kept:
 * `mqtt://fw:pw@host:1883` → `mqtt://fw:***@host:1883`. A string that is one URL (it starts with
 * `scheme://` and holds no other) is read as the WHATWG URL parser reads it: the authority ends at
 * the first `/`, `?` or `#`, and a password may contain `@`, spaces or quotes. In any other text (a
 * log line, an error message, a problem line) each URL's authority also ends at white space, a
 * quote or an angle bracket. The string need not be a valid URL (a bad port, a bad host): the user
 * info is masked anyway. Never throws.
 */
export function maskUrlPassword(s: string): string {
  const whole = WHOLE_URL.exec(s);
  if (whole && !s.includes('://', whole[0].length)) return maskAuthority(s, whole[0].length, END_OF_URL_AUTHORITY).text;
  let out = s;
  const re = new RegExp(URL_START.source, URL_START.flags);
  let m: RegExpExecArray | null;
  while ((m = re.exec(out))) {
    const r = maskAuthority(out, m.index + m[0].length, END_OF_TEXT_AUTHORITY);
    out = r.text;
    re.lastIndex = r.next;
  }
  return out;
}

/**
 * `key: value`, `key=value` and `"key":"value"` (also with the quotes escaped once, `\"key\":\"value\"`,
 * as a JSON text quoted inside a JSON log line has them) where the key is named like a secret
 * (SECRET_KEY, `SharedAccessKey`, a SAS token's `sig`, the session cookie `gridedge_session`): group 1 is the
 * key with what follows it up to the value, group 2 the opening quote (empty: unquoted).
 */
const KEY_VALUE = new RegExp(
  String.raw`(\\*["']?[\w-]*(?:` +
    SECRET_KEY.source.slice(1, -1) +
    String.raw`|sharedaccesskey|gridedge_session)[\w-]*\\*["']?\s*[:=]\s*)(\\*["']?)`,
  'gi',
);

/** A SAS token's signature (`SharedAccessSignature sr=…&sig=…&se=…`): the part masked. */
const SIGNATURE = /(\bsig=)[^\s&;"'<>,]+/gi;

/**
 * A bearer token (`Bearer T`) and the token of a command line (`gridedge status --token T`,
 * `--token=T`): the part masked when it is 16 characters or more (the agent's tokens have 43), so
 * that prose such as "pass --token or set GRIDEDGE_TOKEN" or "Bearer token for" is kept.
 */
const TOKEN = /(\bBearer\s+|(?<![\w-])--token(?:=|\s+))[^\s&;"'<>,]{16,}/gi;

/**
 * Free text (a log line, a journal excerpt, an error message, a config file's text) with its
 * secrets replaced by `***`: URL passwords (maskUrlPassword), the value after a key named like a
 * secret (`password: x`, `"passwordHash":"scrypt$…"`, `SharedAccessKey=…` of an Azure connection
 * string, `gridedge_session=…`), a SAS token's `sig=`, a `Bearer` token and `--token T` (16
 * characters or more). A quoted value is masked up to its closing quote; an unquoted one up to
 * white space, `,`, `;`, `&`, `}`, `]`, a quote or a backslash. Never throws; it masks too much
 * rather than too little (a key named like a secret with a harmless value).
 */
export function maskSecretText(s: string): string {
  const text = maskUrlPassword(s).replace(SIGNATURE, `$1${MASK}`).replace(TOKEN, `$1${MASK}`);
  const re = new RegExp(KEY_VALUE.source, KEY_VALUE.flags);
  let out = '';
  let copied = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    const from = m.index + m[0].length;
    const quote = m[2]!;
    let end: number;
    if (quote) {
      // The closing quote: the same quote (with as many backslashes) where the value can end.
      const close = new RegExp(quote.replace(/[\\"']/g, (c) => `\\${c}`) + String.raw`(?=\s*[,}\]:]|\s|$)`, 'g');
      close.lastIndex = from;
      const c = close.exec(text);
      end = c ? c.index : text.length;
    } else {
      const c = /[\s,;&}\]"'\\]/.exec(text.slice(from));
      end = c ? from + c.index : text.length;
    }
    if (end > from) {
      out += text.slice(copied, from) + MASK;
      copied = end;
    }
    re.lastIndex = Math.max(end, from, m.index + 1);
  }
  return out + text.slice(copied);
}

/**
 * A copy of `v` with every secret replaced by `***`: values of keys named like a password, hash,
 * token, secret or key material, and in every other string what maskSecretText masks (URL
 * passwords, `SharedAccessKey=…`, `"password":"…"` in a JSON text, SAS signatures, bearer tokens).
 * Strings in arrays and nested objects are walked too; numbers and booleans are kept.
 */
export function maskSecrets(v: unknown, key = ''): unknown {
  if (v === null || v === undefined) return v;
  if (key && SECRET_KEY.test(key)) return typeof v === 'object' ? MASK : v === '' ? '' : MASK;
  if (Array.isArray(v)) return v.map((x) => maskSecrets(x));
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, maskSecrets(x, k)]));
  if (typeof v === 'string') return maskSecretText(v);
  return v;
}
