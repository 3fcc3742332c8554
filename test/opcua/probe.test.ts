/**
 * `gridedge opcua browse` (the real CLI as a child process) against a node-opcua server: the
 * Objects folder lists the device object; `--node` lists its variables with NodeId, class, value,
 * data type and StatusCode (a Bad one shown as such); `--json` gives the same as a document whose
 * nodeIds a driver config takes; exit 1 with what is wrong for a bad URL and an unknown node; exit 2
 * with what to check for a port where nothing listens.
 */
import t from 'tap';
import { runCli } from '../cli/run-cli.js';
import { refusedPort } from '../helpers/ports.js';
import { startOpcuaServer } from './server.js';

t.test('gridedge opcua browse', async (t) => {
  const srv = await startOpcuaServer({ vars: { Va: { type: 'Double', value: 230.5 }, breaker: { type: 'Boolean', value: true }, Ib: { type: 'Double', value: 1 } } });
  t.teardown(() => srv.stop());
  srv.set('Ib', 2, 'BadCommunicationError');

  const top = await runCli(['opcua', 'browse', srv.url]);
  t.equal(top.code, 0, top.stderr);
  t.match(top.stdout, /^\s+1:Feeder\s+ns=1;s=Feeder\s+Object$/m, 'the device object in the Objects folder');
  t.match(top.stdout, /^\s+Server\s+ns=0;i=2253\s+Object$/m, 'the standard Server object too');

  const dev = await runCli(['opcua', 'browse', srv.url, '--node', 'ns=1;s=Feeder']);
  t.equal(dev.code, 0, dev.stderr);
  t.match(dev.stdout, /^\s+1:Va\s+ns=1;s=Va\s+Variable\s+230\.5 \(Double\)\s+Good$/m, 'a variable: name, NodeId, class, value, type, status');
  t.match(dev.stdout, /^\s+1:breaker\s+ns=1;s=breaker\s+Variable\s+true \(Boolean\)\s+Good$/m);
  t.match(dev.stdout, /^\s+1:Ib\s+ns=1;s=Ib\s+Variable\s+.*BadCommunicationError$/m, 'a Bad status is shown');

  const j = await runCli(['opcua', 'browse', srv.url, '--node', 'ns=1;s=Feeder', '--json']);
  t.equal(j.code, 0, j.stderr);
  const doc = JSON.parse(j.stdout) as { node: string; children: { nodeId: string; nodeClass: string; value?: unknown; status?: string }[] };
  t.equal(doc.node, 'ns=1;s=Feeder');
  const va = doc.children.find((c) => c.nodeId === 'ns=1;s=Va');
  t.same(va && { nodeClass: va.nodeClass, value: va.value, status: va.status }, { nodeClass: 'Variable', value: 230.5, status: 'Good' });
  t.equal(doc.children.find((c) => c.nodeId === 'ns=1;s=Ib')?.status, 'BadCommunicationError');

  const unknown = await runCli(['opcua', 'browse', srv.url, '--node', 'ns=1;s=Nope']);
  t.equal(unknown.code, 1, 'an unknown node is bad input');
  t.match(unknown.stderr, /cannot browse ns=1;s=Nope: BadNodeIdUnknown — no such node on this server/);

  const badUrl = await runCli(['opcua', 'browse', 'http://10.0.0.9:4840']);
  t.equal(badUrl.code, 1);
  t.match(badUrl.stderr, /URL: must be "opc\.tcp:\/\/HOST:PORT\[\/path\]", got "http:\/\/10\.0\.0\.9:4840"/);
  const badNode = await runCli(['opcua', 'browse', srv.url, '--node', 'ns=2;x=1']);
  t.equal(badNode.code, 1);
  t.match(badNode.stderr, /--node: .*the identifier must start with i=, s=, g= or b=/);

  const port = await refusedPort();
  const down = await runCli(['opcua', 'browse', `opc.tcp://127.0.0.1:${port}`]);
  t.equal(down.code, 2, 'unreachable: exit 2');
  t.match(down.stderr, new RegExp(`connection refused at 127\\.0\\.0\\.1:${port} — is the OPC UA server running and the port open\\?`));
  const downJson = await runCli(['opcua', 'browse', `opc.tcp://127.0.0.1:${port}`, '--json']);
  t.equal(downJson.code, 2);
  t.match(JSON.parse(downJson.stdout) as object, { ok: false, error: /connection refused/ });
});
