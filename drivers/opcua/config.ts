/**
 * The opcua driver's config: its convict sub-schema, the shape checks of its node list (NodeId
 * syntax, field paths, sampling intervals, queue sizes), and the rules across keys (`validate`):
 * a security policy that fits the mode, a password only with a user name, each field and each node
 * once. Nothing here loads node-opcua, so `gridedge config check` stays fast.
 */
import { ListCheckError, intRange, oneOf } from '../../agent/config/formats.js';
import { reconnectProblems, reconnectSchema, type ReconnectDelays } from '../../agent/config/reconnect.js';
import { anglesWithoutMagnitude, driverFieldError } from '../common/field-path.js';
import { DEFAULT_VALUE_LIMITS } from '../../agent/pipeline/validate.js';
import { NO_INVALID_PATHS, type InvalidPaths } from '../../agent/core/plugin.js';

export const SECURITY_MODES = ['None', 'Sign', 'SignAndEncrypt'] as const;
export type SecurityModeName = (typeof SECURITY_MODES)[number];

/** Security policies a client can ask for (the short names of the OPC UA policy URIs). */
export const SECURITY_POLICIES = ['None', 'Basic128Rsa15', 'Basic256', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss'] as const;
export type SecurityPolicyName = (typeof SECURITY_POLICIES)[number];

/** The policy used with Sign or SignAndEncrypt when `security.policy` is empty. */
export const DEFAULT_POLICY: SecurityPolicyName = 'Basic256Sha256';

export interface NodeSpec {
  /** `ns=2;s=Va`, `ns=3;i=1001`, `nsu=urn:x;s=Va`, `i=2258`, `ns=1;g=<guid>`, `ns=1;b=<base64>`. */
  nodeId: string;
  /** Dotted path of the measurement field it fills. */
  field: string;
  /** Requested sampling interval in ms (0: as fast as the server samples). */
  samplingInterval: number;
  /** Values the server keeps per publish for this node (1: only the newest). */
  queueSize: number;
}

export interface SecurityConfig {
  mode: SecurityModeName;
  /** Empty: None with mode None, Basic256Sha256 otherwise. */
  policy: string;
  /** Empty: anonymous. */
  username: string;
  password: string;
}

export interface OpcuaConfig extends ReconnectDelays {
  id: string;
  endpoint: string;
  security: SecurityConfig;
  nodes: Partial<NodeSpec>[];
  publishingInterval: number;
  connectTimeoutMs: number;
  sessionTimeoutMs: number;
}

/** Member names one measurement may have (the pipeline's validation limit). */
export const MAX_MESSAGE_NAMES = DEFAULT_VALUE_LIMITS.maxKeys;

export const NODE_DEFAULTS = { samplingInterval: 1000, queueSize: 1 } as const;

const show = (v: unknown): string => JSON.stringify(v) ?? String(v);

const GUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Why `s` is not an OPC UA NodeId in its string form, or null. Accepted: an optional namespace
 * (`ns=<0-65535>;` or `nsu=<uri>;`) followed by one identifier: `i=<0-4294967295>`, `s=<text>`,
 * `g=<guid>` or `b=<base64>`.
 */
export function nodeIdError(s: unknown): string | null {
  const expect = 'must be a NodeId such as "ns=2;s=Va", "ns=3;i=1001" or "nsu=urn:vendor:rtu;s=Va"';
  if (typeof s !== 'string' || s.trim() === '') return expect;
  let rest = s;
  const ns = /^ns=(\d+);/.exec(rest);
  if (ns) {
    const n = Number(ns[1]);
    if (n > 65535) return `namespace index ${ns[1]} is out of range (0-65535)`;
    rest = rest.slice(ns[0].length);
  } else if (rest.startsWith('nsu=')) {
    const end = rest.indexOf(';');
    if (end <= 4) return `${expect} (a namespace URI "nsu=<uri>;" needs ";" and an identifier after it)`;
    rest = rest.slice(end + 1);
  }
  const kind = rest.slice(0, 2);
  const id = rest.slice(2);
  switch (kind) {
    case 'i=': {
      if (!/^\d+$/.test(id) || Number(id) > 4294967295) return `numeric identifier "${id}" must be an integer between 0 and 4294967295`;
      return null;
    }
    case 's=':
      return id.length > 0 ? null : 'string identifier "s=" must not be empty';
    case 'g=':
      return GUID_RE.test(id) ? null : `GUID identifier "${id}" must look like 72962b91-fa75-4ae6-8d28-b404dc7daf63`;
    case 'b=':
      return id.length > 0 && BASE64_RE.test(id) ? null : `opaque identifier "${id}" must be non-empty base64`;
    default:
      return `${expect}: the identifier must start with i=, s=, g= or b=`;
  }
}

/**
 * Shape problems of one node entry (defaults not yet applied), each "<sub-path> <message>" (the
 * loader adds the value it got).
 */
function nodeProblems(n: unknown, at: string): string[] {
  if (typeof n !== 'object' || n === null || Array.isArray(n)) return [`${at} must be an object { nodeId, field, samplingInterval, queueSize }`];
  const o = n as Record<string, unknown>;
  const known = ['nodeId', 'field', 'samplingInterval', 'queueSize'];
  const problems: string[] = [];
  for (const k of Object.keys(o)) if (!known.includes(k)) problems.push(`${at}.${k} unknown key`);
  const ne = nodeIdError(o['nodeId']);
  if (ne) problems.push(`${at}.nodeId ${ne}`);
  // The electrical names keep their shape, exactly as for Modbus registers (any numeric source).
  const fe = driverFieldError(o['field']);
  if (fe) problems.push(`${at}.field ${fe}`);
  const si = o['samplingInterval'];
  if (si !== undefined && (typeof si !== 'number' || !Number.isInteger(si) || si < 0 || si > 86_400_000))
    problems.push(`${at}.samplingInterval must be an integer between 0 and 86400000 (ms; 0: as fast as the server samples)`);
  const qs = o['queueSize'];
  if (qs !== undefined && (typeof qs !== 'number' || !Number.isInteger(qs) || qs < 1 || qs > 10_000)) problems.push(`${at}.queueSize must be an integer between 1 and 10000`);
  return problems;
}

/** Every problem of every node entry, one each (the loader prints them one a line). */
const nodeList = (v: unknown): void => {
  if (!Array.isArray(v)) throw new Error('must be a list of nodes { nodeId, field, samplingInterval, queueSize }');
  const problems = v.flatMap((n, k) => nodeProblems(n, `[${k}]`));
  if (problems.length) throw new ListCheckError(problems);
};

const endpoint = (v: unknown): void => {
  if (typeof v !== 'string' || parseEndpoint(v) === null) throw new Error('must be an OPC UA endpoint URL "opc.tcp://HOST:PORT[/path]", e.g. "opc.tcp://10.0.0.9:4840"');
};

const optionalText = (what: string) => (v: unknown): void => {
  if (v !== null && v !== undefined && typeof v !== 'string') throw new Error(`must be ${what}`);
};

const policy = (v: unknown): void => {
  if (v === null || v === undefined || v === '') return;
  if (typeof v !== 'string' || !(SECURITY_POLICIES as readonly string[]).includes(v)) throw new Error(`must be one of ${SECURITY_POLICIES.join(', ')} (empty: ${DEFAULT_POLICY} with Sign or SignAndEncrypt)`);
};

export const schema = {
  endpoint: { doc: 'OPC UA server endpoint URL, "opc.tcp://HOST:PORT[/path]" (port 4840 when omitted)', format: endpoint, default: '' },
  security: {
    mode: { doc: 'Message security mode: None, Sign or SignAndEncrypt', format: oneOf(...SECURITY_MODES), default: 'None' },
    policy: {
      doc: `Security policy: ${SECURITY_POLICIES.join(', ')} (empty: None with mode None, ${DEFAULT_POLICY} otherwise)`,
      format: policy,
      default: '',
    },
    username: { doc: 'User name of the session (empty: anonymous)', format: optionalText('a user name (empty: anonymous)'), default: '' },
    password: { doc: 'Password of the session user', format: optionalText('a password'), default: '', sensitive: true },
  },
  nodes: {
    doc: 'Monitored nodes: { nodeId ("ns=2;s=Va"), field (dotted path in the measurement), samplingInterval (ms, default 1000), queueSize (default 1) }',
    format: nodeList,
    default: [] as Partial<NodeSpec>[],
  },
  publishingInterval: {
    doc: 'Requested publishing interval of the subscription in ms (0: the smallest samplingInterval of the nodes, at least 50)',
    format: intRange(0, 3_600_000),
    default: 0,
  },
  connectTimeoutMs: { doc: 'Give up a connection attempt (channel and session) after this many ms', format: intRange(100, 600_000), default: 10_000 },
  sessionTimeoutMs: { doc: 'Requested session timeout in ms (the server keeps the session this long without requests)', format: intRange(1000, 3_600_000), default: 60_000 },
  ...reconnectSchema('doubling'),
};

/** `opc.tcp://host:port/path` → parts (port 4840 when omitted), or null. IPv6 hosts go in brackets. */
export function parseEndpoint(s: string): { host: string; port: number; path: string } | null {
  const m = /^opc\.tcp:\/\/(?:\[([^\]]+)\]|([^:/\s[\]]+))(?::(\d{1,5}))?(\/\S*)?$/.exec(s);
  if (!m) return null;
  const port = m[3] === undefined ? 4840 : Number(m[3]);
  if (port < 1 || port > 65535) return null;
  return { host: (m[1] ?? m[2])!, port, path: m[4] ?? '' };
}

