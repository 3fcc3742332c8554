/**
 * `gridedge tail TOPIC`: subscribe to the broker and print each message, one line each
 * (`<topic> <payload>`, or a JSON object per line with --json). Exit 0 after --count messages or on
 * Ctrl-C, 1 bad input, 2 when the broker cannot be reached or refuses the connection or subscription.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { maskUrlPassword } from '../../core/secrets.js';
import { filterError } from '../../core/topics.js';
import { EXIT, positiveInt, MAX_TIMEOUT_S, positiveNumber, TIMEOUT_SECONDS, type Command } from '../command.js';
import { resolveMqttUrl } from '../endpoints.js';
import { TLS_TRUST } from '../fetch-status.js';
import { escapeControls, fileErrorText, oneLine } from '../format.js';
import type { Io } from '../io.js';
import { agentOptions } from './status.js';

/**
 * Valid JSON text without the whitespace between its tokens; every token (numbers, strings) is kept
 * exactly as sent (parsing and serialising again would turn 1e400 into null or round large integers).
 */
function compactJson(s: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (inString) {
      out += c;
      if (c === '\\') out += s[++i] ?? '';
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (c !== ' ' && c !== '\t' && c !== '\n' && c !== '\r') out += c;
  }
  return out;
}

/**
 * A payload as one line, as sent: JSON with the whitespace between its tokens removed, other UTF-8
 * text as is, base64 when not UTF-8; terminal controls escaped (`escapeControls`). `json` is the
 * value for --json lines as JSON text: the payload's own JSON (raw, compacted), or a string.
 */
export function payloadText(payload: Buffer): { text: string; json: string } {
  const s = payload.toString('utf8');
  if (Buffer.from(s, 'utf8').equals(payload)) {
    let isJson = true;
    try {
      JSON.parse(s);
    } catch {
      isJson = false;
    }
    if (isJson) {
      // Inside a valid JSON text, controls can only be escapes already or DEL/C1 inside strings.
      const compact = escapeControls(compactJson(s));
      return { text: compact, json: compact };
    }
    return { text: escapeControls(s), json: escapeControls(JSON.stringify(s)) };
  }
  const b64 = `base64:${payload.toString('base64')}`;
  return { text: b64, json: JSON.stringify(b64) };
}

/** One output line for a message: `<topic> <payload>`, or with `json` an object with its fields. */
export function messageLine(topic: string, payload: Buffer, qos: number, retain: boolean, json: boolean): string {
  const p = payloadText(payload);
  if (!json) return `${escapeControls(topic)} ${p.text}\n`;
  return `{"topic":${escapeControls(JSON.stringify(topic))},"payload":${p.json},"qos":${qos},"retain":${retain}}\n`;
}

/**
 * Why the connection failed, in words: system errors by their code, a TLS handshake with a port that
 * does not speak TLS, a peer that accepted the connection but sent no CONNACK within --timeout, and
 * (before the CONNACK) bytes that are not MQTT; a broker's refusal (numeric code) as mqtt.js says it.
 */
function reasonOf(e: Error & { code?: string | number }, timeoutS: number, connected: boolean, tls: boolean): string {
  if (typeof e.code === 'string' && /^E[A-Z_]+$/.test(e.code)) {
    const words: Record<string, string> = {
      ECONNREFUSED: 'connection refused (is the broker running, on this port?)',
      ENOTFOUND: 'host not found',
      EAI_AGAIN: 'host name lookup failed',
      EHOSTUNREACH: 'host unreachable',
      ENETUNREACH: 'network unreachable',
      ETIMEDOUT: 'connection timed out',
      ECONNRESET: 'connection reset',
      EPIPE: 'connection closed by the peer',
      EPROTO: 'no TLS handshake: the port does not speak TLS (mqtts:// or wss:// to a plain MQTT or HTTP port?)',
    };
    const plainPort = tls && !connected && e.code === 'ECONNRESET' ? ': a plain MQTT port resets a TLS handshake (mqtts:// to the port of mqtt://?)' : '';
    return `${words[e.code] ?? oneLine(e.message, 200)} (${e.code})${plainPort}`;
  }
  if (e.message === 'connack timeout') return `no answer within ${timeoutS} s (the connection was accepted but no MQTT CONNACK came: is this the broker's MQTT port?)`;
  if (e.code === undefined && !connected) return `answered something that is not MQTT (${oneLine(e.message, 120)}): is this the broker's MQTT port?`;
  return oneLine(e.message, 200);
}

