/**
 * The technician's probe (`gridedge opcua browse URL [--node NODEID] [--security MODE] [--policy
 * NAME] [--user NAME]`): connect the way the driver does (security None and an anonymous session
 * unless asked otherwise), list the children of one node (the Objects folder by default) with
 * browse name, NodeId, node class and, for variables, the value and its StatusCode; errors say
 * what to check. Used by agent/cli/commands/opcua.ts. The client certificate node-opcua needs is
 * kept in `<tmp>/gridedge-opcua-probe-<uid>/pki` (created on the first run); with Sign or
 * SignAndEncrypt the server must trust it, and the probe accepts the server's certificate without
 * asking (it is a diagnostic; the driver only trusts what is in its own trusted folder).
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClientSession, OPCUAClient, ReferenceDescription } from 'node-opcua-client';
import { SECURITY_MODES, SECURITY_POLICIES, effectivePolicy, nodeIdError, parseEndpoint, securityProblems, type SecurityModeName, type SecurityPolicyName } from './config.js';
import { diagnose, ensurePki, loadOpcua, userIdentity, within } from './client.js';
import { toLeaf, statusName } from './values.js';
import { maskUrlPassword } from '../../agent/core/secrets.js';

export interface BrowseRequest {
  endpoint: string;
  /** The node whose children are listed (default `i=85`, the Objects folder). */
  node: string;
  timeoutMs: number;
  mode: SecurityModeName;
  policy: SecurityPolicyName;
  /** Empty: an anonymous session. */
  username: string;
  password: string;
}

export interface BrowseChild {
  browseName: string;
  displayName: string;
  nodeId: string;
  nodeClass: string;
  /** Variables only: the value as the driver would carry it (absent when it has none or cannot carry it). */
  value?: number | boolean | string | number[];
  dataType?: string;
  status?: string;
}

export interface BrowseResult {
  endpoint: string;
  node: string;
  children: BrowseChild[];
}

export type BrowseOutcome = { ok: true; result: BrowseResult } | { ok: false; exit: 1 | 2; message: string };

/**
 * Check the probe's arguments; an error names what is wrong. `password` is the session user's
 * password (the command reads it from standard input when `--user` is given).
 */
export function parseBrowse(positionals: readonly string[], o: Record<string, string | boolean | undefined>, password = ''): BrowseRequest | string {
  const url = positionals[0];
  if (url === undefined) return 'give the server endpoint URL, e.g. gridedge opcua browse opc.tcp://10.0.0.9:4840';
  if (positionals.length > 1) return `one endpoint URL only, got ${positionals.length} arguments`;
  // Quoted with a password masked: the user goes in --user, its password on standard input.
  if (!parseEndpoint(url)) return `URL: must be "opc.tcp://HOST:PORT[/path]", got ${JSON.stringify(maskUrlPassword(url))}`;
  const node = typeof o['node'] === 'string' ? o['node'] : 'i=85';
  const ne = nodeIdError(node);
  if (ne) return `--node: ${ne}, got ${JSON.stringify(node)}`;
  const t = o['timeout'];
  const timeoutMs = t === undefined ? 5000 : Number(t);
  if (typeof t === 'string' && (!/^\d+$/.test(t) || timeoutMs < 100 || timeoutMs > 600_000)) return `--timeout: must be milliseconds between 100 and 600000, got ${JSON.stringify(t)}`;
  const mode = typeof o['security'] === 'string' ? o['security'] : 'None';
  if (!(SECURITY_MODES as readonly string[]).includes(mode)) return `--security: must be one of ${SECURITY_MODES.join(', ')}, got ${JSON.stringify(mode)}`;
  const pol = typeof o['policy'] === 'string' ? o['policy'] : '';
  if (pol !== '' && !(SECURITY_POLICIES as readonly string[]).includes(pol)) return `--policy: must be one of ${SECURITY_POLICIES.join(', ')}, got ${JSON.stringify(pol)}`;
  const username = typeof o['user'] === 'string' ? o['user'] : '';
  if (o['user'] !== undefined && username === '') return '--user: give the user name (the password is read from standard input)';
  const sec = { mode: mode as SecurityModeName, policy: pol, username, password };
  const bad = securityProblems(sec, '--user')[0];
  if (bad) return `--${bad.key === 'policy' ? 'policy' : 'user'}: ${bad.message}`;
  return { endpoint: url, node, timeoutMs, mode: sec.mode, policy: effectivePolicy(sec), username, password };
}

/** How the probe's messages name the settings to check (the driver's name its config keys). */
const PROBE_KEYS = { user: '--user and the password', security: '--security and --policy' };

