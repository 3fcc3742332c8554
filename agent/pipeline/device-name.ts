/**
 * The rule for device names. A device name is one MQTT topic level (`bal/raw/<device>`,
 * `bal/processed/<device>/stats/<window>`), a key in the agent's per-device state and a label on
 * the status page, so it must be:
 *
 * - non-empty and at most {@link MAX_DEVICE_NAME_BYTES} bytes of UTF-8;
 * - well-formed text: no U+FFFD (what invalid UTF-8 in a topic decodes to) and no lone surrogates;
 * - free of control characters (U+0000–U+001F, U+007F–U+009F);
 * - free of `/` (it would span topic levels) and of the MQTT wildcards `+` and `#`.
 */

export const MAX_DEVICE_NAME_BYTES = 128;

/** Why `name` is not a valid device name, or null when it is. */
export function deviceNameError(name: string): string | null {
  const n = name.length;
  if (n === 0) return 'device name is empty';
  // UTF-8 takes at least one byte per UTF-16 unit: a long string is refused before any scan.
  if (n > MAX_DEVICE_NAME_BYTES) return `device name is longer than ${MAX_DEVICE_NAME_BYTES} bytes`;
  let ascii = true;
  for (let k = 0; k < n; k++) {
    const c = name.charCodeAt(k);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return `device name contains control character U+${hex(c)} at ${k}`;
    if (c === 0x2f) return 'device name contains "/" (a device is one topic level)';
    if (c === 0x2b || c === 0x23) return `device name contains the MQTT wildcard "${String.fromCharCode(c)}"`;
    if (c === 0xfffd) return `device name contains U+FFFD at ${k} (invalid UTF-8)`;
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = k + 1 < n ? name.charCodeAt(k + 1) : 0;
      if (c > 0xdbff || next < 0xdc00 || next > 0xdfff) return `device name contains a lone surrogate U+${hex(c)} at ${k}`;
      k++;
    }
    if (c > 0x7f) ascii = false;
  }
  if (!ascii && Buffer.byteLength(name, 'utf8') > MAX_DEVICE_NAME_BYTES)
    return `device name is longer than ${MAX_DEVICE_NAME_BYTES} bytes of UTF-8`;
  return null;
}

function hex(c: number): string {
  return c.toString(16).toUpperCase().padStart(4, '0');
}