/** The entry's nodes with their defaults filled in. */
export function resolveNodes(cfg: OpcuaConfig): NodeSpec[] {
  return (cfg.nodes ?? []).map((n) => ({
    nodeId: n.nodeId!,
    field: n.field!,
    samplingInterval: n.samplingInterval ?? NODE_DEFAULTS.samplingInterval,
    queueSize: n.queueSize ?? NODE_DEFAULTS.queueSize,
  }));
}

/** The policy the client asks for: the configured one, or the mode's default. */
export function effectivePolicy(sec: SecurityConfig): SecurityPolicyName {
  if (sec.policy) return sec.policy as SecurityPolicyName;
  return sec.mode === 'None' ? 'None' : DEFAULT_POLICY;
}

/**
 * A policy that does not fit the mode, a password without a user name: the key (`policy`,
 * `password`) and what is wrong; `userKey` names the user-name setting in the message.
 */
export function securityProblems(sec: Partial<SecurityConfig>, userKey = 'security.username'): { key: 'policy' | 'password'; message: string }[] {
  const out: { key: 'policy' | 'password'; message: string }[] = [];
  const pol = sec.policy ?? '';
  const mode = sec.mode ?? 'None';
  if (mode === 'None' && pol !== '' && pol !== 'None') out.push({ key: 'policy', message: `${pol} needs mode Sign or SignAndEncrypt (mode is None)` });
  if (mode !== 'None' && pol === 'None') out.push({ key: 'policy', message: `None cannot ${mode === 'Sign' ? 'sign' : 'sign and encrypt'}; choose ${DEFAULT_POLICY} or leave it empty` });
  if ((sec.password ?? '') !== '' && (sec.username ?? '') === '') out.push({ key: 'password', message: `given without ${userKey} (leave both empty for an anonymous session)` });
  return out;
}

