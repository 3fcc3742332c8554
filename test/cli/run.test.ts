import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { spawnAgent, startAgent, tempDir } from '../helpers/agent-process.js';
import { fixture } from '../config/helpers.js';
import { lines, runCli } from './run-cli.js';

t.test('run refuses an invalid config with every problem and exit 1', async (t) => {
  const file = fixture('cli-errors.yaml');
  for (const how of [
    { args: ['run', '--config', file], env: {} },
    { args: ['run'], env: { GRIDEDGE_CONFIG: file } },
  ]) {
    const r = await runCli(how.args, { env: how.env });
    t.equal(r.code, 1);
    const [head, ...problems] = lines(r.stderr);
    t.equal(head, `gridedge run: the config ${file} is invalid; the agent does not start:`);
    t.equal(problems.length, 7);
    t.ok(problems.includes('drivers[0].rate: must be a number between 0.01 and 100000, got "fast"'));
    t.equal(r.stdout, '', 'nothing started, nothing logged');
  }
});

t.test('run with a config file; status, buffer and tail against the running agent; SIGTERM exits 0', async (t) => {
  const agent = await startAgent({
    config: {
      drivers: [{ type: 'sim-pmu', id: 'pmu1', rate: 20 }],
      mqtt: { users: [{ username: 'viewer', password: 'look', subscribe: ['bal/processed/#'] }] },
    },
  });
  t.teardown(() => agent.stop('SIGKILL'));

  const status = await runCli(['status', '--url', agent.httpUrl]);
  t.equal(status.code, 0, status.stderr);
  t.match(status.stdout, /^gridedge gw-test .*: HEALTHY/);
  t.match(status.stdout, /\n  pmu1 +sim-pmu +running/);
  // The agent's own config says port 0 (it picks one); status reads host and port from a copy that
  // names the port it bound.
  const cfg = JSON.parse(readFileSync(agent.configFile, 'utf8')) as { http: Record<string, unknown> };
  const boundConfig = join(agent.dir, 'bound.json');
  writeFileSync(boundConfig, JSON.stringify({ ...cfg, http: { ...cfg.http, port: agent.httpPort } }));
  const fromConfig = await runCli(['status', '--json', '--config', boundConfig]);
  t.equal(fromConfig.code, 0, 'the address derived from the config file');
  t.equal((JSON.parse(fromConfig.stdout) as { gateway: string }).gateway, 'gw-test');

  const buffer = await runCli(['buffer', '--json', '--url', agent.httpUrl]);
  t.equal(buffer.code, 0, buffer.stderr);
  t.type((JSON.parse(buffer.stdout) as { buffer: { rows: number } }).buffer.rows, 'number');

  const tail = await runCli(['tail', 'bal/processed/#', '--url', agent.mqttUrl, '-u', 'viewer', '-P', 'look', '--count', '2', '--json']);
  t.equal(tail.code, 0, tail.stderr);
  const msgs = lines(tail.stdout).map((l) => JSON.parse(l) as { topic: string; payload: { device: string; p?: { total?: number } } });
  t.equal(msgs.length, 2);
  for (const m of msgs) {
    t.match(m.topic, /^bal\/processed\/pmu1(\/stats\/.+)?$/);
    t.equal(m.payload.device, 'pmu1');
  }

  const anonymous = await runCli(['tail', 'bal/#', '--url', agent.mqttUrl]);
  t.equal(anonymous.code, 2, 'users configured: anonymous clients are refused');
  const notAllowed = await runCli(['tail', 'gridedge/#', '--url', agent.mqttUrl, '-u', 'viewer', '-P', 'look', '--count', '1']);
  t.equal(notAllowed.code, 2, 'a subscription outside the user ACL is refused');
  t.match(notAllowed.stderr, /refused the subscription to gridedge\/#|closed the connection/);

  const { code, signal } = await agent.stop('SIGTERM');
  t.same({ code, signal }, { code: 0, signal: null });
});

t.test('run without any config: the embedded default (sim-pmu pmu1, ./gridedge-data)', async (t) => {
  const dir = tempDir();
  // The agent binds port 0; the CLI is then given the ports it bound through the same variables.
  const agent = await spawnAgent(['run'], { dir, configFile: '', env: { GRIDEDGE_MQTT_PORT: '0', GRIDEDGE_HTTP_PORT: '0' } });
  t.teardown(() => agent.stop('SIGKILL'));
  const env = { GRIDEDGE_MQTT_PORT: String(agent.mqttPort), GRIDEDGE_HTTP_PORT: String(agent.httpPort) };
  t.ok(existsSync(join(dir, 'gridedge-data')), 'storage in ./gridedge-data of the working directory');
  // status finds the agent the way run found its ports: from the same GRIDEDGE_* variables.
  const tail = await runCli(['tail', 'bal/processed/pmu1', '--count', '1'], { env });
  t.equal(tail.code, 0, tail.stderr);
  t.match(tail.stdout, /^bal\/processed\/pmu1 \{"device":"pmu1"/);
  const status = await runCli(['status', '--json'], { env });
  t.equal(status.code, 0, status.stderr);
  const doc = JSON.parse(status.stdout) as { gateway: string; drivers: { id: string; type: string }[]; forwarders: unknown[] };
  t.equal(doc.gateway, 'gw-1');
  t.same(doc.drivers.map((d) => [d.id, d.type]), [['pmu1', 'sim-pmu']]);
  t.same(doc.forwarders, []);
  const { code } = await agent.stop('SIGINT');
  t.equal(code, 0);
});

t.test('run with a port already in use: exit 2, the fatal line names the address, the stop is logged with code 2', async (t) => {
  const { createServer } = await import('node:net');
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.teardown(() => holder.close());
  const port = (holder.address() as { port: number }).port;
  const dir = tempDir();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'busy.json');
  writeFileSync(file, JSON.stringify({ mqtt: { host: '127.0.0.1', port }, http: { port: 0 }, storage: { dir: join(dir, 'data') }, drivers: [] }));
  const r = await runCli(['run', '--config', file]);
  t.equal(r.code, 2, r.stderr);
  const logs = lines(r.stdout).map((l) => JSON.parse(l) as { level: string; msg: string; err?: string; code?: number });
  const fatal = logs.find((l) => l.level === 'fatal');
  t.match(fatal?.err, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`), 'names the address and why');
  t.equal(logs.find((l) => l.msg === 'gridedge stopped')?.code, 2, 'the stop line says the exit code');
});
