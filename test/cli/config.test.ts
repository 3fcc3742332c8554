import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { describeSchema } from '../../agent/config/describe.js';
import { tempDir } from '../helpers/agent-process.js';
import { fixture } from '../config/helpers.js';
import { lines, runCli } from './run-cli.js';

t.test('config check: a valid file → "FILE: ok", exit 0', async (t) => {
  for (const name of ['valid.yaml', 'valid.json']) {
    const file = fixture(name);
    const r = await runCli(['config', 'check', file]);
    t.same(r, { code: 0, stdout: `${file}: ok\n`, stderr: '' }, name);
  }
});

t.test('config check: every problem, one a line, exit 1', async (t) => {
  const r = await runCli(['config', 'check', fixture('cli-errors.yaml')]);
  t.equal(r.code, 1);
  t.equal(r.stdout, '');
  t.same(lines(r.stderr).sort(), [
    'gateway.id: must be 1-64 characters of letters, digits, "_", ".", ":" or "-", starting with a letter or digit, got "gw 1"',
    'http.port: must be an integer between 0 and 65535, got "50x"',
    'drivers[0].rate: must be a number between 0.01 and 100000, got "fast"',
    'drivers[1].extra: unknown key',
    'drivers[1].id: must be unique among drivers (drivers[0] has it too), got "pmu1"',
    `forwarders[0].map[0].from: must be an MQTT topic filter: '#' must be a whole level and the last one, got "a/#/b"`,
    'mqtt.allowAnonymous: must be true to let anonymous clients in: mqtt.host "0.0.0.0" is not a loopback address and no mqtt.users are configured (add users, or set allowAnonymous: true explicitly), got false',
  ].sort());
});

t.test('config check: syntax errors and missing files name the file', async (t) => {
  const syntax = await runCli(['config', 'check', fixture('syntax-error.yaml')]);
  t.equal(syntax.code, 1);
  t.same(lines(syntax.stderr), [`${fixture('syntax-error.yaml')}:5:1: YAML syntax error: missed comma between flow collection entries`]);
  const missing = await runCli(['config', 'check', '/nonexistent/gridedge.yaml']);
  t.same(missing, { code: 1, stdout: '', stderr: '/nonexistent/gridedge.yaml: cannot read the config file: no such file\n' });
});

t.test('config check --env applies GRIDEDGE_* variables as run does; without it they are ignored', async (t) => {
  const env = { GRIDEDGE_HTTP_PORT: 'eighty' };
  const plain = await runCli(['config', 'check', fixture('valid.yaml')], { env });
  t.equal(plain.code, 0);
  const withEnv = await runCli(['config', 'check', '--env', fixture('valid.yaml')], { env });
  t.equal(withEnv.code, 1);
  t.same(lines(withEnv.stderr), ['http.port: must be an integer between 0 and 65535, got "eighty" (from GRIDEDGE_HTTP_PORT)']);
});

t.test('config schema: Markdown with every option; --json the full description', async (t) => {
  const d = describeSchema();
  const md = await runCli(['config', 'schema']);
  t.equal(md.code, 0);
  t.match(md.stdout, /^## Options \(config version 1\)/);
  for (const o of d.options) t.ok(md.stdout.includes(`| \`${o.path}\` |`), `row for ${o.path}${o.plugin ? ` (${o.plugin})` : ''}`);
  const json = await runCli(['config', 'schema', '--json']);
  t.equal(json.code, 0);
  t.same(JSON.parse(json.stdout), JSON.parse(JSON.stringify(d)));
});

t.test('config check and run refuse anonymous MQTT over WebSocket on a non-loopback http.host', async (t) => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const file = join(mkdtempSync(join(tmpdir(), 'gridedge-ws-')), 'open.yaml');
  writeFileSync(file, 'mqtt: { host: 127.0.0.1 }\nhttp: { host: 0.0.0.0, port: 0 }\n');
  const check = await runCli(['config', 'check', file]);
  t.equal(check.code, 1);
  t.match(check.stderr, /^mqtt\.allowAnonymous: must be true .*http\.host "0\.0\.0\.0" \(MQTT over WebSocket is enabled there\)/);
  const run = await runCli(['run', '--config', file]);
  t.equal(run.code, 1, 'the agent does not start');
  t.match(run.stderr + run.stdout, /mqtt\.allowAnonymous/);
});

