/**
 * Config keys every forwarder has (runner behaviour and routing), shared by the plugin schemas,
 * and the helpers that turn them into a runner's options and a router.
 */
import { readFileSync } from 'node:fs';
import { intRange, oneOf, topicFilterList, topicMap } from '../config/formats.js';
import { showValue } from '../config/problems.js';
import { RECONNECT_DEFAULTS, reconnectSchema, type ReconnectDelays } from '../config/reconnect.js';
import { mapTopic, matchFilter, type TopicMapEntry } from '../core/topics.js';
import { NO_INVALID_PATHS, type InvalidPaths } from '../core/plugin.js';
import { ForwardError } from './errors.js';

export interface RunnerOptions {
  /** Rows handed to one `send` (live rows first, then backlog rows). */
  batchSize: number;
  /** Backlog rows per second at most (0: unlimited). Live rows are not limited. */
  backlogMaxRate: number;
  /** First reconnect delay (ms); each failure doubles the ceiling of the jittered delay. */
  reconnectMinMs: number;
  /** Longest reconnect delay (ms). */
  reconnectMaxMs: number;
  /** How long `stop()` waits for the batch in flight (ms). */
  stopTimeoutMs: number;
  /** Seconds the rows of a topic the peer refused (not authorized) are skipped before it is tried again (0: not remembered). */
  refusedTopicHoldS: number;
  /**
   * Where a forwarder whose buffer cursor does not exist yet starts: `latest` (rows committed from
   * now on) or `oldest` (the rows the buffer still holds that some forwarder, or one removed in this
   * run, has not delivered; every row when there is no other cursor). An existing cursor keeps its place.
   */
  startFrom: StartFrom;
}

export type StartFrom = 'latest' | 'oldest';

export const DEFAULT_RUNNER_OPTIONS: RunnerOptions = {
  batchSize: 200,
  backlogMaxRate: 10_000,
  ...RECONNECT_DEFAULTS,
  stopTimeoutMs: 5_000,
  refusedTopicHoldS: 60,
  startFrom: 'latest',
};

/** convict schema of the runner keys, part of every forwarder's schema (defaults may differ per forwarder). */
export function runnerSchema(defaults: Partial<RunnerOptions> = {}): Record<string, { doc: string; format: (v: unknown) => void; default: number | string }> {
  const d = { ...DEFAULT_RUNNER_OPTIONS, ...defaults };
  return {
    batchSize: {
      doc: 'Rows per send: live rows first, then backlog rows (MQTT: one publish per row; Azure: packed into messages)',
      format: intRange(1, 10_000),
      default: d.batchSize,
    },
    backlogMaxRate: {
      doc: 'Backlog rows per second at most while catching up after an outage (0: unlimited); live rows are never held back',
      format: intRange(0, 10_000_000),
      default: d.backlogMaxRate,
    },
    refusedTopicHoldS: {
      doc: 'Seconds the rows of an upstream topic the peer refused for good (MQTT 5 not authorized / topic name invalid) are skipped, counted in forward_rejected, before the topic is tried again (0: try every row)',
      format: intRange(0, 86_400),
      default: d.refusedTopicHoldS,
    },
    startFrom: {
      doc: 'Where a forwarder new to the buffer (first start, a new or renamed id) starts: latest (rows committed from now on) or oldest (also the rows the buffer holds that were not delivered: buffered while no forwarder was configured, or left by a renamed forwarder; not the rows every forwarder delivered, kept only for history); a forwarder that already has a cursor resumes from it',
      format: oneOf('latest', 'oldest'),
      default: d.startFrom,
    },
    ...reconnectSchema('jittered', d),
  };
}

/** convict schema of the routing keys: which buffered rows go to this forwarder, under which topic. */
export const routingSchema = {
  topics: {
    doc: 'Topic filters of the buffered rows this forwarder sends when `map` is empty (same topic upstream)',
    format: topicFilterList,
    default: ['bal/processed/#'],
  },
  map: {
    doc: 'Topic map [{ from, to }]: when not empty, a row is sent iff some `from` filter matches (first match wins), under `to` with each + and # replaced by what the wildcards in `from` matched',
    format: topicMap,
    default: [] as TopicMapEntry[],
  },
};

export interface RoutingConfig {
  topics: string[];
  map: TopicMapEntry[];
}

export interface RunnerConfig extends ReconnectDelays {
  batchSize: number;
  backlogMaxRate: number;
  refusedTopicHoldS: number;
  startFrom: StartFrom;
}

