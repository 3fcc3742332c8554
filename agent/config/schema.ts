/**
 * The one convict schema of the agent's own options: every option's default, doc, validation and
 * GRIDEDGE_* environment variable. The entries of each plugin list (one per kind, agent/core/kinds.ts)
 * are validated against their plugin's sub-schema (agent/registry.ts), `mqtt.users[]` entries
 * against USER_SCHEMA.
 * Mirrors agent/core/config-types.ts `AgentConfig`.
 */
import * as f from './formats.js';
import { parseHash } from '../broker/passwords.js';
import { clientIdPatternProblem } from '../broker/client-ids.js';
import { CONFIG_VERSION } from './migrate.js';
import { MIN_MAX_BYTES } from '../buffer/space.js';
import { KINDS, type KindInfo, type ListKey } from '../core/kinds.js';
import { STATS_SCHEMA } from '../aggregators/stats/schema.js';
import { SCHEDULER_SCHEMA } from '../services/scheduler/schema.js';
import { ESTIMATOR_SCHEMA } from '../analyzers/estimator/schema.js';

/** One option: convict's leaf shape (a node with `default`). */
export interface SchemaLeaf {
  doc: string;
  format: unknown;
  default: unknown;
  env?: string;
  sensitive?: boolean;
  nullable?: boolean;
}

export interface SchemaBranch {
  [key: string]: SchemaNode;
}

export type SchemaNode = SchemaLeaf | SchemaBranch;

/** convict's rule: a node with a `default` is an option, any other object a group of options. */
export function isLeaf(node: unknown): node is SchemaLeaf {
  return typeof node === 'object' && node !== null && !Array.isArray(node) && 'default' in node;
}

const GiB = 1024 ** 3;

/** 0 (no limit), or enough for the buffer's fixed files plus some rows. */
const maxBytesFormat: f.Check = (v) => {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || (v !== 0 && v < MIN_MAX_BYTES))
    throw new Error(`must be 0 (no limit) or an integer of at least ${MIN_MAX_BYTES} bytes`);
};

const passwordHash: f.Check = (v) => {
  if (v === undefined || v === null) return;
  if (typeof v !== 'string') throw new Error('must be a string scrypt$N$r$p$salt$hash');
  try {
    parseHash(v);
  } catch (e) {
    throw new Error(`must be an scrypt hash (scrypt$N$r$p$salt$hash): ${(e as Error).message}`);
  }
};

/** The credential keys of a user entry: a password in clear or its scrypt hash (exactly one). */
const CREDENTIALS: SchemaBranch = {
  password: {
    doc: 'Password in clear (hashed with scrypt when the agent starts); give this or passwordHash',
    format: f.optionalString,
    default: undefined,
    sensitive: true,
  },
  passwordHash: {
    doc: 'scrypt hash of the password (scrypt$N$r$p$salt$hash, base64; `gridedge passwd` makes one); give this or password',
    format: passwordHash,
    default: undefined,
    sensitive: true,
  },
};

/** One `http.users[]` entry. */
export const HTTP_USER_SCHEMA: SchemaBranch = {
  username: { doc: 'Account name', format: f.nonEmptyString, default: null },
  ...CREDENTIALS,
  role: {
    doc: 'viewer: read; operator: also submit optimisations and acknowledge; admin: also config and users',
    format: ['viewer', 'operator', 'admin'],
    default: 'viewer',
  },
};

/** `mqtt.users[].clientIds`: absent, or a non-empty list of client ids / patterns (agent/broker/client-ids.ts). */
const clientIdPatternList: f.Check = (v) => {
  if (v === undefined || v === null) return;
  if (!Array.isArray(v) || v.length === 0)
    throw new Error('must be a non-empty list of client ids or patterns with * wildcards (leave clientIds out for no restriction)');
  f.checkEach(v, (p, k) => {
    const problem = clientIdPatternProblem(p);
    if (problem) throw new Error(`[${k}] must be a client id or a pattern with * wildcards: ${problem}`);
  });
};

/** One `mqtt.users[]` entry. */
export const USER_SCHEMA: SchemaBranch = {
  username: { doc: 'MQTT username', format: f.nonEmptyString, default: null },
  ...CREDENTIALS,
  publish: { doc: 'Topic filters the user may publish to (none when empty)', format: f.topicFilterList, default: [] },
  subscribe: { doc: 'Topic filters the user may subscribe to (none when empty)', format: f.topicFilterList, default: [] },
  clientIds: {
    doc:
      'Client ids this user may use, each exact or with * wildcards (any run of characters, e.g. "pmu-*"); they are reserved for it: other users are refused them (CONNACK 2). ' +
      'Leave out to let the user use any id no user reserved (first come, first served); patterns of different users must not overlap',
    format: clientIdPatternList,
    default: undefined,
  },
  maxSessions: {
    doc: 'Persistent sessions (clean: false) this user may hold at once; a CONNECT that would create one more is refused with CONNACK 3 (leave out: only mqtt.maxSessions applies)',
    format: (v: unknown) => {
      if (v === undefined || v === null) return;
      f.intRange(0, 1_000_000)(v);
    },
    default: undefined,
  },
};