t.test('config check: URL passwords in problems are masked (the user name kept), also from GRIDEDGE_* variables', async (t) => {
  const file = join(tempDir('gridedge-url-problems-'), 'inv.yaml');
  writeFileSync(
    file,
    [
      'forwarders:',
      '  - { type: mqtt, id: c, url: "mqtt://fw:BadCfgPw@host:99999" }',
      '  - { type: mqtt, id: d, url: "mqtt://fw2:Tls@Pw@127.0.0.1:1883", ca: test/fixtures/forwarders/ca.pem }',
      'drivers:',
      '  - { type: mqtt-source, id: s, url: "mqtt://su:Src@Pw@host:99999", topics: [ { filter: "a/#", device: x } ] }',
      '',
    ].join('\n'),
  );
  const r = await runCli(['config', 'check', file]);
  t.equal(r.code, 1);
  t.same(lines(r.stderr).sort(), [
    'drivers[0].url: must be a broker URL such as "mqtt://host:1883" or "mqtts://host:8883", got "mqtt://su:***@host:99999"',
    'forwarders[0].url: must be a broker URL such as "mqtt://host:1883" or "mqtts://host:8883", got "mqtt://fw:***@host:99999"',
    'forwarders[1].url: must be mqtts:// or wss:// when ca or cert is set, got "mqtt://fw2:***@127.0.0.1:1883"',
  ]);

  const valid = join(tempDir('gridedge-url-problems-'), 'ok.yaml');
  writeFileSync(valid, 'gateway: { id: gw-1 }\n');
  const url = 'mqtt://envuser:Env@Pw@host:99999';
  const badUrl = await runCli(['config', 'check', '--env', valid], { env: { GRIDEDGE_FORWARDERS: JSON.stringify([{ type: 'mqtt', id: 'e', url }]) } });
  t.equal(badUrl.code, 1);
  t.match(badUrl.stderr, /^forwarders\[0\]\.url: must be a broker URL .*, got "mqtt:\/\/envuser:\*\*\*@host:99999" \(from GRIDEDGE_FORWARDERS\)$/m);
  const notJson = await runCli(['config', 'check', '--env', valid], { env: { GRIDEDGE_FORWARDERS: `[{"type":"mqtt","id":"e","url":"${url}"` } });
  t.equal(notJson.code, 1);
  t.match(notJson.stderr, /GRIDEDGE_FORWARDERS .*mqtt:\/\/envuser:\*\*\*@host:99999/);
  for (const r of [badUrl, notJson]) t.notOk(r.stderr.includes('Env@Pw'), `the password is not shown: ${r.stderr}`);
});

t.test('config check: a file that holds no option is valid but warned about (it said "ok" as for a full config); a folder or garbage is a problem', async (t) => {
  const dir = tempDir();
  const files: [string, string][] = [
    ['empty.yaml', ''],
    ['comments.yml', '# gridedge config\n\n---\n'],
    ['null.json', 'null\n'],
  ];
  for (const [name, text] of files) {
    const file = join(dir, name);
    writeFileSync(file, text);
    const r = await runCli(['config', 'check', file]);
    t.same(
      r,
      {
        code: 0,
        stdout: `${file}: ok (1 warning above)\n`,
        stderr: `warning: ${file} holds no options (it is empty, or comments only): every option takes its default, with no drivers (is it the file you meant, or was it truncated?)\n`,
      },
      name,
    );
  }
  const folder = join(dir, 'conf.yaml');
  mkdirSync(folder);
  const d = await runCli(['config', 'check', folder]);
  t.same(d, { code: 1, stdout: '', stderr: `${folder}: cannot read the config file: is a directory\n` });
  const garbage = join(dir, 'garbage.yaml');
  writeFileSync(garbage, 'gateway: [x\n  - : y\n');
  const g = await runCli(['config', 'check', garbage]);
  t.equal(g.code, 1);
  t.match(g.stderr, new RegExp(`^${garbage.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+:\\d+: YAML syntax error: `));
});

