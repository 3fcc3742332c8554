/**
 * Azure IoT Hub device connection strings:
 * `HostName=<hub>.azure-devices.net;DeviceId=<id>;SharedAccessKey=<base64>` (optionally `ModuleId=`,
 * or `x509=true` instead of a key). Parse errors name the missing or bad part.
 */

export interface DeviceCredentials {
  hostName: string;
  deviceId: string;
  moduleId?: string;
  /** Base64 device (or module) key; absent with X.509 authentication. */
  sharedAccessKey?: string;
  x509: boolean;
}

const KNOWN = new Set(['HostName', 'DeviceId', 'ModuleId', 'SharedAccessKey', 'x509', 'GatewayHostName', 'SharedAccessKeyName']);

export function isBase64(s: string): boolean {
  return s.length > 0 && s.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(s);
}

/** Parse a device connection string; throws an Error saying which part is missing or wrong. */
export function parseConnectionString(s: string): DeviceCredentials {
  const parts = new Map<string, string>();
  const pieces = s.split(';');
  for (const [k, piece] of pieces.entries()) {
    if (piece.trim() === '') continue;
    const eq = piece.indexOf('=');
    // The part itself is not quoted: it may be the key written without `SharedAccessKey=`.
    if (eq <= 0) throw new Error(`has a part without "Name=value" (part ${k + 1} of ${pieces.length}, ${piece.length} characters)`);
    const name = piece.slice(0, eq).trim();
    // Keys end in '=' (base64 padding): everything after the first '=' is the value.
    const value = piece.slice(eq + 1).trim();
    // A name is quoted only when it looks like one (at most 20 letters, digits, `_`): the "name" of
    // `SharedAccessKey:<key>=` or of a bare padded key `<key>=` is the key (44 base64 characters for
    // IoT Hub's 256-bit keys).
    if (!KNOWN.has(name)) {
      const shown = /^[A-Za-z][A-Za-z0-9_]{0,19}$/.test(name) ? JSON.stringify(name) : `(part ${k + 1} of ${pieces.length}, not a name)`;
      throw new Error(`has an unknown part ${shown} (expected HostName, DeviceId, SharedAccessKey, ModuleId or x509)`);
    }
    if (parts.has(name)) throw new Error(`has ${name} twice`);
    parts.set(name, value);
  }
  const hostName = parts.get('HostName');
  const deviceId = parts.get('DeviceId');
  const key = parts.get('SharedAccessKey');
  const x509 = (parts.get('x509') ?? '').toLowerCase() === 'true';
  const missing: string[] = [];
  if (!hostName) missing.push('HostName');
  if (!deviceId) missing.push('DeviceId');
  if (!key && !x509) missing.push('SharedAccessKey (or x509=true)');
  if (missing.length) throw new Error(`is missing ${missing.join(', ')} (expected HostName=<hub>.azure-devices.net;DeviceId=<id>;SharedAccessKey=<key>)`);
  if (parts.has('SharedAccessKeyName'))
    throw new Error('is a hub-level (policy) connection string (SharedAccessKeyName): use the device connection string');
  if (/[\s/]/.test(hostName!)) throw new Error(`has a bad HostName ${JSON.stringify(hostName)} (a host name such as myhub.azure-devices.net)`);
  if (key && !isBase64(key)) throw new Error('has a SharedAccessKey that is not base64');
  const out: DeviceCredentials = { hostName: hostName!, deviceId: deviceId!, x509: !key };
  if (key) out.sharedAccessKey = key;
  const moduleId = parts.get('ModuleId');
  if (moduleId) out.moduleId = moduleId;
  return out;
}
