/**
 * Errors a forwarder reports, each with a short `reason` (the `reason` label of the
 * `forward_errors` counter) and a message a person can act on.
 */

import { maskUrlPassword } from '../core/secrets.js';
import type { RejectedRow } from '../core/plugin.js';

export type ForwardReason =
  | 'not_authorized'
  | 'bad_credentials'
  | 'tls'
  | 'refused'
  | 'unreachable'
  | 'timeout'
  | 'closed'
  | 'protocol'
  | 'config'
  | 'error';

export class ForwardError extends Error {
  constructor(
    readonly reason: ForwardReason,
    message: string,
  ) {
    super(message);
    this.name = 'ForwardError';
  }
}

/**
 * A send that failed part-way: the rows in `delivered` were acknowledged before the connection
 * failed; the runner keeps them and retries the others.
 */
export class PartialSendError extends ForwardError {
  constructor(
    cause: ForwardError,
    readonly delivered: readonly number[],
    readonly rejected: readonly RejectedRow[] = [],
  ) {
    super(cause.reason, cause.message);
    this.name = 'PartialSendError';
  }
}

const TLS_HINTS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the server certificate is self-signed: set `ca` to the file of the CA that signed it',
  SELF_SIGNED_CERT_IN_CHAIN: 'the server certificate chain ends in an unknown self-signed CA: set `ca`',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the server certificate is signed by an unknown CA: set `ca`',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the server certificate is signed by an unknown CA: set `ca`',
  CERT_HAS_EXPIRED: 'the server certificate has expired',
  CERT_NOT_YET_VALID: 'the server certificate is not valid yet (check the clock)',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the server certificate does not name the host in the url',
};

function tlsHint(code: string): string | undefined {
  if (TLS_HINTS[code]) return TLS_HINTS[code];
  if (/CERTIFICATE_REQUIRED/.test(code)) return 'the server requires a client certificate: set `cert` and `key`';
  if (/BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN/.test(code)) return 'the server refused our client certificate';
  if (/WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG/.test(code)) return 'the server does not speak TLS on this port (use mqtt:// or the TLS port)';
  return undefined;
}

/**
 * Turn whatever mqtt.js / net / tls raised while connecting into a ForwardError with a clear message.
 * The message names `url` with its password masked.
 */
export function describeConnectError(err: unknown, configuredUrl: string): ForwardError {
  if (err instanceof ForwardError) return err;
  const url = maskUrlPassword(configuredUrl);
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : typeof e?.code === 'number' ? e.code : undefined;
  const msg = typeof e?.message === 'string' ? e.message : String(err);
  if (typeof code === 'number') {
    // CONNACK return codes (MQTT 3.1.1 §3.2.2.3) and reason codes (MQTT 5 §3.2.2.2).
    if (code === 5 || code === 135) return new ForwardError('not_authorized', `${url}: not authorized (${msg})`);
    if (code === 4 || code === 134) return new ForwardError('bad_credentials', `${url}: bad username or password (${msg})`);
    if (code === 1 || code === 132)
      return new ForwardError('protocol', `${url}: the broker refused the MQTT protocol version (${msg}); try protocolVersion 4`);
    if (code === 2 || code === 133) return new ForwardError('not_authorized', `${url}: client identifier refused (${msg})`);
    return new ForwardError('refused', `${url}: connection refused (${msg})`);
  }
  if (typeof code === 'string') {
    const hint = tlsHint(code);
    if (hint || /CERT|SSL|TLS/.test(code)) return new ForwardError('tls', `${url}: TLS error ${code}: ${hint ?? msg}`);
    if (code === 'ECONNREFUSED') return new ForwardError('refused', `${url}: connection refused (nothing listening?)`);
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new ForwardError('unreachable', `${url}: host name not found (${code})`);
    if (code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH')
      return new ForwardError('unreachable', `${url}: host unreachable (${code})`);
    if (code === 'ECONNRESET' || code === 'EPIPE') return new ForwardError('closed', `${url}: connection reset by the peer (${code})`);
    return new ForwardError('error', `${url}: ${code}: ${msg}`);
  }
  if (/TLS not authorized/.test(msg)) return new ForwardError('tls', `${url}: TLS error: the server certificate was not accepted`);
  return new ForwardError('error', `${url}: ${msg}`);
}