/**
 * Rules across keys: "path: message" each (the loader prefixes the entry's own path). A rule that
 * reads a key `invalid` by itself is left out; bad nodes are left out of the node rules.
 */
export function validate(cfg: OpcuaConfig, invalid: InvalidPaths = NO_INVALID_PATHS): string[] {
  const problems: string[] = [];
  const reads = { policy: ['security.policy', 'security.mode'], password: ['security.password', 'security.username'] } as const;
  for (const p of securityProblems(cfg.security))
    if (reads[p.key].every((k) => !invalid(k))) problems.push(`security.${p.key}: ${p.message}`);
  problems.push(...reconnectProblems(cfg, invalid));
  const nodes = Array.isArray(cfg.nodes) ? cfg.nodes : [];
  if (nodes.length === 0 && !invalid('nodes')) problems.push('nodes: no nodes to monitor: give at least one { nodeId, field }');
  const byField = new Map<string, number>();
  const byNode = new Map<string, number>();
  nodes.forEach((n, k) => {
    if (invalid(`nodes[${k}]`)) return;
    if (typeof n.field === 'string') {
      const first = byField.get(n.field);
      if (first !== undefined) problems.push(`nodes[${k}].field: ${show(n.field)} is filled twice (also by nodes[${first}])`);
      else byField.set(n.field, k);
    }
    if (typeof n.nodeId === 'string') {
      const first = byNode.get(n.nodeId);
      if (first !== undefined) problems.push(`nodes[${k}].nodeId: ${show(n.nodeId)} is monitored twice (also by nodes[${first}])`);
      else byNode.set(n.nodeId, k);
    }
  });
  // A measurement carries every node's field, and in the worst case names each in field_quality: it
  // must stay within the member names the agent accepts in one message.
  const prefixes = new Set<string>();
  for (const f of byField.keys()) f.split('.').forEach((_, k, parts) => prefixes.add(parts.slice(0, k + 1).join('.')));
  const names = prefixes.size + byField.size + 5;
  if (names > MAX_MESSAGE_NAMES)
    problems.push(
      `nodes: ${nodes.length} nodes make measurements of up to ${names} member names (fields and their field_quality entries), more than the ${MAX_MESSAGE_NAMES} one message may have: split them over several driver entries (devices)`,
    );
  const fields = [...byField.keys()].sort();
  for (let k = 1; k < fields.length; k++) {
    const outer = fields[k - 1]!;
    const inner = fields[k]!;
    if (inner.startsWith(`${outer}.`)) problems.push(`nodes[${byField.get(inner)}].field: ${show(inner)} lies inside ${show(outer)}, which is a value (nodes[${byField.get(outer)}])`);
  }
  for (const { angle, magnitude } of anglesWithoutMagnitude(byField.keys()))
    problems.push(`nodes[${byField.get(angle)}].field: ${show(angle)} has no node filling ${show(magnitude)}: a phasor is published with its magnitude, so the angle alone would never be published`);
  return problems;
}
