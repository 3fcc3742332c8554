/**
 * Secrets kept out of what leaves the gateway: `gridedge config check`, the agent's own log lines,
 * and `gridedge diag`'s bundle (its journal excerpt above all). The agent runs with every kind of
 * secret: MQTT and HTTP user passwords, an MQTT forwarder refused by a real mosquitto (password in
 * its URL and in `password`), an Azure IoT Hub forwarder (SAS key) pointed at a TLS mosquitto that
 * is not IoT Hub and refuses its SAS token, an OPC UA user password, a bearer token; each secret is
 * then looked for in the output as written, URL-encoded, base64-encoded and JSON-escaped.
 */
import { chmodSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { maskSecretText } from '../../agent/core/secrets.js';
import { startAgent, tempDir } from '../helpers/agent-process.js';
import { FAKE_HUB, makeCerts } from '../helpers/certs.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { refusedPort } from '../helpers/ports.js';
import { runCli } from '../cli/run-cli.js';

/** The forms a secret could be found in: as written, URL-encoded, base64, JSON-escaped twice. */
function forms(secret: string): string[] {
  const once = JSON.stringify(secret).slice(1, -1);
  return [...new Set([secret, encodeURIComponent(secret), Buffer.from(secret).toString('base64'), once, JSON.stringify(once).slice(1, -1)])];
}

function assertNoSecret(t: Test, text: string, secrets: Record<string, string>, where: string): void {
  const found = Object.entries(secrets).flatMap(([what, secret]) => forms(secret).filter((f) => text.includes(f)).map((f) => `${what}: ${f}`));
  t.same(found, [], `${where}: no secret in it`);
}

t.test('maskSecretText: key/value pairs, JSON (also escaped inside JSON), YAML, connection strings, SAS signatures, bearer tokens', async (t) => {
  t.equal(maskSecretText('"password":"P1", "user":"u"'), '"password":"***", "user":"u"');
  t.equal(maskSecretText('{"msg":"got \\"[{\\\\\\"password\\\\\\":\\\\\\"P2\\\\\\"}]\\""}'), '{"msg":"got \\"[{\\\\\\"password\\\\\\":\\\\\\"***\\\\\\"}]\\""}');
  t.equal(maskSecretText('"passwordHash":"scrypt$16384$8$1$abc$def", "x": 1'), '"passwordHash":"***", "x": 1');
  t.equal(maskSecretText('  password: Yaml Pw # comment'), '  password: *** Pw # comment', 'an unquoted YAML value is masked up to white space');
  t.equal(maskSecretText("  passwordHash: 'scrypt$a$b c'"), "  passwordHash: '***'");
  t.equal(maskSecretText('HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey=S2V5/+==;ModuleId=m'), 'HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey=***;ModuleId=m');
  t.equal(maskSecretText('SharedAccessSignature sr=h%2Fdevices%2Fd&sig=ab%2Bc%3D&se=1700000000'), 'SharedAccessSignature sr=h%2Fdevices%2Fd&sig=***&se=1700000000');
  t.equal(maskSecretText('authorization: Bearer abc.def-123_ghi-456'), 'authorization: Bearer ***');
  t.equal(maskSecretText('--token TOKEN  Bearer token for an agent; pass --token or set GRIDEDGE_TOKEN'), '--token TOKEN  Bearer token for an agent; pass --token or set GRIDEDGE_TOKEN', 'prose about tokens kept');
  t.equal(maskSecretText('COMMAND=/usr/bin/gridedge status --token abc-1abc-1abc-1abc-1 --json; gridedge diag --token=def_2def_2def_2def_2'), 'COMMAND=/usr/bin/gridedge status --token *** --json; gridedge diag --token=***');
  t.equal(maskSecretText('GRIDEDGE_TOKEN=abc-1 gridedge status'), 'GRIDEDGE_TOKEN=*** gridedge status');
  t.equal(maskSecretText('cookie: gridedge_session=abcdef; Path=/'), 'cookie: gridedge_session=***; Path=/');
  t.equal(maskSecretText('mqtt://fw:Url@Pw@host:1883 and "token": ""'), 'mqtt://fw:***@host:1883 and "token": ""', 'URL passwords as maskUrlPassword; an empty value stays empty');
  t.equal(maskSecretText('keepalive: 60, "sessionsOpen": 2, user=u'), 'keepalive: 60, "sessionsOpen": 2, user=u', 'other keys kept');
});

t.test('config check: an Azure connection string with its key in a malformed part does not print the key', async (t) => {
  const key = Buffer.from('gridedge secret check key 32b!!!').toString('base64');
  const dir = tempDir('gridedge-secrets-check-');
  const cases: [string, RegExp][] = [
    // `:` for `=`: the whole part was quoted as an unknown name.
    [`HostName=${FAKE_HUB};DeviceId=d;SharedAccessKey:${key}`, /has an unknown part \(part 3 of 3, not a name\)/],
    [`HostName=${FAKE_HUB};DeviceId=d;SharedAccessKey ${key}`, /has an unknown part \(part 3 of 3, not a name\)/],
    // The key alone, its padding `=` read as the separator: the "name" was the key.
    [`HostName=${FAKE_HUB};DeviceId=d;${key}`, /has an unknown part \(part 3 of 3, not a name\)/],
    // The key alone without padding: the part was quoted as one without "Name=value".
    [`HostName=${FAKE_HUB};DeviceId=d;${key.replace(/=+$/, '')}`, /has a part without "Name=value" \(part 3 of 3, \d+ characters\)/],
  ];
  for (const [i, [conn, expected]] of cases.entries()) {
    const file = join(dir, `c${i}.yaml`);
    writeFileSync(file, `forwarders:\n  - { type: azure-iot, id: hub, connectionString: "${conn}" }\n`);
    const r = await runCli(['config', 'check', file]);
    t.equal(r.code, 1, `case ${i}: refused`);
    t.match(r.stdout + r.stderr, expected, `case ${i}: the problem says which part`);
    assertNoSecret(t, r.stdout + r.stderr, { key, 'the key without padding': key.replace(/=+$/, ''), 'the start of the key': key.slice(0, 16) }, `config check case ${i}`);
  }
  // A typo in a name is still quoted: it is what the technician has to correct.
  writeFileSync(join(dir, 'typo.yaml'), `forwarders:\n  - { type: azure-iot, id: hub, connectionString: "HostName=${FAKE_HUB};DeviceID=d;SharedAccessKey=${key}" }\n`);
  const typo = await runCli(['config', 'check', join(dir, 'typo.yaml')]);
  t.match(typo.stdout + typo.stderr, /has an unknown part "DeviceID"/);
});

t.test('config check --env: a GRIDEDGE_* list that is not valid JSON is shown with its passwords masked', async (t) => {
  const dir = tempDir('gridedge-secrets-env-');
  const file = join(dir, 'g.yaml');
  writeFileSync(file, 'gateway: { id: gw }\n');
  const env = { GRIDEDGE_FORWARDERS: '[{"type":"mqtt","id":"m","url":"mqtt://u:EnvUrlPw-4k@h","username":"u","password":"EnvFwdPw-6j" x}]' };
  const r = await runCli(['config', 'check', file, '--env'], { env });
  t.equal(r.code, 1);
  t.match(r.stdout + r.stderr, /GRIDEDGE_FORWARDERS is not valid JSON .*"password\\":\\"\*\*\*\\"/);
  assertNoSecret(t, r.stdout + r.stderr, { 'the URL password': 'EnvUrlPw-4k', 'the forwarder password': 'EnvFwdPw-6j' }, 'config check --env');
});

t.test('an agent with every kind of secret: its log lines and its diag bundle (journal excerpt, env overrides) hold none', async (t) => {
  const secrets: Record<string, string> = {
    'mqtt.users password': 'MqttUserPw-7xq',
    'http.users password': 'HttpUserPw-8kz',
    'forwarder URL password': 'UrlPw-3mv',
    'forwarder password': 'FwdPw-9tn',
    'OPC UA password': 'OpcPw-5rd',
    'env mqtt.users password': 'EnvUserPw-2ws',
  };
  const azureKey = Buffer.from('gridedge secrets test key 32b!!!').toString('base64');
  secrets['Azure SharedAccessKey'] = azureKey;

  // Real peers refusing the forwarders' credentials: mosquitto with a password file; a TLS
  // mosquitto (not IoT Hub) that knows no device, so the SAS token is refused.
  const upstream = await startMosquitto({ users: { fwd: 'TheRightPw' } });
  t.teardown(() => upstream.stop());
  const certs = makeCerts();
  t.teardown(() => certs.remove());
  const notHub = await startMosquitto({ users: { someone: 'else' }, tls: { cafile: certs.ca, certfile: certs.serverCert, keyfile: certs.serverKey } });
  t.teardown(() => notHub.stop());

  const agent = await startAgent({
    config: {
      mqtt: { host: '127.0.0.1', port: 0, users: [{ username: 'field', password: secrets['mqtt.users password'], publish: ['#'], subscribe: ['#'] }] },
      http: { host: '127.0.0.1', port: 0, users: [{ username: 'ops', password: secrets['http.users password'], role: 'admin' }] },
      drivers: [
        {
          type: 'opcua',
          id: 'rtu1',
          endpoint: `opc.tcp://127.0.0.1:${await refusedPort()}`,
          security: { mode: 'None', username: 'op', password: secrets['OPC UA password'] },
          nodes: [{ nodeId: 'ns=1;s=Va', field: 'v.a.mag' }],
        },
      ],
      forwarders: [
        { type: 'mqtt', id: 'central', url: `mqtt://fwd:${secrets['forwarder URL password']}@127.0.0.1:${upstream.port}`, username: 'fwd', password: secrets['forwarder password'] },
        {
          type: 'azure-iot',
          id: 'hub',
          connectionString: `HostName=${FAKE_HUB};DeviceId=dev1;SharedAccessKey=${azureKey}`,
          url: `mqtts://127.0.0.1:${notHub.port}`,
          ca: certs.ca,
        },
      ],
    },
  });
  t.teardown(() => agent.stop('SIGKILL'));
  await agent.waitForLog((l) => /^forwarder central: /.test(String(l.msg)) && /bad username or password|not authorized/.test(String(l.msg)), 'the MQTT forwarder refused by mosquitto');
  await agent.waitForLog((l) => /^forwarder hub: /.test(String(l.msg)) && /not authorized|bad username or password/.test(String(l.msg)), 'the Azure forwarder refused by the TLS mosquitto');

  const login = await fetch(`${agent.httpUrl}/api/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'ops', password: secrets['http.users password'] }) });
  t.equal(login.status, 200, 'the login succeeds');
  const { token } = (await login.json()) as { token: string };
  secrets['bearer token'] = token;

  const logText = agent.logs.map((l) => JSON.stringify(l)).join('\n');
  assertNoSecret(t, logText + agent.stderr(), secrets, "the agent's log");

  // The journal as journalctl would print it: the agent's own lines, and lines such as a reload
  // refused over a GRIDEDGE_* list, a connection string, a SAS token, a bearer token.
  const journal = [
    ...agent.logs.map((l) => `2026-01-01T00:00:00+0000 gw gridedge[1]: ${JSON.stringify(l)}`),
    `2026-01-01T00:00:01+0000 gw gridedge[1]: ${JSON.stringify({ level: 'error', msg: `reload refused: forwarders: GRIDEDGE_FORWARDERS is not valid JSON, got ${JSON.stringify(`[{"type":"mqtt","password":"${secrets['forwarder password']}" x}]`)}` })}`,
    `2026-01-01T00:00:02+0000 gw gridedge[1]: ${JSON.stringify({ level: 'warn', msg: `connectionString HostName=${FAKE_HUB};DeviceId=dev1;SharedAccessKey=${azureKey}` })}`,
    `2026-01-01T00:00:03+0000 gw gridedge[1]: ${JSON.stringify({ level: 'debug', msg: `CONNECT password SharedAccessSignature sr=${FAKE_HUB}%2Fdevices%2Fdev1&sig=SasSig%2Bx%3D&se=1700000000` })}`,
    `2026-01-01T00:00:04+0000 gw gridedge[1]: ${JSON.stringify({ level: 'info', msg: 'request', headers: { authorization: `Bearer ${token}`, cookie: `gridedge_session=${token}` } })}`,
    `2026-01-01T00:00:05+0000 gw gridedge[1]:   password: ${secrets['mqtt.users password']}`,
  ].join('\n');
  secrets['SAS signature'] = 'SasSig%2Bx%3D';
  const bin = tempDir('gridedge-secrets-bin-');
  writeFileSync(join(bin, 'journal.txt'), journal + '\n');
  // journalctl as the test box has no gridedge unit: prints the journal above.
  writeFileSync(join(bin, 'journalctl'), `#!/bin/sh\ncat '${join(bin, 'journal.txt')}'\n`);
  chmodSync(join(bin, 'journalctl'), 0o755);

  const outDir = tempDir('gridedge-secrets-diag-');
  const out = join(outDir, 'bundle.tar.gz');
  const env = {
    PATH: `${bin}:${process.env['PATH'] ?? ''}`,
    GRIDEDGE_TOKEN: token,
    GRIDEDGE_MQTT_USERS: JSON.stringify([{ username: 'envu', password: secrets['env mqtt.users password'], publish: ['#'], subscribe: ['#'] }]),
  };
  const r = await runCli(['diag', '--config', agent.configFile, '--url', agent.httpUrl, '--out', out, '--json'], { cwd: agent.dir, env });
  t.equal(r.code, 0, r.stderr);
  t.match(JSON.parse(r.stdout), { parts: { 'config.json': 'ok', 'status.json': /^ok /, 'logs.txt': 'ok' } });
  const dir = tempDir('gridedge-secrets-unpacked-');
  execFileSync('tar', ['-xzf', out, '-C', dir]);
  const [top] = readdirSync(dir);
  const files = Object.fromEntries(readdirSync(join(dir, top!)).map((f) => [f, readFileSync(join(dir, top!, f), 'utf8')]));
  t.match(files['logs.txt'], /forwarder central: .*fwd:\*\*\*@127\.0\.0\.1/, 'the journal excerpt is in the bundle');
  t.match(files['logs.txt'], /SharedAccessKey=\*\*\*/);
  t.match(JSON.parse(files['config.json']!), { config: { mqtt: { users: [{ username: 'envu', password: '***' }] } } }, 'the env override is applied, masked');
  for (const [f, text] of Object.entries(files)) assertNoSecret(t, text, secrets, f);
  assertNoSecret(t, r.stdout + r.stderr, secrets, 'diag output');
});
