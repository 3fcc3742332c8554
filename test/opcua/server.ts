/**
 * A real OPC UA server for the tests (node-opcua-server, in the test process): Double, Boolean and
 * String variables under its own namespace (`ns=1;s=<name>`), security None, Sign and
 * SignAndEncrypt (Basic256Sha256), anonymous and/or user-name sessions, its own PKI in a temp
 * folder that trusts every client certificate (the client side's trust is what the tests check).
 * `restart()` shuts it down and starts a new server on the same port with the same certificate.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import uaServer from 'node-opcua-server';
import uaClient from 'node-opcua-client';
import certs from 'node-opcua-certificate-manager';
import type { OPCUAServer } from 'node-opcua-server';

/** The part of a server variable the tests use. */
interface UAVariable {
  setValueFromSource(value: InstanceType<typeof uaClient.Variant>, status?: never, sourceTimestamp?: Date): void;
}

const { OPCUAServer: Server } = uaServer;
const { OPCUACertificateManager } = certs;
const { DataType, MessageSecurityMode, SecurityPolicy, StatusCodes, Variant } = uaClient;

export type VarType = 'Double' | 'Boolean' | 'String';

export interface ServerOptions {
  /** Variables by name (nodeId `ns=1;s=<name>`) with their type and first value. */
  vars?: Record<string, { type: VarType; value: number | boolean | string }>;
  /** Accepted user name/password pairs (none: no user-name sessions accepted). */
  users?: Record<string, string>;
  allowAnonymous?: boolean;
  port?: number;
  /** The server's PKI (a new temp folder when omitted; kept across restart). */
  pki?: string;
  /** Trust every client certificate (default true); false: clients' certificates land in its rejected folder. */
  trustClients?: boolean;
}

export interface TestServer {
  port: number;
  /** `opc.tcp://127.0.0.1:<port>`. */
  url: string;
  /** The server's own certificate file (PEM). */
  certificateFile: string;
  /** Set a variable's value and status (Good when omitted), with the source timestamp now. */
  set(name: string, value: number | boolean | string | null, status?: keyof typeof StatusCodes): void;
  /** Shut down and start again on the same port (same certificate, same variables and values). */
  restart(): Promise<void>;
  /** Shut down (idempotent). */
  stop(): Promise<void>;
  /** Sessions currently open on the server. */
  sessions(): number;
}

const DT: Record<VarType, number> = { Double: DataType.Double, Boolean: DataType.Boolean, String: DataType.String };

export async function startOpcuaServer(opts: ServerOptions = {}): Promise<TestServer> {
  const pki = opts.pki ?? mkdtempSync(join(tmpdir(), 'gridedge-opcua-server-'));
  const vars = { ...(opts.vars ?? {}) };
  const current = new Map<string, { value: number | boolean | string | null; status: keyof typeof StatusCodes }>();
  for (const [name, v] of Object.entries(vars)) current.set(name, { value: v.value, status: 'Good' });
  let server: OPCUAServer | undefined;
  let cm: InstanceType<typeof OPCUACertificateManager> | undefined;
  const nodes = new Map<string, UAVariable>();
  let port = opts.port ?? 0;

  const apply = (name: string) => {
    const node = nodes.get(name);
    const c = current.get(name);
    if (!node || !c) return;
    const type = vars[name]!.type;
    const variant = c.value === null ? new Variant({ dataType: DataType.Null }) : new Variant({ dataType: DT[type], value: c.value });
    node.setValueFromSource(variant, StatusCodes[c.status] as never, new Date());
  };

  const boot = async () => {
    cm = new OPCUACertificateManager({ rootFolder: join(pki, 'pki'), automaticallyAcceptUnknownCertificate: opts.trustClients ?? true });
    await cm.initialize();
    const users = opts.users ?? {};
    const s = new Server({
      port,
      allowAnonymous: opts.allowAnonymous ?? true,
      serverCertificateManager: cm,
      securityModes: [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
      securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256],
      userManager: { isValidUser: (u: string, p: string) => users[u] !== undefined && users[u] === p },
      buildInfo: { productName: 'gridedge-test-server' },
    });
    await s.initialize();
    const space = s.engine.addressSpace!;
    const ns = space.getOwnNamespace();
    const dev = ns.addObject({ organizedBy: space.rootFolder.objects, browseName: 'Feeder', nodeId: 's=Feeder' });
    nodes.clear();
    for (const [name, v] of Object.entries(vars)) {
      nodes.set(name, ns.addVariable({ componentOf: dev, browseName: name, nodeId: `s=${name}`, dataType: v.type }));
      apply(name);
    }
    await s.start();
    server = s;
    port = s.endpoints[0]!.port;
  };

  await boot();
  const t: TestServer = {
    get port() {
      return port;
    },
    get url() {
      return `opc.tcp://127.0.0.1:${port}`;
    },
    certificateFile: join(pki, 'pki', 'own', 'certs', 'certificate.pem'),
    set(name, value, status = 'Good') {
      if (!vars[name]) throw new Error(`test server: no variable ${name}`);
      current.set(name, { value, status });
      apply(name);
    },
    async restart() {
      await t.stop();
      await boot();
    },
    async stop() {
      const s = server;
      server = undefined;
      if (s) await s.shutdown(0);
      const c = cm;
      cm = undefined;
      if (c) await c.dispose();
    },
    sessions() {
      return server ? server.currentSessionCount : 0;
    },
  };
  return t;
}