/** PEM files for mqtts:// and wss:// (--ca, --cert, --key), read now. */
interface TlsFlags {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** Read --ca, --cert and --key; every problem named by its option. */
function readTlsFlags(values: Record<string, unknown>): { ok: true; tls: TlsFlags } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const tls: TlsFlags = {};
  for (const k of ['ca', 'cert', 'key'] as const) {
    const file = values[k];
    if (typeof file !== 'string') continue;
    try {
      tls[k] = readFileSync(file);
    } catch (e) {
      errors.push(`--${k}: cannot read ${file}: ${fileErrorText(e)}`);
      continue;
    }
    const pem = tls[k]!.toString('latin1');
    if (k !== 'key' && !pem.includes('-----BEGIN CERTIFICATE-----')) errors.push(`--${k}: ${file} holds no PEM certificate`);
    if (k === 'key' && !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) errors.push(`--key: ${file} holds no PEM private key`);
  }
  if (typeof values['cert'] === 'string' && typeof values['key'] !== 'string') errors.push('--cert: needs --key (the client certificate\'s private key)');
  if (typeof values['key'] === 'string' && typeof values['cert'] !== 'string') errors.push('--key: needs --cert (the client certificate)');
  return errors.length ? { ok: false, errors } : { ok: true, tls };
}

async function tail(
  url: string,
  topic: string,
  opts: { username?: string; password?: string; count?: number; json: boolean; timeoutS: number; from?: string; tls: TlsFlags },
  io: Io,
): Promise<number> {
  const { connect } = await import('mqtt');
  const client = connect(url, {
    ...opts.tls,
    clientId: `gridedge-tail-${randomBytes(4).toString('hex')}`,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: opts.timeoutS * 1000,
    ...(opts.username !== undefined ? { username: opts.username } : {}),
    ...(opts.password !== undefined ? { password: opts.password } : {}),
  });
  const where = maskUrlPassword(url).replace(/\/$/, '');
  const from = opts.from ? ` (the address from ${opts.from})` : '';
  // mqtt.js reports a WebSocket upgrade the server refused (a wrong path) only as a silence.
  const wsHint = /^wss?:/.test(url) ? ` (MQTT over WebSocket: is the path right? the agent's is mqtt.websocket.path, /mqtt by default)` : '';
  return new Promise<number>((resolve) => {
    let done = false;
    let subscribed = false;
    let seen = 0;
    let lastError: string | undefined;
    const finish = (code: number, message?: string): void => {
      if (done) return;
      done = true;
      if (message) io.err(message);
      io.signal.removeEventListener('abort', onAbort);
      client.removeAllListeners('message');
      client.endAsync(code !== EXIT.ok).then(
        () => resolve(code),
        () => resolve(code),
      );
    };
    const onAbort = (): void => finish(EXIT.ok);
    io.signal.addEventListener('abort', onAbort, { once: true });

    client.on('error', (e: Error & { code?: string | number }) => {
      lastError = reasonOf(e, opts.timeoutS, client.connected, /^(mqtts|wss):/.test(url));
      if (typeof e.code === 'string' && TLS_TRUST.has(e.code))
        lastError += opts.tls.ca ? '; the certificate(s) in --ca did not sign the broker\'s certificate' : '; pass the CA or the broker\'s own certificate with --ca FILE';
      if (!subscribed) finish(EXIT.unreachable, `gridedge tail: cannot connect to ${where}${from}: ${lastError}\n`);
    });
    client.on('close', () => {
      if (subscribed) finish(EXIT.unreachable, `gridedge tail: the broker at ${where} closed the connection${lastError ? `: ${lastError}` : ''}\n`);
      else finish(EXIT.unreachable, `gridedge tail: cannot connect to ${where}${from}: ${lastError ?? `no answer within ${opts.timeoutS} s${wsHint}`}\n`);
    });
    client.on('message', (t, payload, packet) => {
      if (done) return;
      io.out(messageLine(t, payload, packet.qos, packet.retain, opts.json));
      seen++;
      if (opts.count !== undefined && seen >= opts.count) finish(EXIT.ok);
    });
    client.once('connect', () => {
      client.subscribeAsync(topic, { qos: 0 }).then(
        (granted) => {
          const g = granted[0];
          if (!g || g.qos >= 0x80)
            finish(EXIT.unreachable, `gridedge tail: the broker at ${where} refused the subscription to ${topic} (not allowed for this user?)\n`);
          else subscribed = true;
        },
        (e: Error) => finish(EXIT.unreachable, `gridedge tail: the broker at ${where} refused the subscription to ${topic}: ${e.message}\n`),
      );
    });
  });
}