/** The runner options found in a forwarder's validated config slice (keys of `runnerSchema`). */
export function runnerOptions(config: Readonly<Record<string, unknown>>): Partial<RunnerOptions> {
  const out: Partial<RunnerOptions> = {};
  const num = (k: keyof RunnerConfig): number | undefined => (typeof config[k] === 'number' ? (config[k] as number) : undefined);
  const batchSize = num('batchSize');
  const backlogMaxRate = num('backlogMaxRate');
  const min = num('reconnectMinMs');
  const max = num('reconnectMaxMs');
  const hold = num('refusedTopicHoldS');
  if (hold !== undefined) out.refusedTopicHoldS = hold;
  if (config['startFrom'] === 'latest' || config['startFrom'] === 'oldest') out.startFrom = config['startFrom'];
  if (batchSize !== undefined) out.batchSize = batchSize;
  if (backlogMaxRate !== undefined) out.backlogMaxRate = backlogMaxRate;
  if (min !== undefined) out.reconnectMinMs = min;
  if (max !== undefined) out.reconnectMaxMs = Math.max(max, min ?? DEFAULT_RUNNER_OPTIONS.reconnectMinMs);
  return out;
}

/** `route(topic)` for a forwarder: the topic map when not empty, else the topic filters. */
export function makeRouter(cfg: RoutingConfig): (topic: string) => string | null {
  const map = cfg.map ?? [];
  const topics = cfg.topics ?? [];
  if (map.length) return (topic) => mapTopic(map, topic);
  return (topic) => (topics.some((f) => matchFilter(f, topic) !== null) ? topic : null);
}

/** Read a PEM file named in the config; a clear error names the key and the path. */
export function readPem(path: string | undefined | null, key: string): Buffer | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path);
  } catch (e) {
    throw new ForwardError('config', `${key}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** The connection settings of every MQTT client the agent opens to another broker (forwarder, mqtt-source). */
export interface MqttConnectionConfig {
  url: string;
  username: string;
  password: string;
  /** Empty: a name the plugin derives from the gateway and its id. */
  clientId: string;
  /** PEM file paths (empty: not used). */
  ca: string;
  cert: string;
  key: string;
  rejectUnauthorized: boolean;
}

/**
 * Put the username, password and TLS material of `cfg` into client options. The PEM files are read
 * at each call (each connection), so renewed certificates are picked up without a restart; a file
 * that cannot be read throws a ForwardError naming the key and the path.
 */
export function applyCredentials(
  opts: { username?: string; password?: string | Buffer; ca?: string | Buffer | (string | Buffer)[]; cert?: string | Buffer | (string | Buffer)[]; key?: string | Buffer | (string | Buffer)[] },
  cfg: MqttConnectionConfig,
): void {
  if (cfg.username) opts.username = cfg.username;
  if (cfg.password) opts.password = cfg.password;
  const ca = readPem(cfg.ca, 'ca');
  const cert = readPem(cfg.cert, 'cert');
  const key = readPem(cfg.key, 'key');
  if (ca) opts.ca = ca;
  if (cert) opts.cert = cert;
  if (key) opts.key = key;
}

/**
 * What is wrong between the connection keys of an MQTT client config ("key: message" each): a
 * certificate without its key or the other way round, TLS material on a plain URL, a password
 * without a username. The keys themselves are checked by their schema formats; a rule that reads a
 * key `invalid` by itself is left out.
 */
export function mqttConnectionProblems(cfg: Partial<MqttConnectionConfig>, invalid: InvalidPaths = NO_INVALID_PATHS): string[] {
  const problems: string[] = [];
  const valid = (...keys: string[]): boolean => keys.every((k) => !invalid(k));
  if (valid('cert', 'key') && cfg.cert && !cfg.key) problems.push('key: must be set when cert is set (the client private key)');
  if (valid('cert', 'key') && cfg.key && !cfg.cert) problems.push('cert: must be set when key is set (the client certificate)');
  if (valid('ca', 'cert', 'url') && (cfg.ca || cfg.cert) && cfg.url && !isTlsUrl(cfg.url))
    problems.push(`url: must be mqtts:// or wss:// when ca or cert is set, got ${showValue(cfg.url)}`);
  if (valid('password', 'username') && cfg.password && !cfg.username) problems.push('username: must be set when password is set');
  return problems;
}

/** `url` must be mqtt://, mqtts://, ws:// or wss:// with a host. */
export function upstreamUrl(v: unknown): void {
  if (typeof v !== 'string' || v === '') throw new Error('must be a broker URL such as "mqtt://host:1883" or "mqtts://host:8883"');
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new Error('must be a broker URL such as "mqtt://host:1883" or "mqtts://host:8883"');
  }
  if (!['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(u.protocol))
    throw new Error(`must use mqtt://, mqtts://, ws:// or wss://, not ${u.protocol}//`);
  if (!u.hostname) throw new Error('must name a host');
}

/** Like `upstreamUrl`, but empty is allowed (meaning "the default"). */
export function optionalUpstreamUrl(v: unknown): void {
  if (v === '' || v === null || v === undefined) return;
  upstreamUrl(v);
}

/** Does the url use TLS (mqtts/wss)? */
export function isTlsUrl(url: string): boolean {
  return /^(mqtts|wss):/i.test(url);
}
