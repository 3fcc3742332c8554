/**
 * `gridedge diag` against the real agent: the bundle holds version, the config with every secret
 * masked, the live status (counters, buffer), logs (or why not) and disk space; the secrets of the
 * config appear nowhere in the bundle.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { maskSecrets } from '../../agent/core/secrets.js';
import { startAgent, tempDir } from '../helpers/agent-process.js';
import { refusedPort } from '../helpers/ports.js';
import { runCli } from '../cli/run-cli.js';

const unpack = (file: string): { dir: string; files: Record<string, string> } => {
  const dir = tempDir('gridedge-diag-unpacked-');
  execFileSync('tar', ['-xzf', file, '-C', dir]);
  const [top] = readdirSync(dir);
  const files: Record<string, string> = {};
  for (const f of readdirSync(join(dir, top!))) files[f] = readFileSync(join(dir, top!, f), 'utf8');
  return { dir, files };
};

t.test('maskSecrets: passwords, hashes, tokens, connection strings and URL passwords; other values kept', async (t) => {
  const masked = maskSecrets({
    mqtt: { port: 1883, users: [{ username: 'u', password: 'p1', passwordHash: 'scrypt$x' }] },
    forwarders: [{ url: 'mqtts://bob:s3cret@hub:8883/x', connectionString: 'HostName=h;SharedAccessKey=k', token: '', key: '/etc/k.pem' }],
    http: { users: [{ username: 'ops', passwordHash: 'scrypt$y', role: 'admin' }] },
  });
  t.same(masked, {
    mqtt: { port: 1883, users: [{ username: 'u', password: '***', passwordHash: '***' }] },
    forwarders: [{ url: 'mqtts://bob:***@hub:8883/x', connectionString: '***', token: '', key: '/etc/k.pem' }],
    http: { users: [{ username: 'ops', passwordHash: '***', role: 'admin' }] },
  });
});

t.test('diag --out: a bundle from a running agent, secrets masked everywhere', async (t) => {
  const upstream = await refusedPort();
  const agent = await startAgent({
    config: {
      mqtt: { users: [{ username: 'field', password: 'FieldPassw0rd!', publish: ['bal/raw/#'], subscribe: ['bal/#'] }] },
      drivers: [{ type: 'sim-pmu', id: 'pmu1', rate: 50 }],
      forwarders: [{ type: 'mqtt', id: 'central', url: `mqtt://hubuser:Url@Passw0rd@127.0.0.1:${upstream}`, username: 'fwduser', password: 'FwdPassw0rd' }],
    },
  });
  t.teardown(() => agent.stop());
  const outDir = tempDir('gridedge-diag-out-');
  const out = join(outDir, 'bundle.tar.gz');
  const r = await runCli(['diag', '--config', agent.configFile, '--url', agent.httpUrl, '--out', out, '--json'], { cwd: agent.dir });
  t.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { out: string; parts: Record<string, string> };
  t.equal(report.out, out);
  t.match(report.parts, { 'version.txt': 'ok', 'config.json': 'ok', 'status.json': /^ok \((healthy|degraded)\)$/, 'disk.json': 'ok' });

  const { files } = unpack(out);
  t.same(Object.keys(files).sort(), ['config.json', 'disk.json', 'logs.txt', 'status.json', 'summary.json', 'version.txt']);
  t.match(files['version.txt'], /^gridedge \d+\.\d+\.\d+\nnode v\d+/);
  const all = Object.values(files).join('\n');
  // The URL's password holds an @: it is masked whole, not up to its first @.
  for (const secret of ['FieldPassw0rd!', 'Url@Passw0rd', 'Passw0rd@', 'FwdPassw0rd']) t.notOk(all.includes(secret), `${secret} is not in the bundle`);

  const cfg = JSON.parse(files['config.json']!) as { source: string; config: { mqtt: { users: { password: string }[] }; forwarders: { url: string; password: string }[] } };
  t.equal(cfg.source, agent.configFile);
  t.equal(cfg.config.mqtt.users[0]!.password, '***');
  t.equal(cfg.config.forwarders[0]!.password, '***');
  t.equal(cfg.config.forwarders[0]!.url, `mqtt://hubuser:***@127.0.0.1:${upstream}`);

  const status = JSON.parse(files['status.json']!) as { gateway: string; counters: Record<string, unknown>; buffer: { lastSeq: number } | null; forwarders: { id: string }[] };
  t.equal(status.gateway, 'gw-test');
  t.ok(Object.keys(status.counters).length > 0, 'counters are in the bundle');
  t.type(status.buffer?.lastSeq, 'number', 'buffer stats are in the bundle');
  t.same(status.forwarders.map((f) => f.id), ['central']);

  const disk = JSON.parse(files['disk.json']!) as { totalBytes: number; freeBytes: number };
  t.ok(disk.totalBytes > 0 && disk.freeBytes >= 0 && disk.freeBytes <= disk.totalBytes, 'disk space is plausible');
  // logs.txt holds the journal or the reason it could not be read (no gridedge unit in a test box).
  t.ok(files['logs.txt']!.length > 0);
});

t.test('diag with the agent unreachable: the bundle is still written, the status part says why', async (t) => {
  const port = await refusedPort();
  const dir = tempDir('gridedge-diag-down-');
  mkdirSync(join(dir, 'out'));
  const out = join(dir, 'out', 'd.tar.gz');
  const r = await runCli(['diag', '--url', `http://127.0.0.1:${port}`, '--out', out], { cwd: dir });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, new RegExp(`^${out.replace(/[.]/g, '\\.')}\\n`));
  t.match(r.stdout, /status\.json +not read: connection refused/);
  const { files } = unpack(out);
  t.match(JSON.parse(files['status.json']!), { error: /ECONNREFUSED/ });
  t.match(JSON.parse(files['config.json']!), { source: 'embedded default' });
});

t.test('diag with an invalid config: the problems are in the bundle, URL passwords masked', async (t) => {
  const dir = tempDir('gridedge-diag-invalid-');
  const file = join(dir, 'inv.yaml');
  writeFileSync(file, 'forwarders: [ { type: mqtt, id: c, url: "mqtt://fw:BadCfgPw@host:99999" }, { type: mqtt, id: d, url: "mqtt://fw2:Bad@Pw2@host:99999" } ]\n');
  const out = join(dir, 'd.tar.gz');
  const r = await runCli(['diag', '--config', file, '--out', out], { cwd: dir });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /config\.json +invalid: 2 problem\(s\)/);
  const { files } = unpack(out);
  const cfg = JSON.parse(files['config.json']!) as { problems: string[] };
  t.same(cfg.problems, [
    'forwarders[0].url: must be a broker URL such as "mqtt://host:1883" or "mqtts://host:8883", got "mqtt://fw:***@host:99999"',
    'forwarders[1].url: must be a broker URL such as "mqtt://host:1883" or "mqtts://host:8883", got "mqtt://fw2:***@host:99999"',
  ]);
  t.match(JSON.parse(files['status.json']!), { error: [/cannot derive the agent's address/, /got "mqtt:\/\/fw:\*\*\*@host:99999"/] }, 'status.json says why, with the problems masked');
  const all = Object.values(files).join('\n') + r.stdout + r.stderr;
  for (const secret of ['BadCfgPw', 'Bad@Pw2', 'Pw2@']) t.notOk(all.includes(secret), `${secret} is not in the bundle nor printed`);
});

t.test('diag reads the status of an agent with http.users with --token or GRIDEDGE_TOKEN, as status does', async (t) => {
  const agent = await startAgent({ config: { http: { users: [{ username: 'ops', password: 'OpsPassw0rd', role: 'viewer' }] } } });
  t.teardown(() => agent.stop('SIGKILL'));
  const bundle = async (name: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ stdout: string; status: Record<string, unknown> }> => {
    const out = join(agent.dir, `${name}.tar.gz`);
    const r = await runCli(['diag', '--config', agent.configFile, '--url', agent.httpUrl, '--out', out, ...args], { cwd: agent.dir, env });
    t.equal(r.code, 0, `${name}: ${r.stderr}`);
    return { stdout: r.stdout, status: JSON.parse(unpack(out).files['status.json']!) as Record<string, unknown> };
  };

  const without = await bundle('without', []);
  t.match(without.stdout, /status\.json +not read: needs a login \(http\.users\): pass --token or set GRIDEDGE_TOKEN/);
  t.match(without.status, { error: /needs a login/ });

  const res = await fetch(`${agent.httpUrl}/api/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"username":"ops","password":"OpsPassw0rd"}' });
  t.equal(res.status, 200, 'the login succeeds');
  const { token } = (await res.json()) as { token: string };
  const withFlag = await bundle('flag', ['--token', token]);
  t.match(withFlag.stdout, /status\.json +ok \((healthy|degraded)\)/);
  t.match(withFlag.status, { gateway: 'gw-test', counters: {} });
  const fromEnv = await bundle('env', [], { GRIDEDGE_TOKEN: token });
  t.match(fromEnv.stdout, /status\.json +ok \((healthy|degraded)\)/);
  t.match(fromEnv.status, { gateway: 'gw-test' });

  const refused = await bundle('refused', ['--token', 'not-a-token']);
  t.match(refused.stdout, /status\.json +not read: needs a login .*\(this one was refused\)/);

  const help = await runCli(['diag', '--help']);
  t.match(help.stdout, /--token TOKEN +Bearer token for an agent with http\.users .*\$GRIDEDGE_TOKEN/);
});

t.test('diag: bad options exit 1 naming the option', async (t) => {
  const bad = await runCli(['diag', '--lines', 'many']);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /^gridedge diag: --lines: must be a positive integer, got "many"/);
  const nodir = await runCli(['diag', '--out', '/nonexistent-dir-xyz/d.tar.gz']);
  t.equal(nodir.code, 1);
  t.match(nodir.stderr, /--out: the folder \/nonexistent-dir-xyz does not exist/);
});
