/**
 * Where status, buffer, tail and diag find the agent without --url: --config, else $GRIDEDGE_CONFIG,
 * else the installed /etc/gridedge/gridedge.yaml when readable (here a temp file through
 * GRIDEDGE_TEST_INSTALLED_CONFIG), else the embedded default; each failure names the config used.
 * And an agent with http.tls: https:// from its config, `--ca FILE` to trust its self-signed
 * certificate (status, buffer, diag share the option), a clear hint without it.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { INSTALLED_CONFIG_TEST_VAR } from '../../agent/cli/endpoints.js';
import { startAgent, tempDir } from '../helpers/agent-process.js';
import { makeCerts, makeSelfSigned } from '../helpers/certs.js';
import { refusedPort } from '../helpers/ports.js';
import { httpServer, lines, runCli } from './run-cli.js';
import { healthyStatus } from './status-fixture.js';

const serveStatus = () =>
  httpServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(healthyStatus()));
  });

/** The JSON of one part of a diag bundle. */
const bundlePart = (bundle: string, part: string): Record<string, unknown> =>
  JSON.parse(execFileSync('tar', ['-xzOf', bundle, '--wildcards', `*/${part}`], { encoding: 'utf8' })) as Record<string, unknown>;

t.test('no --url, --config or GRIDEDGE_CONFIG: the installed config when it is readable', async (t) => {
  const srv = await serveStatus();
  t.teardown(srv.close);
  const dir = tempDir();
  const installed = join(dir, 'gridedge.yaml');
  writeFileSync(installed, `http: { port: ${srv.port} }\n`);
  const env = { [INSTALLED_CONFIG_TEST_VAR]: installed };

  const status = await runCli(['status', '--json'], { env });
  t.equal(status.code, 0, status.stderr);
  t.equal((JSON.parse(status.stdout) as { gateway: string }).gateway, 'gw-test');
  const buffer = await runCli(['buffer'], { env });
  t.equal(buffer.code, 0, buffer.stderr);
  const out = join(dir, 'd.tar.gz');
  const diag = await runCli(['diag', '--out', out, '--lines', '1', '--timeout', '2'], { env });
  t.equal(diag.code, 0, diag.stderr);
  t.match(bundlePart(out, 'config.json'), { source: installed, chosen: `the config ${installed}` });
  t.match(bundlePart(out, 'status.json'), { gateway: 'gw-test' });
  t.same(srv.requests, ['GET /api/v1/status', 'GET /api/v1/status', 'GET /api/v1/status']);

  // --config and GRIDEDGE_CONFIG come first.
  const other = join(dir, 'other.yaml');
  const refused = await refusedPort();
  const refusedMqtt = await refusedPort();
  writeFileSync(other, `http: { port: ${refused} }\nmqtt: { port: ${refusedMqtt} }\n`);
  for (const [args, extra] of [[['--config', other], {}], [[], { GRIDEDGE_CONFIG: other }]] as const) {
    const r = await runCli(['status', ...args], { env: { ...env, ...extra } });
    t.equal(r.code, 2);
    t.match(r.stderr, new RegExp(`^gridedge status: cannot read the status at http://127\\.0\\.0\\.1:${refused}/api/v1/status \\(the address from the config ${other}${'GRIDEDGE_CONFIG' in extra ? ' \\(\\$GRIDEDGE_CONFIG\\)' : ''}\\): connection refused`));
  }

  // The installed config naming a port nobody listens on: the message says which file was used.
  writeFileSync(installed, `http: { port: ${refused} }\nmqtt: { port: ${refusedMqtt} }\n`);
  const down = await runCli(['status'], { env });
  t.equal(down.code, 2);
  t.match(down.stderr, `(the address from the config ${installed}): connection refused`);
  const bufferDown = await runCli(['buffer'], { env });
  t.match(bufferDown.stderr, `gridedge buffer: cannot read the status at http://127.0.0.1:${refused}/api/v1/status (the address from the config ${installed})`);
  const tail = await runCli(['tail', '#', '--timeout', '5'], { env });
  t.equal(tail.code, 2);
  t.match(tail.stderr, `gridedge tail: cannot connect to mqtt://127.0.0.1:${refusedMqtt} (the address from the config ${installed}): connection refused`);

  // An invalid installed config is named like any other.
  writeFileSync(installed, 'http: { port: 80x }\n');
  const bad = await runCli(['status'], { env });
  t.equal(bad.code, 1);
  t.same(lines(bad.stderr)[0], `gridedge status: cannot derive the agent's address from the config ${installed} (pass --url):`);
});

