/**
 * Shared access signature tokens for a device ("Control access to IoT Hub with shared access
 * signatures", Microsoft Learn): the signature is the base64 HMAC-SHA256, keyed by the
 * base64-decoded device key, of `<URL-encoded resource URI>\n<expiry>` (expiry in seconds since the
 * epoch); the token is
 * `SharedAccessSignature sr=<URL-encoded resource URI>&sig=<URL-encoded signature>&se=<expiry>`.
 * Device keys sign without a key name (`skn`).
 */
import { createHmac } from 'node:crypto';

/** `{host}/devices/{deviceId}` or, for a module identity, `{host}/devices/{deviceId}/modules/{moduleId}`. */
export function resourceUri(hostName: string, deviceId: string, moduleId?: string): string {
  return `${hostName}/devices/${deviceId}` + (moduleId ? `/modules/${moduleId}` : '');
}

/** base64 HMAC-SHA256 of `<encoded uri>\n<expiry>` keyed by the decoded key. */
export function sasSignature(encodedUri: string, expiry: number, base64Key: string): string {
  return createHmac('sha256', Buffer.from(base64Key, 'base64')).update(`${encodedUri}\n${expiry}`).digest('base64');
}

export function sasToken(uri: string, base64Key: string, expiry: number): string {
  const sr = encodeURIComponent(uri);
  const sig = encodeURIComponent(sasSignature(sr, expiry, base64Key));
  return `SharedAccessSignature sr=${sr}&sig=${sig}&se=${expiry}`;
}
