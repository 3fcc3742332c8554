/**
 * The parts of node-opcua the driver and the probe share: loading the library on first use (so the
 * registry and `gridedge config check` never pay for it), routing its console output into the
 * agent's JSON log, the PKI folder of a client, and turning its errors into messages that say
 * what to check.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { UserIdentityInfo } from 'node-opcua-client';
import { loadOnce } from '../../algorithms/common/load-once.js';
import { parseEndpoint } from './config.js';
import { makeDirs } from '../../agent/core/make-dirs.js';

export type OpcuaModule = typeof import('node-opcua-client');
export type CertificateModule = typeof import('node-opcua-certificate-manager');

/** Where node-opcua's own log lines go (the logger of the driver or probe that loaded last; undefined: dropped). */
let sink: Logger | undefined;

const ANSI = /\u001b\[[0-9;]*m/g;

function text(args: unknown[]): string {
  return args
    .map((a) => (typeof a === 'string' ? a : a instanceof Error ? a.message : JSON.stringify(a) ?? String(a)))
    .join(' ')
    .replace(ANSI, '')
    .trim();
}

/**
 * node-opcua, loaded on first use (a failed load is tried again at the next call). Its warnings go
 * to the latest caller's `log` at debug level and its errors at warn level, tagged
 * `source: "node-opcua"` (it would otherwise write to stdout, between the agent's JSON lines); the
 * driver logs every condition that matters itself, in its own words.
 */
const load = loadOnce(() =>
  Promise.all([import('node-opcua-client'), import('node-opcua-certificate-manager')]).then(([a, b]) => {
    // CommonJS packages: their exports are the default export under Node's ESM loader.
    const ua = ((a as { default?: OpcuaModule }).default ?? a) as OpcuaModule;
    const cm = ((b as { default?: CertificateModule }).default ?? b) as CertificateModule;
    // The first argument node-opcua passes says where the line comes from ({ filename, callerline }).
    const from = (ctx: unknown) => String((ctx as { filename?: unknown } | undefined)?.filename ?? '');
    ua.setWarningLogger((ctx?: unknown, ...args: unknown[]) => sink?.debug({ source: 'node-opcua', module: from(ctx) }, text(args)));
    ua.setErrorLogger((ctx?: unknown, ...args: unknown[]) => sink?.warn({ source: 'node-opcua', module: from(ctx) }, text(args)));
    ua.setDebugLogger(() => undefined);
    return { ua, cm };
  }),
);

export function loadOpcua(log: Logger | undefined): Promise<{ ua: OpcuaModule; cm: CertificateModule }> {
  sink = log;
  return load();
}

/** The session's identity: the user name and password when a user name is given, else anonymous. */
export function userIdentity(ua: OpcuaModule, username: string, password: string): UserIdentityInfo {
  return username ? { type: ua.UserTokenType.UserName, userName: username, password } : { type: ua.UserTokenType.Anonymous };
}

/** The folders of a client's PKI (certificate store) under `root`. */
export function pkiPaths(root: string): { root: string; trusted: string; rejected: string; ownCert: string; ownKey: string } {
  return {
    root,
    trusted: join(root, 'trusted', 'certs'),
    rejected: join(root, 'rejected'),
    ownCert: join(root, 'own', 'certs', 'client_certificate.pem'),
    ownKey: join(root, 'own', 'private', 'private_key.pem'),
  };
}

/** Create the PKI folders (the certificate manager fills them; the client makes its certificate on its first connection). */
export function ensurePki(root: string): void {
  for (const d of ['own/certs', 'own/private', 'trusted/certs', 'trusted/crl', 'issuers/certs', 'issuers/crl', 'rejected']) makeDirs(join(root, d));
}

/** Warn this long before the client's own certificate expires. */
export const CERT_WARN_DAYS = 30;

export type OwnCertificate =
  | { state: 'none' }
  | { state: 'ok' | 'expiring'; validTo: Date; daysLeft: number }
  | { state: 'expired'; validTo: Date; movedTo: string };

/**
 * Check the client's own certificate before a connection attempt, at `nowMs`: none yet (the client
 * creates one as it connects), valid, within CERT_WARN_DAYS of its end, or expired. An expired one
 * (or one not yet valid, after a clock step) is renamed `<file>.expired-<ISO time>` so that the
 * client creates a new one from the same private key on this attempt; the server must then be
 * told to trust the new certificate (SignAndEncrypt/Sign), which the caller says. A file that is not
 * a readable certificate is treated like an expired one.
 */
export function checkOwnCertificate(root: string, nowMs: number): OwnCertificate {
  const file = pkiPaths(root).ownCert;
  if (!existsSync(file)) return { state: 'none' };
  let validFrom = new Date(0);
  let validTo = new Date(0);
  try {
    const cert = new X509Certificate(readFileSync(file));
    validFrom = new Date(cert.validFrom);
    validTo = new Date(cert.validTo);
  } catch {
    // unreadable: replaced below like an expired one
  }
  if (validTo.getTime() > nowMs && validFrom.getTime() <= nowMs) {
    const daysLeft = Math.floor((validTo.getTime() - nowMs) / 86_400_000);
    return { state: daysLeft < CERT_WARN_DAYS ? 'expiring' : 'ok', validTo, daysLeft };
  }
  const movedTo = `${file}.expired-${new Date(nowMs).toISOString().replace(/[:.]/g, '-')}`;
  renameSync(file, movedTo);
  return { state: 'expired', validTo, movedTo };
}

/** The newest file in the PKI's rejected folder (where an untrusted server certificate is written), or undefined. */
export function newestRejected(root: string): string | undefined {
  const dir = pkiPaths(root).rejected;
  let best: { f: string; t: number } | undefined;
  try {
    for (const f of readdirSync(dir)) {
      const t = statSync(join(dir, f)).mtimeMs;
      if (!best || t > best.t) best = { f: join(dir, f), t };
    }
  } catch {
    return undefined;
  }
  return best?.f;
}

/** What went wrong, as a short reason (counter label) and a message that says what to check. */
export interface Diagnosis {
  reason: 'refused' | 'unreachable' | 'dns' | 'timeout' | 'untrusted_server_certificate' | 'server_certificate_expired' | 'client_certificate_refused' | 'session_refused' | 'no_endpoint' | 'other';
  message: string;
  /** The peer could not be reached at all (the probe exits 2). */
  unreachable: boolean;
}

/** The OPC UA status name in an error message (`BadUserAccessDenied`), if any. */
export function statusNameIn(msg: string): string | undefined {
  return /\b((?:Bad|Uncertain)[A-Za-z]+)\b/.exec(msg)?.[1];
}

/**
 * Turn a failure of connect / createSession into a diagnosis. `pki` is the client's PKI root (for
 * the certificate messages), `user` the session user (empty: anonymous); `keys` names the settings
 * a message tells to check (default: the driver's config keys, security.username and
 * security.password, security.mode and security.policy).
 */
export function diagnose(
  err: unknown,
  endpoint: string,
  opts: { pki?: string; user?: string; mode?: string; policy?: string; timeoutMs?: number; keys?: { user: string; security: string } },
): Diagnosis {
  const keys = opts.keys ?? { user: 'security.username and security.password', security: 'security.mode and security.policy' };
  const raw = err instanceof Error ? err.message : String(err);
  const msg = raw.replace(ANSI, '');
  const ep = parseEndpoint(endpoint);
  const where = ep ? `${ep.host}:${ep.port}` : endpoint;
  const status = statusNameIn(msg);
  if (/ECONNREFUSED/.test(msg)) return { reason: 'refused', unreachable: true, message: `connection refused at ${where} — is the OPC UA server running and the port open?` };
  if (/ENOTFOUND|EAI_AGAIN/.test(msg)) return { reason: 'dns', unreachable: true, message: `cannot resolve the host of ${endpoint} — check the host name in the endpoint` };
  if (/EHOSTUNREACH|ENETUNREACH/.test(msg)) return { reason: 'unreachable', unreachable: true, message: `no route to ${where} — check the address, the cabling and the routing` };
  if (/ETIMEDOUT|timed out|timeout/i.test(msg) && !status)
    return { reason: 'timeout', unreachable: true, message: `no answer from ${where}${opts.timeoutMs ? ` within ${opts.timeoutMs} ms` : ''} — check the address, the routing and the firewall` };
  if (status === 'BadCertificateTimeInvalid' || status === 'BadCertificateIssuerTimeInvalid')
    return {
      reason: 'server_certificate_expired',
      unreachable: false,
      message: `the server's certificate${status === 'BadCertificateIssuerTimeInvalid' ? ' issuer' : ''} is outside its validity period (${status}) — renew the certificate on the server, or check this gateway's clock`,
    };
  if (/verification failed/i.test(msg) && /BadCertificate/.test(msg)) {
    const pki = opts.pki ? pkiPaths(opts.pki) : undefined;
    const file = opts.pki ? newestRejected(opts.pki) : undefined;
    const move = pki
      ? file
        ? `move ${file} to ${pki.trusted}/ (the driver retries by itself)`
        : `move its file from ${pki.rejected}/ to ${pki.trusted}/ (the driver retries by itself)`
      : 'trust it on this client';
    return { reason: 'untrusted_server_certificate', unreachable: false, message: `server certificate not trusted (${status ?? 'BadCertificateUntrusted'}): check it is the server's, then ${move}` };
  }
  if (status && /^Bad(UserAccessDenied|IdentityToken(Invalid|Rejected)|UserSignatureInvalid)$/.test(status))
    return {
      reason: 'session_refused',
      unreachable: false,
      message: `the server refused the session for ${opts.user ? `user "${opts.user}"` : 'an anonymous user'} (${status}) — check ${keys.user}${opts.user ? '' : ' (the server may not allow anonymous sessions)'}`,
    };
  if (status && /^Bad(SecurityChecksFailed|Certificate[A-Za-z]*|NonceInvalid|ApplicationSignatureInvalid)$/.test(status)) {
    const own = opts.pki ? pkiPaths(opts.pki).ownCert : 'its certificate';
    return { reason: 'client_certificate_refused', unreachable: false, message: `the server refused this client's certificate (${status}) — add ${own} to the server's trusted certificates` };
  }
  const token = /cannot find (\w+) user token policy/i.exec(msg);
  if (token)
    return {
      reason: 'session_refused',
      unreachable: false,
      message: `the server accepts no ${token[1]!.toUpperCase() === 'ANONYMOUS' ? 'anonymous sessions' : `${token[1]!.toLowerCase()} sessions`} at mode ${opts.mode ?? '?'} and policy ${opts.policy ?? '?'} — check ${keys.user}${opts.user ? '' : ' (give a user: the server may not allow anonymous sessions)'}`,
    };
  if (/cannot find (an )?endpoint|no endpoint|BadSecurityPolicyRejected|BadSecurityModeRejected/i.test(msg))
    return { reason: 'no_endpoint', unreachable: false, message: `the server offers no endpoint with mode ${opts.mode ?? '?'} and policy ${opts.policy ?? '?'} (${msg.split('\n')[0]}) — check ${keys.security}` };
  return { reason: 'other', unreachable: false, message: msg.split('\n')[0]! };
}

/** Resolve `p`, or reject after `ms` with a timeout error (the caller closes whatever `p` was opening). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