t.test('no installed config, or one that is not a readable file: the embedded default, and the message says why', async (t) => {
  const refused = await refusedPort();
  // run-cli's environment points the installed config at a path that does not exist.
  const none = await runCli(['status'], { env: { GRIDEDGE_HTTP_PORT: String(refused) } });
  t.equal(none.code, 2);
  t.match(none.stderr, /\(the address from the embedded default \(no \/nonexistent\/gridedge-test\/gridedge\.yaml\)\): connection refused/);

  const dir = tempDir();
  const folder = join(dir, 'gridedge.yaml');
  mkdirSync(folder);
  const notFile = await runCli(['status'], { env: { GRIDEDGE_HTTP_PORT: String(refused), [INSTALLED_CONFIG_TEST_VAR]: folder } });
  t.equal(notFile.code, 2);
  t.match(notFile.stderr, `(the address from the embedded default (${folder} is not a file)): connection refused`);

  t.test('unreadable (0640 root:gridedge, run by another user)', { skip: process.getuid?.() === 0 ? 'root reads every file' : false }, async (t) => {
    const locked = join(dir, 'locked.yaml');
    writeFileSync(locked, 'http: { port: 1 }\n');
    chmodSync(locked, 0o000);
    const r = await runCli(['status'], { env: { GRIDEDGE_HTTP_PORT: String(refused), [INSTALLED_CONFIG_TEST_VAR]: locked } });
    t.equal(r.code, 2);
    t.match(r.stderr, `(the address from the embedded default (${locked} is not readable: EACCES; use sudo, --config or --url)): connection refused`);
  });
});

t.test('an agent with http.tls (self-signed): https:// from its config, trusted with --ca', async (t) => {
  const self = makeSelfSigned();
  t.teardown(self.remove);
  const certs = makeCerts();
  t.teardown(certs.remove);
  const agent = await startAgent({ config: { http: { host: '127.0.0.1', port: 0, tls: { cert: self.cert, key: self.key } } } });
  t.teardown(() => agent.stop('SIGKILL'));
  const https = `https://127.0.0.1:${agent.httpPort}`;
  // The agent's config with the port it bound (it was started on port 0), as an installed config names it.
  const configFile = join(agent.dir, 'bound.json');
  const cfg = JSON.parse(readFileSync(agent.configFile, 'utf8')) as { http: Record<string, unknown>; mqtt: Record<string, unknown> };
  writeFileSync(configFile, JSON.stringify({ ...cfg, http: { ...cfg.http, port: agent.httpPort }, mqtt: { ...cfg.mqtt, port: agent.mqttPort } }));

  const untrusted = await runCli(['status', '--config', configFile]);
  t.equal(untrusted.code, 2);
  t.match(
    untrusted.stderr,
    `gridedge status: cannot read the status at ${https}/api/v1/status (the address from the config ${configFile}): self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT): the agent's certificate is not trusted; pass --ca FILE`,
  );

  const status = await runCli(['status', '--config', configFile, '--ca', self.cert, '--json']);
  t.equal(status.code, 0, status.stderr);
  t.equal((JSON.parse(status.stdout) as { gateway: string }).gateway, 'gw-test');
  const byUrl = await runCli(['status', '--url', https, '--ca', self.cert]);
  t.equal(byUrl.code, 0, byUrl.stderr);
  const installed = await runCli(['buffer', '--ca', self.cert], { env: { [INSTALLED_CONFIG_TEST_VAR]: configFile } });
  t.equal(installed.code, 0, installed.stderr);
  t.match(installed.stdout, /^Buffer +/);

  const out = join(agent.dir, 'd.tar.gz');
  const diag = await runCli(['diag', '--config', configFile, '--ca', self.cert, '--out', out, '--lines', '1', '--timeout', '5']);
  t.equal(diag.code, 0, diag.stderr);
  t.match(bundlePart(out, 'status.json'), { gateway: 'gw-test' });
  const diagUntrusted = await runCli(['diag', '--config', configFile, '--out', out, '--lines', '1', '--timeout', '5']);
  t.equal(diagUntrusted.code, 0, 'the bundle is written anyway');
  t.match(bundlePart(out, 'status.json'), { url: `${https}/api/v1/status`, error: /DEPTH_ZERO_SELF_SIGNED_CERT.*pass --ca FILE/ });

  // Another CA is not the agent's certificate.
  const wrong = await runCli(['status', '--url', https, '--ca', certs.ca]);
  t.equal(wrong.code, 2);
  t.match(wrong.stderr, /not trusted; pass --ca FILE/);
});

t.test('--ca: one option shared by status, buffer and diag; a file that cannot be used exits 1 naming it', async (t) => {
  const dir = tempDir();
  const notPem = join(dir, 'not.pem');
  writeFileSync(notPem, 'hello\n');
  const missing = join(dir, 'missing.pem');
  const helps: string[] = [];
  for (const cmd of ['status', 'buffer', 'diag']) {
    const help = await runCli([cmd, '--help']);
    const line = lines(help.stdout).find((l) => l.trimStart().startsWith('--ca FILE'));
    t.ok(line, `${cmd} --help lists --ca FILE`);
    helps.push(line!.trim().replace(/\s+/g, ' '));
    const extra = cmd === 'diag' ? ['--out', join(dir, 'x.tar.gz')] : [];
    const a = await runCli([cmd, '--url', 'https://127.0.0.1:1', '--ca', missing, ...extra]);
    t.equal(a.code, 1);
    t.equal(a.stderr, `gridedge ${cmd}: --ca: cannot read ${missing}: no such file (ENOENT)\n`);
    const b = await runCli([cmd, '--url', 'https://127.0.0.1:1', '--ca', notPem, ...extra]);
    t.equal(b.code, 1);
    t.equal(b.stderr, `gridedge ${cmd}: --ca: ${notPem} holds no PEM certificate\n`);
  }
  t.equal(new Set(helps).size, 1, 'the same description everywhere');
});