/** The keys every plugin list entry has, before its plugin's own keys. */
export function entryBaseSchema(kind: KindInfo, knownTypes: readonly string[]): SchemaBranch {
  return {
    type: {
      doc: `Which ${kind.kind} plugin: ${knownTypes.join(', ') || '(none registered)'}`,
      format: f.oneOf(...knownTypes),
      default: null,
    },
    id: { doc: kind.idDoc, format: f.identifier, default: null },
    ...(kind.kind === 'driver'
      ? {
          staleAfterMs: {
            doc: 'A device of this driver with no value for this many ms is marked stale (0: 3 × the interval the driver expects, when it reports one; otherwise never)',
            format: f.intRange(0, 2_147_483_647),
            default: 0,
          },
        }
      : {}),
  };
}

/** The entries a list has when the config does not give it (aggregators: see `stats`). */
export const DEFAULT_PROCESSORS = [{ type: 'power', id: 'power' }];

/** One option per plugin kind: its list of entries (see agent/core/kinds.ts). */
/** What a list holds when the config does not give it, where that is not "nothing". */
const DEFAULT_NOTES: Partial<Record<ListKey, string>> = {
  processors: 'the power processor',
  aggregators: 'the stats aggregator configured by the stats section',
  services: 'the scheduler service configured by the scheduler section',
};

function pluginLists(): SchemaBranch {
  const out: SchemaBranch = {};
  for (const k of KINDS) {
    const note = DEFAULT_NOTES[k.list] ? ` (default: ${DEFAULT_NOTES[k.list]})` : '';
    out[k.list] = {
      doc: `${k.doc}${note}; see ${k.list}[] below; as an environment variable: JSON`,
      format: f.list,
      default: k.list === 'processors' ? DEFAULT_PROCESSORS : [],
    };
  }
  return out;
}

