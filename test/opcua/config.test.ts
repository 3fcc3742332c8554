/**
 * OPC UA config through the real loader: the sample loads; a good entry gets its defaults; every
 * bad entry is reported with its config path (NodeId syntax, field paths, sampling interval and
 * queue size, unknown keys, unknown mode and policy, a policy that does not fit the mode, a
 * password without a user, a field or a node twice, no nodes, a bad endpoint); one case runs
 * `gridedge config check` itself and checks it prints every problem, one a line.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../agent/config/index.js';
import { nodeIdError } from '../../drivers/opcua/config.js';
import { cliPath, repoRoot, tempDir } from '../helpers/agent-process.js';

const errors = (drivers: unknown[]): string[] => {
  const r = loadConfig({ document: { drivers } });
  return r.ok ? [] : r.errors;
};
const base = { type: 'opcua', id: 'ua1', endpoint: 'opc.tcp://10.0.0.9:4840' };
const node = { nodeId: 'ns=2;s=Va', field: 'v.a.mag' };

t.test('the sample config loads', async (t) => {
  const r = loadConfig({ file: join(repoRoot(), 'drivers', 'opcua', 'sample.yaml') });
  t.ok(r.ok, r.ok ? 'drivers/opcua/sample.yaml is valid' : r.errors.join('\n'));
});

t.test('a good entry loads with its defaults', async (t) => {
  const r = loadConfig({ document: { drivers: [{ ...base, nodes: [node] }] } });
  t.ok(r.ok, r.ok ? 'loads' : r.errors.join('\n'));
  if (!r.ok) return;
  const d = (r.config as unknown as { drivers: Record<string, unknown>[] }).drivers[0]!;
  t.same(d['security'], { mode: 'None', policy: '', username: '', password: '' });
  t.equal(d['reconnectMinMs'], 500);
  t.equal(d['publishingInterval'], 0);
});

t.test('NodeId syntax', async (t) => {
  for (const ok of ['ns=2;s=Va', 'i=2258', 'ns=0;i=85', 'nsu=urn:vendor:rtu;s=A.B', 'ns=1;g=72962b91-fa75-4ae6-8d28-b404dc7daf63', 'ns=1;b=AAEC', 'ns=3;s=with;semicolon'])
    t.equal(nodeIdError(ok), null, ok);
  for (const bad of ['', 'Va', 'ns=2;Va', 'ns=2;x=1', 'ns=70000;i=1', 'i=-1', 'i=4294967296', 'ns=1;g=not-a-guid', 'ns=1;s=', 'ns=1;b=%%'])
    t.type(nodeIdError(bad), 'string', `${JSON.stringify(bad)} refused`);
});

t.test('each bad entry is reported with its path', async (t) => {
  const cases: [string, unknown[], RegExp][] = [
    ['bad NodeId', [{ ...base, nodes: [{ nodeId: 'ns=2;x=Va', field: 'soc' }] }], /^drivers\[0\]\.nodes\[0\]\.nodeId: must be a NodeId .*i=, s=, g= or b=, got "ns=2;x=Va"$/],
    ['bad field', [{ ...base, nodes: [{ nodeId: 'ns=2;s=Va', field: 'v.a' }] }], /^drivers\[0\]\.nodes\[0\]\.field: must be v\.<a\|b\|c>\.<mag\|ang>, got "v\.a"$/],
    ['reserved field', [{ ...base, nodes: [{ nodeId: 'ns=2;s=Va', field: 'quality' }] }], /^drivers\[0\]\.nodes\[0\]\.field: "quality" is reserved/],
    ['sampling interval', [{ ...base, nodes: [{ ...node, samplingInterval: -5 }] }], /^drivers\[0\]\.nodes\[0\]\.samplingInterval: must be an integer between 0 and 86400000/],
    ['queue size', [{ ...base, nodes: [{ ...node, queueSize: 0 }] }], /^drivers\[0\]\.nodes\[0\]\.queueSize: must be an integer between 1 and 10000, got 0$/],
    ['unknown node key', [{ ...base, nodes: [{ ...node, sampling: 5 }] }], /^drivers\[0\]\.nodes\[0\]\.sampling: unknown key$/],
    ['unknown mode', [{ ...base, security: { mode: 'Encrypt' }, nodes: [node] }], /^drivers\[0\]\.security\.mode: must be one of None, Sign, SignAndEncrypt, got "Encrypt"$/],
    ['unknown policy', [{ ...base, security: { mode: 'Sign', policy: 'Basic512' }, nodes: [node] }], /^drivers\[0\]\.security\.policy: must be one of None, Basic128Rsa15/],
    ['policy without mode', [{ ...base, security: { policy: 'Basic256Sha256' }, nodes: [node] }], /^drivers\[0\]\.security\.policy: Basic256Sha256 needs mode Sign or SignAndEncrypt/],
    ['None cannot sign', [{ ...base, security: { mode: 'Sign', policy: 'None' }, nodes: [node] }], /^drivers\[0\]\.security\.policy: None cannot sign/],
    ['password alone', [{ ...base, security: { password: 'x' }, nodes: [node] }], /^drivers\[0\]\.security\.password: given without security\.username/],
    ['field twice', [{ ...base, nodes: [node, { nodeId: 'ns=2;s=Vb', field: 'v.a.mag' }] }], /^drivers\[0\]\.nodes\[1\]\.field: "v\.a\.mag" is filled twice \(also by nodes\[0\]\)$/],
    ['node twice', [{ ...base, nodes: [node, { nodeId: 'ns=2;s=Va', field: 'soc' }] }], /^drivers\[0\]\.nodes\[1\]\.nodeId: "ns=2;s=Va" is monitored twice/],
    ['angle without its magnitude', [{ ...base, nodes: [node, { nodeId: 'ns=2;s=Ab', field: 'v.b.ang' }] }], /^drivers\[0\]\.nodes\[1\]\.field: "v\.b\.ang" has no node filling "v\.b\.mag": a phasor is published with its magnitude/],
    ['field inside a value', [{ ...base, nodes: [{ nodeId: 'ns=2;s=A', field: 'breaker' }, { nodeId: 'ns=2;s=B', field: 'breaker.q1' }] }], /^drivers\[0\]\.nodes\[1\]\.field: "breaker\.q1" lies inside "breaker"/],
    ['no nodes', [{ ...base }], /^drivers\[0\]\.nodes: no nodes to monitor/],
    ['bad endpoint', [{ ...base, endpoint: 'tcp://10.0.0.9:4840', nodes: [node] }], /^drivers\[0\]\.endpoint: must be an OPC UA endpoint URL "opc\.tcp:\/\/HOST:PORT\[\/path\]"/],
    ['too many nodes for one message', [{ ...base, nodes: Array.from({ length: 300 }, (_, k) => ({ nodeId: `ns=2;i=${k}`, field: `r${k}` })) }], /^drivers\[0\]\.nodes: 300 nodes make measurements of up to 605 member names .*split them over several driver entries/],
    ['unknown key', [{ ...base, nodes: [node], interval: 5 }], /^drivers\[0\]\.interval: unknown key$/],
  ];
  for (const [what, drivers, re] of cases) {
    const e = errors(drivers);
    t.ok(e.some((l) => re.test(l)), `${what}: ${e.join(' | ') || 'no error'}`);
  }
  const secret = errors([{ ...base, security: { mode: 'Sign', policy: 'Basic512', username: 'u', password: 12345 }, nodes: [node] }]);
  t.notOk(secret.join('\n').includes('12345'), `the password is never echoed: ${secret.join(' | ')}`);
});

t.test('gridedge config check prints every problem, one a line', async (t) => {
  const dir = tempDir();
  const file = join(dir, 'bad.yaml');
  writeFileSync(
    file,
    [
      'drivers:',
      '  - type: opcua',
      '    id: ua1',
      '    endpoint: "opc.tcp://10.0.0.9:4840"',
      '    security: { mode: Signed }',
      '    nodes:',
      '      - { nodeId: "ns=2;q=Va", field: v.a.mag }',
      '      - { nodeId: "ns=2;s=Vb", field: v.a.mag }',
      '      - { nodeId: "ns=2;s=Ia", field: i.a.mag, queueSize: 0 }',
    ].join('\n'),
  );
  const r = spawnSync(process.execPath, [cliPath(), 'config', 'check', file], { encoding: 'utf8', env: { ...process.env, GRIDEDGE_CONFIG: '' } });
  t.equal(r.status, 1);
  const out = `${r.stdout}${r.stderr}`;
  t.match(out, /drivers\[0\]\.security\.mode: must be one of None, Sign, SignAndEncrypt, got "Signed"/);
  t.match(out, /drivers\[0\]\.nodes\[0\]\.nodeId: must be a NodeId/);
  t.match(out, /drivers\[0\]\.nodes\[2\]\.queueSize: must be an integer between 1 and 10000, got 0/);
  const ok = spawnSync(process.execPath, [cliPath(), 'config', 'check', join(repoRoot(), 'drivers', 'opcua', 'sample.yaml')], { encoding: 'utf8', env: { ...process.env, GRIDEDGE_CONFIG: '' } });
  t.equal(ok.status, 0, `${ok.stdout}${ok.stderr}`);
});
