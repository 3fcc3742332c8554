/**
 * JSON Schemas of the HTTP responses (fastify serialises with them; an OpenAPI document can be built from them later).
 * Objects allow additional properties so fields added to AgentStatus later are not silently dropped.
 */
import { KINDS } from '../core/kinds.js';

const str = { type: 'string' } as const;
const num = { type: 'number' } as const;
const int = { type: 'integer' } as const;
const bool = { type: 'boolean' } as const;
const strList = { type: 'array', items: str } as const;

export const phasorSchema = {
  type: 'object',
  additionalProperties: true,
  properties: { mag: num, ang: num },
} as const;

export const measurementSchema = {
  type: 'object',
  description: 'A processed measurement message (see the README, "Topics and messages"); unknown extra fields are kept.',
  additionalProperties: true,
  required: ['device', 'ts', 'quality'],
  properties: {
    device: str,
    ts: { type: 'integer', description: 'microseconds since the Unix epoch (UTC)' },
    quality: { type: 'string', enum: ['good', 'questionable', 'invalid'] },
    reasons: strList,
    freq: num,
    rocof: num,
  },
} as const;

export const deviceStatusSchema = {
  type: 'object',
  additionalProperties: true,
  required: ['device', 'latest', 'ageSeconds'],
  properties: { device: str, latest: measurementSchema, ageSeconds: num },
} as const;

export const pluginStatusSchema = {
  type: 'object',
  additionalProperties: true,
  required: ['id', 'type', 'state'],
  properties: {
    id: str,
    type: str,
    state: { type: 'string', enum: ['starting', 'running', 'degraded', 'stopped'] },
    devices: strList,
    lastError: str,
    lastErrorAt: { type: 'number', description: 'wall-clock ms' },
    info: { type: 'object', additionalProperties: true },
  },
} as const;

export const cursorStatsSchema = {
  type: 'object',
  additionalProperties: true,
  properties: { forwarder: str, cursor: int, lag: int, lagSeconds: num, dropped: int },
} as const;

export const bufferStatsSchema = {
  type: ['object', 'null'],
  additionalProperties: true,
  properties: {
    path: str,
    rows: int,
    bytes: int,
    firstSeq: int,
    lastSeq: int,
    oldestAgeSeconds: num,
    cursors: { type: 'array', items: cursorStatsSchema },
    writeError: str,
  },
} as const;

export const forwarderStatusSchema = {
  type: 'object',
  additionalProperties: true,
  required: ['id', 'type', 'connected', 'lag'],
  properties: {
    id: str,
    type: str,
    connected: bool,
    lastSuccess: { type: 'number', description: 'wall-clock ms of the last acknowledged send' },
    lag: int,
    lagSeconds: num,
    drainRate: { type: 'number', description: 'rows per second delivered over the last interval' },
    lastError: str,
    lastErrorAt: { type: 'number', description: 'wall-clock ms of lastError (kept after recovery)' },
    dropped: int,
    refusedTopics: { type: 'array', items: str, description: 'upstream topics refused for good (not authorized) whose rows are skipped for now' },
  },
} as const;

export const brokerStatusSchema = {
  type: 'object',
  additionalProperties: true,
  required: ['host', 'port', 'clients', 'subscriptions'],
  properties: {
    host: str,
    port: int,
    tls: {
      type: 'object',
      description: 'The MQTT over TLS listener (mqtt.tls), when open',
      properties: {
        host: str,
        port: int,
        clientCertificates: { type: 'boolean', description: 'clients must present a certificate signed by mqtt.tls.ca' },
        certificateExpires: { type: 'string', description: "when the broker's certificate stops being valid (ISO 8601)" },
        crlNextUpdate: { type: ['string', 'null'], description: 'with mqtt.tls.crl: the earliest nextUpdate of its CRLs (ISO 8601; null: none named)' },
        crlThisUpdate: { type: 'string', description: 'the thisUpdate (issue date) of that CRL (ISO 8601)' },
        revokedCertificates: { type: 'integer', description: 'with mqtt.tls.crl: certificates its CRLs revoke' },
      },
    },
    clients: int,
    subscriptions: int,
    sessions: { type: 'integer', description: 'persistent sessions (clean: false) kept now, connected or not' },
    offlineSessions: { type: 'integer', description: 'persistent sessions no client is connected to now' },
  },
} as const;

export const countersSchema = {
  type: 'object',
  description: 'Counter and gauge values: a number per unlabelled series, or { "k=v,k2=v2": value } per labelled name.',
  additionalProperties: {
    anyOf: [num, { type: 'object', additionalProperties: num }],
  },
} as const;

export const agentStatusSchema = {
  title: 'AgentStatus',
  type: 'object',
  additionalProperties: true,
  required: ['gateway', 'version', 'health', 'problems', 'startedAt', 'uptimeSeconds', 'broker', 'drivers', 'plugins', 'devices', 'buffer', 'forwarders', 'counters'],
  properties: {
    gateway: str,
    version: str,
    health: { type: 'string', enum: ['healthy', 'degraded'] },
    problems: strList,
    startedAt: { type: 'number', description: 'wall-clock ms' },
    uptimeSeconds: num,
    broker: brokerStatusSchema,
    certificates: {
      type: 'array',
      description: 'The certificates of the TLS listeners that run, with when each ends, and mqtt.tls.crl with its first nextUpdate; within 14 days of its end each is also a problem',
      items: { type: 'object', properties: { option: { type: 'string', enum: ['mqtt.tls', 'http.tls', 'mqtt.tls.crl'] }, expires: { type: 'string', description: 'ISO 8601' } } },
    },
    drivers: { type: 'array', items: pluginStatusSchema },
    plugins: {
      type: 'object',
      description: 'Health of every configured plugin, by kind',
      properties: Object.fromEntries(KINDS.map((k) => [k.list, { type: 'array', items: pluginStatusSchema }])),
    },
    devices: { type: 'array', items: deviceStatusSchema },
    devicesTotal: int,
    buffer: bufferStatsSchema,
    forwarders: { type: 'array', items: forwarderStatusSchema },
    counters: countersSchema,
    metrics: {
      type: 'object',
      description: 'The metric catalogue: per counter or gauge name, its type, help text and label names',
      additionalProperties: {
        type: 'object',
        properties: { type: { type: 'string', enum: ['counter', 'gauge'] }, help: str, labels: strList },
      },
    },
  },
} as const;