/** Browse once. Never throws: a failure comes back with its exit code and a message saying what to check. */
export async function browse(req: BrowseRequest): Promise<BrowseOutcome> {
  let ua;
  let cmMod;
  try {
    ({ ua, cm: cmMod } = await loadOpcua(undefined));
  } catch (e) {
    return { ok: false, exit: 1, message: `cannot load the OPC UA client: ${(e as Error).message}` };
  }
  // One folder per user: another user's folder in /tmp is not writable.
  const pki = join(tmpdir(), `gridedge-opcua-probe-${process.getuid?.() ?? 'user'}`, 'pki');
  try {
    ensurePki(pki);
  } catch (e) {
    return { ok: false, exit: 1, message: `cannot create the probe's certificate folder ${pki}: ${(e as Error).message}` };
  }
  const cm = new cmMod.OPCUACertificateManager({ rootFolder: pki, automaticallyAcceptUnknownCertificate: true });
  let client: OPCUAClient | undefined;
  let session: ClientSession | undefined;
  try {
    await cm.initialize();
    client = ua.OPCUAClient.create({
      applicationName: 'gridedge-probe',
      endpointMustExist: false,
      securityMode: ua.MessageSecurityMode[req.mode],
      securityPolicy: ua.SecurityPolicy[req.policy],
      connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 1000 },
      clientCertificateManager: cm,
    });
    try {
      await within(client.connect(req.endpoint), req.timeoutMs, `connecting to ${req.endpoint}`);
      session = await within(client.createSession(userIdentity(ua, req.username, req.password)), req.timeoutMs, 'creating the session');
    } catch (e) {
      const d = diagnose(e, req.endpoint, { pki, user: req.username, timeoutMs: req.timeoutMs, mode: req.mode, policy: req.policy, keys: PROBE_KEYS });
      return { ok: false, exit: d.unreachable ? 2 : 1, message: d.message };
    }
    const refs: ReferenceDescription[] = [];
    let br = await within(
      session.browse({
        nodeId: req.node,
        referenceTypeId: 'HierarchicalReferences',
        includeSubtypes: true,
        browseDirection: ua.BrowseDirection.Forward,
        nodeClassMask: 0,
        resultMask: 63,
      }),
      req.timeoutMs,
      'browsing',
    );
    const first = br.statusCode;
    if (first && first.value >>> 30 >= 2) {
      const name = statusName(first.name, first.value);
      return { ok: false, exit: 1, message: `cannot browse ${req.node}: ${name}${/NodeId/.test(name) ? ' — no such node on this server; browse from the Objects folder (no --node) to find it' : ''}` };
    }
    refs.push(...(br.references ?? []));
    // Servers hand long lists out in parts.
    while (br.continuationPoint && br.continuationPoint.length > 0) {
      br = await within(session.browseNext(br.continuationPoint, false), req.timeoutMs, 'browsing further');
      refs.push(...(br.references ?? []));
    }
    const children: BrowseChild[] = refs.map((r) => ({
      browseName: r.browseName.toString(),
      displayName: r.displayName?.text ?? '',
      nodeId: r.nodeId.toString(),
      nodeClass: ua.NodeClass[r.nodeClass] ?? String(r.nodeClass),
    }));
    const vars = children.filter((c) => c.nodeClass === 'Variable');
    if (vars.length) {
      const dvs = await within(
        session.read(vars.map((c) => ({ nodeId: c.nodeId, attributeId: ua.AttributeIds.Value }))),
        req.timeoutMs,
        'reading the variables',
      );
      vars.forEach((c, k) => {
        const dv = dvs[k];
        if (!dv) return;
        const code = dv.statusCode?.value ?? 0;
        c.status = statusName(dv.statusCode?.name, code);
        const v = dv.value;
        if (v && v.dataType !== undefined) c.dataType = ua.DataType[v.dataType] ?? String(v.dataType);
        const conv = toLeaf(v, 'value');
        if (conv.ok) c.value = conv.value;
      });
    }
    return { ok: true, result: { endpoint: req.endpoint, node: req.node, children } };
  } catch (e) {
    return { ok: false, exit: 2, message: `${(e as Error).message} — the server stopped answering; check it and try again` };
  } finally {
    if (session) await within(session.close(), 2000, 'closing the session').catch(() => undefined);
    if (client) await within(client.disconnect(), 2000, 'disconnecting').catch(() => undefined);
    await within(cm.dispose(), 1000, 'closing the certificate store').catch(() => undefined);
  }
}

/** The human text of a result: one line per child. */
export function renderBrowse(r: BrowseResult): string {
  const lines = [`${r.endpoint} ${r.node}: ${r.children.length} child${r.children.length === 1 ? '' : 'ren'}`];
  const w = Math.max(10, ...r.children.map((c) => c.browseName.length));
  const n = Math.max(6, ...r.children.map((c) => c.nodeId.length));
  for (const c of r.children) {
    let line = `  ${c.browseName.padEnd(w)}  ${c.nodeId.padEnd(n)}  ${c.nodeClass}`;
    if (c.nodeClass === 'Variable') line += `  ${c.value === undefined ? '-' : JSON.stringify(c.value)}${c.dataType ? ` (${c.dataType})` : ''}  ${c.status ?? ''}`;
    lines.push(line.trimEnd());
  }
  return `${lines.join('\n')}\n`;
}
