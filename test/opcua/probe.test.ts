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
import { browse, parseBrowse, renderBrowse, type BrowseRequest } from '../../drivers/opcua/probe.js';
import { startOpcuaServer } from './server.js';

/** A probe request as the command builds it: security None, anonymous, unless `more` says otherwise. */
function request(endpoint: string, node: string, more: Partial<BrowseRequest> = {}): BrowseRequest {
  return { endpoint, node, timeoutMs: 10_000, mode: 'None', policy: 'None', username: '', password: '', ...more };
}

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

  const top = await browse(request(srv.url, 'i=85'));
  t.ok(top.ok, top.ok ? 'the Objects folder' : top.message);
  if (top.ok) {
    const text = renderBrowse(top.result);
    t.match(text, /^\s+1:Feeder\s+ns=1;s=Feeder\s+Object$/m, 'the device object in the Objects folder');
    t.match(text, /^\s+Server\s+ns=0;i=2253\s+Object$/m, 'the standard Server object too');
  }
  const j = await browse(request(srv.url, 'ns=1;s=Feeder'));
  t.ok(j.ok);
  if (j.ok) {
    const doc = JSON.parse(JSON.stringify(j.result)) as { node: string; children: { nodeId: string; nodeClass: string; value?: unknown; status?: string }[] };
    t.equal(doc.node, 'ns=1;s=Feeder');
    const va = doc.children.find((c) => c.nodeId === 'ns=1;s=Va');
    t.same(va && { nodeClass: va.nodeClass, value: va.value, status: va.status }, { nodeClass: 'Variable', value: 230.5, status: 'Good' });
    t.equal(doc.children.find((c) => c.nodeId === 'ns=1;s=Ib')?.status, 'BadCommunicationError');
  }
  const unknown = await browse(request(srv.url, 'ns=1;s=Nope'));
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

t.test('gridedge opcua browse with security and a user: SignAndEncrypt, the password from standard input, a wrong one and anonymous refused', async (t) => {
  const srv = await startOpcuaServer({ vars: { Va: { type: 'Double', value: 231.25 } }, users: { operator: 'correct horse' }, allowAnonymous: false });
  t.teardown(() => srv.stop());

  // The real CLI: SignAndEncrypt (the policy defaults to Basic256Sha256), the password on stdin.
  const ok = await runCli(['opcua', 'browse', srv.url, '--node', 'ns=1;s=Feeder', '--security', 'SignAndEncrypt', '--user', 'operator'], { input: 'correct horse\n' });
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /^\s+1:Va\s+ns=1;s=Va\s+Variable\s+231\.25 \(Double\)\s+Good$/m, 'browsed over an encrypted channel as the user');

  const signed = await browse(request(srv.url, 'ns=1;s=Feeder', { mode: 'Sign', policy: 'Basic256Sha256', username: 'operator', password: 'correct horse' }));
  t.ok(signed.ok, signed.ok ? 'Sign works too' : signed.message);

  const wrong = await browse(request(srv.url, 'ns=1;s=Feeder', { mode: 'SignAndEncrypt', policy: 'Basic256Sha256', username: 'operator', password: 'wrong' }));
  t.same(wrong.ok ? 'listed' : wrong.exit, 1, 'a wrong password: exit 1');
  if (!wrong.ok) t.match(wrong.message, /the server refused the session for user "operator" \(Bad\w+\) — check --user and the password/, 'naming the probe\'s own options');

  const anonymous = await browse(request(srv.url, 'ns=1;s=Feeder'));
  t.same(anonymous.ok ? 'listed' : anonymous.exit, 1, 'anonymous on a server that wants a user: exit 1');
  if (!anonymous.ok) t.match(anonymous.message, /^the server accepts no anonymous sessions at mode None and policy None — check --user and the password \(give a user: the server may not allow anonymous sessions\)$/);

  const noPolicy = await browse(request(srv.url, 'ns=1;s=Feeder', { mode: 'SignAndEncrypt', policy: 'Aes256_Sha256_RsaPss', username: 'operator', password: 'correct horse' }));
  t.same(noPolicy.ok ? 'listed' : noPolicy.exit, 1, 'a policy the server does not offer: exit 1');
  if (!noPolicy.ok) t.match(noPolicy.message, /offers no endpoint with mode SignAndEncrypt and policy Aes256_Sha256_RsaPss .* — check --security and --policy/);
});

t.test('gridedge opcua browse: bad security arguments are refused before connecting, naming the option', async (t) => {
  const url = 'opc.tcp://127.0.0.1:4840';
  t.match(parseBrowse([url], { security: 'Encrypt' }), /^--security: must be one of None, Sign, SignAndEncrypt, got "Encrypt"$/);
  t.match(parseBrowse([url], { policy: 'Basic512' }), /^--policy: must be one of None, Basic128Rsa15, .*got "Basic512"$/);
  t.match(parseBrowse([url], { policy: 'Basic256Sha256' }), /^--policy: Basic256Sha256 needs mode Sign or SignAndEncrypt \(mode is None\)$/);
  t.match(parseBrowse([url], { security: 'Sign', policy: 'None' }), /^--policy: None cannot sign; choose Basic256Sha256 or leave it empty$/);
  t.match(parseBrowse([url], { user: '' }), /^--user: give the user name/);
  t.same(parseBrowse([url], { security: 'Sign', user: 'op' }, 'pw'), { endpoint: url, node: 'i=85', timeoutMs: 5000, mode: 'Sign', policy: 'Basic256Sha256', username: 'op', password: 'pw' }, 'Sign defaults to Basic256Sha256');
  t.same(parseBrowse([url], {}), { endpoint: url, node: 'i=85', timeoutMs: 5000, mode: 'None', policy: 'None', username: '', password: '' }, 'None and anonymous by default');
  const cli = await runCli(['opcua', 'browse', url, '--security', 'Sign', '--policy', 'None']);
  t.equal(cli.code, 1);
  t.match(cli.stderr, /gridedge opcua browse: --policy: None cannot sign/);
});
