/**
 * mqtt-source config: the convict schema of its keys and the rules across them (`validate`: every
 * problem, each naming its key, e.g. `topics[1].device: ...`), and the compiled topic table the
 * driver runs from.
 *
 * The url and topics are checked in `validate` rather than by their convict formats, so that a bad
 * url and a bad topic are reported together by `gridedge config check`.
 */
import { intRange, optionalFile, optionalString } from '../../agent/config/formats.js';
import { showValue } from '../../agent/config/problems.js';
import { filterError } from '../../agent/core/topics.js';
import { mqttConnectionProblems, upstreamUrl } from '../../agent/forwarders/options.js';
import { reconnectProblems, reconnectSchema, type ReconnectDelays } from '../../agent/config/reconnect.js';
import { deviceNameError } from '../../agent/pipeline/device-name.js';
import { anglesWithoutMagnitude, driverFieldError } from '../common/field-path.js';
import { parseJsonPath, type PathStep } from './json-path.js';
import type { MqttConnectionConfig } from '../../agent/forwarders/options.js';
import { NO_INVALID_PATHS, type InvalidPaths } from '../../agent/core/plugin.js';

export interface TopicConfig {
  /** MQTT topic filter subscribed to on the external broker. */
  filter: string;
  /** The device name; each `+` in it is replaced, in order, by what the filter's `+` levels matched. */
  device: string;
  /** Measurement field (dotted path) → JSON path in the payload. Absent: the payload is a measurement. */
  fields?: Record<string, string>;
  /** JSON path of the timestamp in the payload (with `fields`; absent: the arrival time). */
  ts?: string;
}

/** `clientId` empty: `gridedge-<gateway>-src-<id>`. */
export interface MqttSourceConfig extends MqttConnectionConfig, ReconnectDelays {
  id: string;
  type?: string;
  topics: TopicConfig[];
  qos: number;
  protocolVersion: number;
  sessionExpiryS: number;
  keepalive: number;
  connectTimeoutMs: number;
  staleAfterMs?: number;
}

export const schema = {
  url: {
    doc: 'External broker URL: mqtt://host:1883, mqtts://host:8883, ws://host/path or wss://host/path',
    format: optionalString,
    default: '',
  },
  username: { doc: 'MQTT username (empty: none)', format: optionalString, default: '' },
  password: { doc: 'MQTT password (empty: none)', format: optionalString, default: '', sensitive: true },
  clientId: {
    doc: 'MQTT client id, the same at every connection so the broker keeps the session (empty: gridedge-<gateway id>-src-<driver id>)',
    format: optionalString,
    default: '',
  },
  ca: { doc: 'PEM file of the CA(s) that signed the broker certificate (empty: the system CAs)', format: optionalFile, default: '' },
  cert: { doc: 'PEM file of our client certificate (with `key`)', format: optionalFile, default: '' },
  key: { doc: 'PEM file of our client private key (with `cert`)', format: optionalFile, default: '' },
  rejectUnauthorized: { doc: 'Check the broker certificate against the CA and the host name (turn off only for tests)', format: Boolean, default: true },
  topics: {
    doc: 'Subscriptions: { filter (MQTT topic filter), device ("+", "meter-+" or a fixed name: each + is what the next + level of the filter matched), fields ({ "v.a.mag": "$.Ua", ... }; absent: the payload is a gateway measurement), ts (JSON path of the timestamp) }',
    format: (v: unknown) => {
      if (!Array.isArray(v)) throw new Error('must be a list of { filter, device, fields, ts }');
    },
    default: [],
  },
  qos: { doc: 'Subscription QoS: 1 (acknowledged upstream only after the buffer commit) or 0 (best effort)', format: intRange(0, 1), default: 1 },
  protocolVersion: {
    doc: 'MQTT protocol version: 5 or 4 (3.1.1)',
    format: (v: unknown) => {
      if (v !== 4 && v !== 5) throw new Error('must be 4 (MQTT 3.1.1) or 5 (MQTT 5.0)');
    },
    default: 5,
  },
  sessionExpiryS: {
    doc: 'MQTT 5: how long the broker keeps our session and queues QoS 1 messages while we are away, in seconds (MQTT 3.1.1: the broker decides)',
    format: intRange(1, 4_294_967_295),
    default: 604_800,
  },
  keepalive: { doc: 'MQTT keepalive in seconds', format: intRange(5, 65535), default: 30 },
  connectTimeoutMs: { doc: 'Give up a connection attempt after this many ms', format: intRange(100, 600_000), default: 10_000 },
  ...reconnectSchema('jittered'),
};