export const tailCommand: Command = {
  name: 'tail',
  summary: 'Subscribe to TOPIC on the broker and print each message (topic and payload, one line each)',
  options: {
    url: { type: 'string', valueName: 'URL', description: 'Broker URL; default: from the config (mqtt://127.0.0.1:1883)' },
    config: { ...agentOptions.config, description: 'Derive the broker address from this config file (default: $GRIDEDGE_CONFIG, else /etc/gridedge/gridedge.yaml if readable, else the embedded default)' },
    username: { type: 'string', short: 'u', valueName: 'USER', description: 'MQTT username' },
    password: { type: 'string', short: 'P', valueName: 'PASSWORD', description: 'MQTT password (default: $GRIDEDGE_MQTT_PASSWORD)' },
    count: { type: 'string', short: 'n', valueName: 'N', description: 'Exit after N messages' },
    json: { type: 'boolean', description: 'One JSON object per message: { topic, payload, qos, retain }' },
    timeout: { type: 'string', valueName: 'DURATION', duration: TIMEOUT_SECONDS, description: 'Give up connecting after this long (default 10s)' },
    ca: { type: 'string', valueName: 'FILE', description: "mqtts:// or wss://: trust the broker's certificate when this PEM file (a CA, or the certificate itself) signed it" },
    cert: { type: 'string', valueName: 'FILE', description: 'mqtts:// or wss://: the client certificate (PEM) to present, when the broker asks for one (mqtt.tls.ca)' },
    key: { type: 'string', valueName: 'FILE', description: 'The private key (PEM) of --cert' },
  },
  positionals: [{ name: 'TOPIC', description: 'MQTT topic filter, e.g. "bal/processed/#" (quote it in the shell)' }],
  handlesSignals: true,
  details: [
    'Exit codes: 0 after --count messages or Ctrl-C, 1 bad input, 2 the broker cannot be reached or refuses.',
    'Examples:',
    "  gridedge tail 'bal/processed/#'",
    "  gridedge tail 'bal/processed/pmu1/stats/10s' --count 1 --json",
    "  gridedge tail 'bal/raw/#' --url mqtt://10.0.0.2:1883 --username tech --password secret",
    "  gridedge tail 'bal/processed/#' --url mqtts://10.0.0.2:8883 --ca /etc/gridedge/ca.pem -u tech",
  ].join('\n'),
  async run({ values, positionals }, io) {
    const topic = positionals[0]!;
    const bad = filterError(topic);
    if (bad) {
      io.err(`gridedge tail: TOPIC must be an MQTT topic filter: ${bad}, got ${JSON.stringify(topic)}\n`);
      return EXIT.badInput;
    }
    const n = positiveInt('count', values['count']);
    const timeout = positiveNumber('timeout', values['timeout'], MAX_TIMEOUT_S);
    for (const e of [n, timeout])
      if (typeof e === 'string') {
        io.err(`gridedge tail: ${e}\n`);
        return EXIT.badInput;
      }
    const where = await resolveMqttUrl(values['url'] as string | undefined, values['config'] as string | undefined, io.env);
    if (!where.ok) {
      io.err(where.errors.map((e) => `gridedge tail: ${e}\n`).join(''));
      return EXIT.badInput;
    }
    const tls = readTlsFlags(values);
    if (!tls.ok) {
      io.err(tls.errors.map((e) => `gridedge tail: ${e}\n`).join(''));
      return EXIT.badInput;
    }
    const password = (values['password'] as string | undefined) ?? io.env['GRIDEDGE_MQTT_PASSWORD'];
    return tail(
      where.url,
      topic,
      {
        ...(values['username'] !== undefined ? { username: values['username'] as string } : {}),
        ...(password !== undefined ? { password } : {}),
        ...(typeof n === 'number' ? { count: n } : {}),
        json: values['json'] === true,
        timeoutS: (timeout as number | undefined) ?? 10,
        ...(where.from !== undefined ? { from: where.from } : {}),
        tls: tls.tls,
      },
      io,
    );
  },
};