const ROOT: SchemaBranch = {
  version: {
    doc: `Config file format version; files without it are version 1 and are migrated to ${CONFIG_VERSION} when loaded`,
    format: f.intRange(1, CONFIG_VERSION),
    default: CONFIG_VERSION,
  },
  gateway: {
    id: {
      doc: 'Gateway id: sent as "gw" in every forwarded message and used in gridedge/<id>/status; give each gateway its own',
      format: f.identifier,
      default: 'gw-1',
    },
  },
  log: {
    level: { doc: 'Log level of the JSON log on stdout', format: f.logLevel, default: 'info' },
  },
  mqtt: {
    host: {
      doc: 'Address the embedded broker binds; any non-loopback address needs mqtt.users or mqtt.allowAnonymous: true',
      format: f.host,
      default: '127.0.0.1',
    },
    port: { doc: 'TCP port of the embedded broker (0: pick a free one)', format: f.portOrZero, default: 1883 },
    allowAnonymous: {
      doc: 'Let clients in without a username (with full access); required to bind a non-loopback address with no users',
      format: f.boolean,
      default: false,
    },
    users: {
      doc: 'Broker users with per-user topic ACLs (see mqtt.users[] below); as an environment variable: JSON',
      format: f.list,
      default: [],
    },
    maxPayloadBytes: {
      doc: 'Largest accepted payload on bal/raw in bytes; larger ones are rejected and counted',
      format: f.intRange(64, 256 * 1024 * 1024),
      default: 65536,
    },
    maxQueuedMessages: {
      doc: 'QoS 1/2 messages kept per persistent session (clean: false) for delivery and re-sending after a reconnect; the oldest is dropped beyond (counted in broker_dropped{reason="queue_full"}); 0: none kept (nothing re-sent after a reconnect)',
      format: f.intRange(0, 1_000_000),
      default: 1000,
    },
    maxSessions: {
      doc: 'Persistent sessions (clean: false) the broker keeps at once, connected or not, over all users; a CONNECT that would create one more is refused with CONNACK 3 (counted in broker_refused{reason="too_many_sessions"}); reconnects to an existing session are not affected; 0: no persistent sessions',
      format: f.intRange(0, 1_000_000),
      default: 1000,
    },
    sessionExpiryHours: {
      doc: 'A persistent session (clean: false) whose client has been away this many hours is ended by the broker: its subscriptions and queued messages are dropped and its place under mqtt.maxSessions freed (counted in broker_sessions_ended{reason="expired"}); 0: never (MQTT 3.1.1 sessions do not expire)',
      format: f.numberRange(0, 24 * 365 * 10),
      default: 0,
    },
    maxSubscriptionsPerClient: {
      doc: 'Topic filters one client may be subscribed to at once; a SUBSCRIBE for a new filter past it gets the failure code 0x80 for that filter (counted in broker_refused{reason="too_many_subscriptions"}), the filters within it are granted; re-subscribing a filter the client has is not counted again',
      format: f.intRange(1, 10_000_000),
      default: 10_000,
    },
    maxRetained: {
      doc: 'Retained messages clients may leave on the broker, all topics together; past it a retained publish is still delivered to the subscribers connected but not retained, and one replacing a topic\'s retained message also drops the earlier one (counted in broker_retained_refused); an empty retained publish clears its topic and frees its place; 0: clients cannot retain messages. Kept in memory: a restart forgets them',
      format: f.intRange(0, 10_000_000),
      default: 10_000,
    },
    maxRetainedBytes: {
      doc: 'Bytes of topics and payloads of the retained messages of mqtt.maxRetained, all together; past it a retained publish is treated as past mqtt.maxRetained',
      format: f.intRange(0, 4 * 1024 * 1024 * 1024),
      default: 64 * 1024 * 1024,
    },
    websocket: {
      enabled: { doc: 'Serve MQTT over WebSocket on the HTTP server', format: f.boolean, default: true },
      path: { doc: 'URL path of MQTT over WebSocket', format: f.urlPath, default: '/mqtt' },
    },
    tls: {
      cert: {
        doc: 'PEM file of the broker\'s TLS certificate (its chain may follow it); with mqtt.tls.key it opens an MQTT over TLS listener on mqtt.tls.host:mqtt.tls.port beside the plain one (empty: no TLS listener)',
        format: f.optionalFile,
        default: '',
      },
      key: { doc: 'PEM file of the private key of mqtt.tls.cert', format: f.optionalFile, default: '', sensitive: true },
      ca: {
        doc: 'PEM file of the CA certificates that sign client certificates: when given, a TLS client must present a certificate one of them signed, or the handshake fails (empty: no client certificates asked for); usernames and passwords apply as on the plain listener',
        format: f.optionalFile,
        default: '',
      },
      crl: {
        doc: 'With mqtt.tls.ca: PEM file of one or more X.509 CRLs of those CAs (OpenSSL checks the whole chain, so one from each CA of mqtt.tls.ca that signs client or intermediate certificates); a client whose certificate is revoked fails the handshake (counted in broker_refused{reason="certificate_revoked"}). Re-read by a reload (systemctl reload gridedge), which also disconnects connected clients whose certificate is now revoked. A CRL past its nextUpdate is a status problem (and a config check warning) from 14 days before, but does not lock clients out: the revocations it lists still apply (OpenSSL and mosquitto would refuse every client). Empty: none',
        format: f.optionalFile,
        default: '',
      },
      identityAsUsername: {
        doc: 'With mqtt.tls.ca: the common name of a TLS client\'s certificate is its username, and its password is not asked for (a username sent must be that name); the name must be one of mqtt.users, whose ACLs apply. Plain MQTT still logs in by password',
        format: f.boolean,
        default: false,
      },
      host: {
        doc: 'Address the TLS listener binds (empty: mqtt.host); for example mqtt.host 127.0.0.1 with mqtt.tls.host 0.0.0.0 keeps plain MQTT on this machine and only TLS on the network',
        format: f.optionalHost,
        default: '',
      },
      port: { doc: 'Port of the TLS listener (0: pick a free one)', format: f.portOrZero, default: 8883 },
    },
  },
  http: {
    host: {
      doc: 'Address the HTTP server (live page, API, metrics) binds; any non-loopback address needs http.users',
      format: f.host,
      default: '127.0.0.1',
    },
    port: { doc: 'Port of the HTTP server (0: pick a free one)', format: f.portOrZero, default: 8080 },
    users: {
      doc: 'Accounts of the page and the API (see http.users[] below); none: open, allowed on a loopback address only; as an environment variable: JSON',
      format: f.list,
      default: [],
    },
    sessionHours: { doc: 'Lifetime of a login session or bearer token in hours', format: f.numberRange(0.01, 24 * 365), default: 12 },
    maxConnections: {
      doc: 'TCP connections the HTTP server keeps open at once (browsers, API clients, event streams, MQTT over WebSocket); one more from another machine is closed at once (counted in http_connections_refused); connections from this machine (loopback: the CLI) may take 16 more, so gridedge status still answers',
      format: f.intRange(1, 1_000_000),
      default: 1024,
    },
    tls: {
      cert: { doc: 'PEM file of the HTTPS certificate (with http.tls.key; empty: plain HTTP)', format: f.optionalFile, default: '' },
      key: { doc: 'PEM file of the HTTPS private key (with http.tls.cert)', format: f.optionalFile, default: '', sensitive: true },
    },
  },
  storage: {
    dir: {
      doc: 'Directory of the SQLite buffer and plugin files (relative paths: from the working directory)',
      format: f.nonEmptyString,
      default: './gridedge-data',
    },
    maxBytes: {
      doc:
        'Disk space of the buffer\'s files (database, WAL, shared memory, space reserve, seq file); the oldest rows are pruned to stay within it, drops are counted (0: no limit)',
      format: maxBytesFormat,
      default: GiB,
    },
    maxAgeHours: {
      doc: 'Prune buffered rows older than this many hours (0: no limit); drops are counted',
      format: f.numberRange(0, 100 * 365 * 24),
      default: 168,
    },
    historyHours: {
      doc: 'Hours of processed measurements and statistics kept in the buffer for plots and GET /api/v1/devices/{id}/history, forwarded or not (0: off, rows go once every forwarder has them); within maxBytes, where rows kept only for history go first (history_dropped_rows)',
      format: f.numberRange(0, 100 * 365 * 24),
      default: 24,
    },
    commitIntervalMs: {
      doc: 'Longest wait in ms before an idle buffer commits (0: at once, after the current event-loop turn; what arrives while a commit is in flight goes in the next); QoS 1 publishes are acknowledged after their commit',
      format: f.intRange(0, 10_000),
      default: 0,
    },
  },
  pipeline: {
    futureToleranceS: {
      doc: 'Timestamps further than this many seconds in the future are kept but flagged questionable (ts_future)',
      format: f.numberRange(0, 10 * 365 * 86400),
      default: 300,
    },
    pastToleranceS: {
      doc: 'Timestamps older than this many seconds are kept but flagged questionable (ts_past)',
      format: f.numberRange(0, 100 * 365 * 86400),
      default: 7 * 86400,
    },
    workers: {
      doc:
        'Threads that parse, validate, process and serialise raw publishes from MQTT clients besides the main thread ' +
        '(auto or 0: none; a worker pays only when the main thread is saturated and cores are free, and adds latency and CPU: see the README benchmarks); driver measurements are always processed on the main thread',
      format: (v: unknown) => {
        if (v === 'auto') return;
        const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v;
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 16) throw new Error('must be "auto" or an integer between 0 and 16');
      },
      default: 'auto',
    },
    maxDevices: {
      doc: 'Distinct devices the gateway keeps; at the limit, devices silent for over an hour are forgotten (devices_forgotten), and a new device beyond it is rejected and counted (too_many_devices)',
      format: f.intRange(1, 1_000_000),
      default: 2000,
    },
  },
  scheduler: { ...SCHEDULER_SCHEMA },
  stats: {
    enabled: {
      doc: 'Run the default stats aggregator (used when the config gives no aggregators list) on bal/processed/<device>/stats/<window>',
      format: f.boolean,
      default: true,
    },
    ...STATS_SCHEMA,
  },
  // With `network` set, the estimator analyzer's entry (agent/config/load.ts adds it to analyzers).
  estimator: ESTIMATOR_SCHEMA,
  status: {
    intervalS: {
      doc: 'Seconds between publishes of the retained gridedge/<id>/status and the gridedge/<id>/metrics topics',
      format: f.numberRange(0.1, 86400),
      default: 10,
    },
  },
  ...pluginLists(),
};

/** Options that have no environment variable. */
const NO_ENV = new Set(['version']);

/** `mqtt.allowAnonymous` → `GRIDEDGE_MQTT_ALLOW_ANONYMOUS`. */
export function envName(path: string): string {
  return (
    'GRIDEDGE_' +
    path
      .split('.')
      .map((k) => k.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase())
      .join('_')
  );
}

function withEnv(node: SchemaBranch, prefix: string): SchemaBranch {
  const out: SchemaBranch = {};
  for (const [k, child] of Object.entries(node)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (isLeaf(child)) out[k] = NO_ENV.has(path) ? { ...child } : { ...child, env: child.env ?? envName(path) };
    else out[k] = withEnv(child, path);
  }
  return out;
}

/** The agent's own options (without plugin keys), each leaf with its GRIDEDGE_* variable. */
export const ROOT_SCHEMA: SchemaBranch = withEnv(ROOT, '');