/** One compiled subscription. */
export interface CompiledTopic {
  filter: string;
  device: string;
  /** `+` levels in the filter (their captures come first in matchFilter's result). */
  plusLevels: number;
  fields?: { field: string; path: PathStep[]; source: string }[];
  ts?: PathStep[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const plusCount = (s: string): number => s.split('').filter((c) => c === '+').length;

/** Every problem of the entry, "key: message" each; and the compiled topics when there is none. */
export function compile(cfg: Partial<MqttSourceConfig>, invalid: InvalidPaths = NO_INVALID_PATHS): { problems: string[]; topics: CompiledTopic[] } {
  const problems: string[] = [];
  try {
    upstreamUrl(cfg.url);
  } catch (e) {
    problems.push(`url: ${(e as Error).message}, got ${showValue(cfg.url ?? '')}`);
  }
  problems.push(...mqttConnectionProblems(cfg, invalid), ...reconnectProblems(cfg, invalid));
  const topics: CompiledTopic[] = [];
  const list = cfg.topics;
  if (!Array.isArray(list) || list.length === 0) problems.push('topics: must list at least one { filter, device }');
  else
    list.forEach((raw: unknown, k) => {
      const at = `topics[${k}]`;
      if (!isObject(raw)) {
        problems.push(`${at}: must be an object { filter, device, fields, ts }, got ${JSON.stringify(raw)}`);
        return;
      }
      for (const key of Object.keys(raw))
        if (!['filter', 'device', 'fields', 'ts'].includes(key)) problems.push(`${at}.${key}: unknown key (known: filter, device, fields, ts)`);
      const before = problems.length;
      const filter = raw['filter'];
      let plusLevels = 0;
      if (typeof filter !== 'string') problems.push(`${at}.filter: must be an MQTT topic filter such as "meters/+/data", got ${JSON.stringify(filter)}`);
      else {
        const e = filterError(filter);
        if (e) problems.push(`${at}.filter: must be an MQTT topic filter: ${e}, got ${JSON.stringify(filter)}`);
        plusLevels = filter.split('/').filter((l) => l === '+').length;
      }
      const device = raw['device'];
      if (typeof device !== 'string' || device === '') problems.push(`${at}.device: must be a device name, "+" or a name with "+" in it such as "meter-+", got ${JSON.stringify(device)}`);
      else {
        const n = plusCount(device);
        if (n > plusLevels)
          problems.push(`${at}.device: has ${n} "+" but the filter has ${plusLevels} "+" level${plusLevels === 1 ? '' : 's'} to fill them from, got ${JSON.stringify(device)}`);
        // The fixed part must be a valid device name once the captures are in ("x" stands for one).
        const e = deviceNameError(device.replace(/\+/g, 'x'));
        if (e) problems.push(`${at}.device: ${e}, got ${JSON.stringify(device)}`);
      }
      let fields: CompiledTopic['fields'];
      if (raw['fields'] !== undefined) {
        const f = raw['fields'];
        if (!isObject(f) || Object.keys(f).length === 0) problems.push(`${at}.fields: must be an object { "<field>": "<JSON path>" } with at least one entry`);
        else {
          fields = [];
          const seen: string[] = [];
          for (const [field, source] of Object.entries(f)) {
            const fe = driverFieldError(field);
            if (fe) problems.push(`${at}.fields: the field "${field}" ${fe}`);
            const clash = seen.find((s) => s.startsWith(`${field}.`) || field.startsWith(`${s}.`));
            if (clash) problems.push(`${at}.fields: the field "${field}" lies inside or around the field "${clash}"`);
            seen.push(field);
            if (typeof source !== 'string') {
              problems.push(`${at}.fields: the source of "${field}" must be a JSON path string such as "$.Ua", got ${JSON.stringify(source)}`);
              continue;
            }
            try {
              fields.push({ field, path: parseJsonPath(source), source });
            } catch (e) {
              problems.push(`${at}.fields: the JSON path of "${field}" ${(e as Error).message}`);
            }
          }
          for (const { angle, magnitude } of anglesWithoutMagnitude(Object.keys(f)))
            problems.push(`${at}.fields: the field "${angle}" has no "${magnitude}" beside it: a phasor is published with its magnitude, so the angle alone would never be published`);
        }
      }
      let ts: PathStep[] | undefined;
      if (raw['ts'] !== undefined) {
        if (fields === undefined && raw['fields'] === undefined) problems.push(`${at}.ts: applies only with fields (a payload in the gateway's format has its own ts)`);
        try {
          ts = parseJsonPath(raw['ts'] as string);
        } catch (e) {
          problems.push(`${at}.ts: ${(e as Error).message}`);
        }
      }
      if (problems.length === before) {
        const t: CompiledTopic = { filter: filter as string, device: device as string, plusLevels };
        if (fields) t.fields = fields;
        if (ts) t.ts = ts;
        topics.push(t);
      }
    });
  return { problems, topics };
}

export function validate(cfg: Partial<MqttSourceConfig>, invalid?: InvalidPaths): string[] {
  return compile(cfg, invalid).problems;
}

/** The device a message on a topic publishes as: each `+` of the template filled, in order, from the `+` captures. */
export function deviceOf(template: string, plusCaptures: readonly string[]): string {
  let n = 0;
  return template.replace(/\+/g, () => plusCaptures[n++] ?? '');
}