t.test('config check: a binary or damaged file: the byte the parser stopped at is escaped, not sent to the terminal', async (t) => {
  const file = join(tempDir(), 'gridedge.json');
  writeFileSync(file, Buffer.from([0x1b, 0x5b, 0x32, 0x4a, 0x00]));
  const r = await runCli(['config', 'check', file]);
  t.equal(r.code, 1);
  t.notMatch(r.stderr, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/, JSON.stringify(r.stderr));
  t.match(r.stderr, /\\u001b/);
});

t.test('config check: a warning quoting a TLS file (a CRL issuer with terminal controls in its name) is escaped too', async (t) => {
  // A CA whose name holds ESC [2J (clear screen), and an out-of-date CRL it signed: the warning names
  // the CRL's issuer as the file has it.
  const dir = tempDir();
  const openssl = (args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '30', '-subj', '/CN=evil\u001b[2JCA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  openssl(['req', '-x509', ...ec, '-keyout', 'server.key', '-out', 'server.crt', '-days', '30', '-subj', '/CN=localhost']);
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'crlnumber'), '1000\n');
  writeFileSync(join(dir, 'ca.cnf'), '[ ca ]\ndefault_ca = CA_default\n[ CA_default ]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\n');
  const stamp = (ms: number): string => new Date(ms).toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');
  const now = Date.now();
  openssl(['ca', '-config', 'ca.cnf', '-cert', 'ca.crt', '-keyfile', 'ca.key', '-gencrl', '-crl_lastupdate', stamp(now - 10 * 86_400_000), '-crl_nextupdate', stamp(now - 86_400_000), '-out', 'crl.pem']);
  const file = join(dir, 'gridedge.yaml');
  writeFileSync(file, `mqtt:\n  tls: { cert: ${join(dir, 'server.crt')}, key: ${join(dir, 'server.key')}, ca: ${join(dir, 'ca.crt')}, crl: ${join(dir, 'crl.pem')} }\n`);
  const r = await runCli(['config', 'check', file]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /^warning: mqtt\.tls\.crl is out of date since .*\(CRL of "CN=evil\\u001b\[2JCA", /m, 'the issuer is named, escaped');
  t.notMatch(r.stderr, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/, JSON.stringify(r.stderr));
});

t.test('run: an invalid config quoting a control byte of the file prints it escaped, as config check does', async (t) => {
  const file = join(tempDir(), 'gridedge.yaml');
  writeFileSync(file, 'gateway:\n  id: *gw\u001b\n');
  const r = await runCli(['run', '--config', file]);
  t.equal(r.code, 1);
  t.match(r.stderr, /:2:\d+: YAML syntax error: unidentified alias "gw\\u001b"\n$/);
  t.notMatch(r.stderr, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/, JSON.stringify(r.stderr));
});

t.test('config check: keys given twice in a JSON file are listed with every other problem, one a line', async (t) => {
  const file = join(tempDir(), 'gridedge.json');
  writeFileSync(file, '{\n  "http": { "port": "80x", "port": 8081 },\n  "gateway": { "id": "gw 1" }\n}\n');
  const r = await runCli(['config', 'check', file]);
  t.same(r, {
    code: 1,
    stdout: '',
    stderr: `${file}:2:28: JSON: http.port appears twice in the same object (first at line 2, column 13); give it once\ngateway.id: must be 1-64 characters of letters, digits, "_", ".", ":" or "-", starting with a letter or digit, got "gw 1"\n`,
  });
});
