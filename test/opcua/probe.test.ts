/**
 * `gridedge opcua browse` against a node-opcua server, as the real CLI (child process) and as the
 * probe module: `--node` lists a device's variables with NodeId, class, value, data type and
 * StatusCode (a Bad one shown as such); the Objects folder lists the device object; the JSON form
 * carries the nodeIds a driver config takes; exit 1 with what is wrong for a bad URL, a bad
 * NodeId and an unknown node; exit 2 with what to check (and `--json` on stdout) for a port where
 * nothing listens.
 */
import t from 'tap';
import { runCli } from '../cli/run-cli.js';
import { refusedPort } from '../helpers/ports.js';
import { browse, renderBrowse } from '../../drivers/opcua/probe.js';
import { startOpcuaServer } from './server.js';

t.test('gridedge opcua browse', async (t) => {
  const srv = await startOpcuaServer({ vars: { Va: { type: 'Double', value: 230.5 }, breaker: { type: 'Boolean', value: true }, Ib: { type: 'Double', value: 1 } } });
  t.teardown(() => srv.stop());
  srv.set('Ib', 2, 'BadCommunicationError');

  // The real CLI for the text output; the same probe in this process for the other cases (each
  // CLI run loads node-opcua anew, which takes seconds).
  const dev = await runCli(['opcua', 'browse', srv.url, '--node', 'ns=1;s=Feeder']);
  t.equal(dev.code, 0, dev.stderr);
  t.match(dev.stdout, /^\s+1:Va\s+ns=1;s=Va\s+Variable\s+230\.5 \(Double\)\s+Good$/m, 'a variable: name, NodeId, class, value, type, status');
  t.match(dev.stdout, /^\s+1:breaker\s+ns=1;s=breaker\s+Variable\s+true \(Boolean\)\s+Good$/m);
  t.match(dev.stdout, /^\s+1:Ib\s+ns=1;s=Ib\s+Variable\s+.*BadCommunicationError$/m, 'a Bad status is shown');

  const top = await browse({ endpoint: srv.url, node: 'i=85', timeoutMs: 10_000 });
  t.ok(top.ok, top.ok ? 'the Objects folder' : top.message);
  if (top.ok) {
    const text = renderBrowse(top.result);
    t.match(text, /^\s+1:Feeder\s+ns=1;s=Feeder\s+Object$/m, 'the device object in the Objects folder');
    t.match(text, /^\s+Server\s+ns=0;i=2253\s+Object$/m, 'the standard Server object too');
  }
  const j = await browse({ endpoint: srv.url, node: 'ns=1;s=Feeder', timeoutMs: 10_000 });
  t.ok(j.ok);
  if (j.ok) {
    const doc = JSON.parse(JSON.stringify(j.result)) as { node: string; children: { nodeId: string; nodeClass: string; value?: unknown; status?: string }[] };
    t.equal(doc.node, 'ns=1;s=Feeder');
    const va = doc.children.find((c) => c.nodeId === 'ns=1;s=Va');
    t.same(va && { nodeClass: va.nodeClass, value: va.value, status: va.status }, { nodeClass: 'Variable', value: 230.5, status: 'Good' });
    t.equal(doc.children.find((c) => c.nodeId === 'ns=1;s=Ib')?.status, 'BadCommunicationError');
  }
  const unknown = await browse({ endpoint: srv.url, node: 'ns=1;s=Nope', timeoutMs: 10_000 });
  t.same(unknown.ok ? 'listed' : unknown.exit, 1, 'an unknown node is bad input');
  if (!unknown.ok) t.match(unknown.message, /cannot browse ns=1;s=Nope: BadNodeIdUnknown — no such node on this server/);

  const badUrl = await runCli(['opcua', 'browse', 'http://10.0.0.9:4840']);
  t.equal(badUrl.code, 1);
  t.match(badUrl.stderr, /URL: must be "opc\.tcp:\/\/HOST:PORT\[\/path\]", got "http:\/\/10\.0\.0\.9:4840"/);
  const badNode = await runCli(['opcua', 'browse', srv.url, '--node', 'ns=2;x=1']);
  t.equal(badNode.code, 1);
  t.match(badNode.stderr, /--node: .*the identifier must start with i=, s=, g= or b=/);

  const port = await refusedPort();
  const down = await runCli(['opcua', 'browse', `opc.tcp://127.0.0.1:${port}`, '--json']);
  t.equal(down.code, 2, 'unreachable: exit 2');
  t.match(down.stderr, new RegExp(`connection refused at 127\\.0\\.0\\.1:${port} — is the OPC UA server running and the port open\\?`));
  t.match(JSON.parse(down.stdout) as object, { ok: false, error: /connection refused/ }, 'and as JSON on stdout with --json');
});
