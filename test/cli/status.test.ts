import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { cliPath, tempDir } from '../helpers/agent-process.js';
import { refusedPort } from '../helpers/ports.js';
import { cleanEnv, httpServer, lines, runCli } from './run-cli.js';
import { degradedStatus, healthyStatus } from './status-fixture.js';

const serve = (doc: unknown, status = 200, type = 'application/json') =>
  httpServer((_req, res) => {
    res.writeHead(status, { 'content-type': type });
    res.end(typeof doc === 'string' ? doc : JSON.stringify(doc));
  });

t.test('status: a healthy agent → a compact summary, exit 0', async (t) => {
  const srv = await serve(healthyStatus());
  t.teardown(srv.close);
  const r = await runCli(['status', '--url', srv.url]);
  t.equal(r.code, 0, r.stderr);
  t.same(srv.requests, ['GET /api/v1/status']);
  const out = r.stdout;
  t.match(out, /^gridedge gw-test 0\.1\.0: HEALTHY, up 2 h 13 min\n/);
  t.notMatch(out, /Problems/);
  t.match(out, /Broker +127\.0\.0\.1:1883, 3 clients, 5 subscriptions/);
  t.match(out, /\n  pmu1 +sim-pmu +running +devices pmu1\n/);
  t.match(out, /\n  meter1 +questionable +age 4\.5 s +\(stale\)\n/);
  t.match(out, /Buffer +12,345 rows, 4\.1 MiB, oldest 3 min 12 s; 5,000 awaiting forwarding \(oldest 43 s\), the rest local history\n/);
  // Ages are relative to when the CLI ran: only their form is checked.
  t.match(out, /\n  hub +azure-iot +connected +lag 5,000 rows \(43 s\) +12 dropped, last success [^,:]+ ago\n/);
  t.match(out, /Counters +received 1,234 \(driver 1,000, mqtt 234\), processed 1,230, rejected 4 \(bad_json 3, too_large 1\), dropped 0, late 2\n$/);
});

t.test('status: a degraded agent → problems and last errors, exit 1', async (t) => {
  const srv = await serve(degradedStatus());
  t.teardown(srv.close);
  const r = await runCli(['status', '--url', `${srv.url}/`]);
  t.equal(r.code, 1);
  t.match(r.stdout, /: DEGRADED, up/);
  t.match(r.stdout, /Problems:\n  - driver meter1: ECONNREFUSED 10\.0\.0\.5:502\n  - forwarder hub: disconnected\n/);
  t.match(r.stdout, /\n  meter1 +modbus +degraded +last error [^,:]+ ago: connect ECONNREFUSED 10\.0\.0\.5:502\n/);
  t.match(r.stdout, /hub +azure-iot +DISCONNECTED .*last error [^,:]+ ago: Connection refused: Not authorized/);
});

t.test('status --json prints the document as served; the exit code still follows health', async (t) => {
  const doc = degradedStatus();
  const srv = await serve(doc);
  t.teardown(srv.close);
  const r = await runCli(['status', '--json', '--url', srv.url]);
  t.equal(r.code, 1);
  t.same(JSON.parse(r.stdout), doc);
});

t.test('status: unreachable or not an agent → exit 2 naming the URL and why', async (t) => {
  const port = await refusedPort();
  const closed = await runCli(['status', '--url', `http://127.0.0.1:${port}`]);
  t.equal(closed.code, 2);
  t.equal(closed.stdout, '');
  t.match(closed.stderr, new RegExp(`^gridedge status: cannot read the status at http://127\\.0\\.0\\.1:${port}/api/v1/status: connection refused .*\\(ECONNREFUSED\\)\\n$`));

  const broken = await serve({ error: 'boom' }, 500);
  t.teardown(broken.close);
  const e500 = await runCli(['status', '--url', broken.url]);
  t.equal(e500.code, 2);
  t.match(e500.stderr, /answered HTTP 500/);

  const html = await serve('<html>router login</html>', 200, 'text/html');
  t.teardown(html.close);
  const notJson = await runCli(['status', '--url', html.url]);
  t.equal(notJson.code, 2);
  t.match(notJson.stderr, /not JSON \(is this a gridedge agent\?\)/);
});

t.test('status finds the agent from --config or GRIDEDGE_* variables', async (t) => {
  const srv = await serve(healthyStatus());
  t.teardown(srv.close);
  const dir = tempDir();
  const file = join(dir, 'gridedge.yaml');
  writeFileSync(file, `http: { host: 0.0.0.0, port: ${srv.port}, users: [ { username: ops, password: pw } ] }\nmqtt: { allowAnonymous: true }\n`);
  const fromConfig = await runCli(['status', '--config', file]);
  t.equal(fromConfig.code, 0, fromConfig.stderr);
  const fromEnvConfig = await runCli(['status'], { env: { GRIDEDGE_CONFIG: file } });
  t.equal(fromEnvConfig.code, 0, fromEnvConfig.stderr);
  const fromEnv = await runCli(['status'], { env: { GRIDEDGE_HTTP_PORT: String(srv.port) } });
  t.equal(fromEnv.code, 0, fromEnv.stderr);
  t.equal(srv.requests.length, 3);

  writeFileSync(join(dir, 'bad.yaml'), 'http: { port: 80x }\n');
  const bad = await runCli(['status', '--config', join(dir, 'bad.yaml')]);
  t.equal(bad.code, 1);
  t.same(lines(bad.stderr), [
    `gridedge status: cannot derive the agent's address from the config ${join(dir, 'bad.yaml')} (pass --url):`,
    'gridedge status: http.port: must be an integer between 0 and 65535, got "80x"',
  ]);
});

t.test('buffer: rows, bytes, oldest age and per forwarder cursor, lag and drops', async (t) => {
  const srv = await serve(healthyStatus());
  t.teardown(srv.close);
  const r = await runCli(['buffer', '--url', srv.url]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^Buffer +\/var\/lib\/gridedge\/buffer\.db\nRows +12,345 \(seq 1001 \.\. 13345\)\nSize +4\.1 MiB\nOldest +3 min 12 s\nUnsent +5,000 rows not yet sent by every forwarder \(oldest 43 s\); the other rows were forwarded and stay as local history \(storage\.historyHours\)\n/);
  t.match(r.stdout, /\n  central +connected +cursor 13345 +lag 0 rows \(0 s\) +0 dropped +draining 50\/s\n/);
  t.match(r.stdout, /\n  hub +connected +cursor 8345 +lag 5,000 rows \(43 s\) +12 dropped +draining 900\/s\n/);

  const json = await runCli(['buffer', '--json', '--url', srv.url]);
  t.equal(json.code, 0);
  const v = JSON.parse(json.stdout) as { buffer: { rows: number }; forwarders: { id: string; cursor: number; lag: number; lagSeconds: number; dropped: number }[] };
  t.equal(v.buffer.rows, 12345);
  t.same(
    v.forwarders.map((f) => [f.id, f.cursor, f.lag, f.lagSeconds, f.dropped]),
    [
      ['central', 13345, 0, 0, 0],
      ['hub', 8345, 5000, 43, 12],
    ],
  );
});

t.test('buffer: not open or not writable → exit 1; unreachable → exit 2', async (t) => {
  const none = await serve({ ...healthyStatus(), buffer: null });
  t.teardown(none.close);
  const r = await runCli(['buffer', '--url', none.url]);
  t.equal(r.code, 1);
  t.match(r.stdout, /not open/);

  const full = healthyStatus();
  full.buffer!.writeError = 'SQLITE_FULL: database or disk is full';
  const fullSrv = await serve(full);
  t.teardown(fullSrv.close);
  const w = await runCli(['buffer', '--url', fullSrv.url]);
  t.equal(w.code, 1);
  t.match(w.stdout, /WRITE ERROR SQLITE_FULL: database or disk is full/);

  const port = await refusedPort();
  const closed = await runCli(['buffer', '--url', `http://127.0.0.1:${port}`]);
  t.equal(closed.code, 2);
  t.match(closed.stderr, /^gridedge buffer: cannot read the status at http:\/\/127\.0\.0\.1:\d+\/api\/v1\/status: connection refused/);
});

t.test('status against an agent with accounts: a token from the login, or a clear refusal', async (t) => {
  const { startAgent } = await import('../helpers/agent-process.js');
  const agent = await startAgent({ config: { http: { host: '127.0.0.1', port: 0, users: [{ username: 'ops', password: 'pw', role: 'viewer' }] } } });
  t.teardown(() => agent.stop('SIGKILL'));
  const without = await runCli(['status', '--url', agent.httpUrl]);
  t.equal(without.code, 2);
  t.match(without.stderr, /needs a login \(http\.users\): pass --token or set GRIDEDGE_TOKEN/);
  const res = await fetch(`${agent.httpUrl}/api/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"username":"ops","password":"pw"}' });
  const { token } = (await res.json()) as { token: string };
  const withToken = await runCli(['status', '--url', agent.httpUrl, '--token', token, '--json']);
  t.equal(withToken.code, 0, withToken.stderr);
  t.equal((JSON.parse(withToken.stdout) as { gateway: string }).gateway, 'gw-test');
  const fromEnv = await runCli(['status', '--url', agent.httpUrl], { env: { GRIDEDGE_TOKEN: token } });
  t.equal(fromEnv.code, 0, fromEnv.stderr);
});

t.test('status: colour on a terminal only; NO_COLOR and TERM=dumb turn it off, FORCE_COLOR on', async (t) => {
  const srv = await serve(degradedStatus());
  t.teardown(srv.close);
  const ESC = /\x1b\[/;
  const piped = await runCli(['status', '--url', srv.url]);
  t.notMatch(piped.stdout, ESC, 'piped: plain text');
  const forced = await runCli(['status', '--url', srv.url], { env: { FORCE_COLOR: '1' } });
  t.match(forced.stdout, /\x1b\[31mDEGRADED\x1b\[0m/, 'FORCE_COLOR: the state word is painted');
  t.match(forced.stdout, /DEGRADED/, 'and still spelled out');
  // Ages in the text are relative to when each run happened: digits are masked before comparing.
  const mask = (s: string) => s.replace(/\d+(\.\d+)?/g, '#');
  t.equal(mask(forced.stdout.replace(/\x1b\[[0-9;]*m/g, '')), mask(piped.stdout), 'colour adds escape codes and nothing else');
  // A real pseudo-terminal: util-linux `script` runs the CLI with stdout on a pty.
  const tty = (env: Record<string, string>) =>
    new Promise<string>((resolve, reject) => {
      const cmd = `${process.execPath} ${cliPath()} status --url ${srv.url}`;
      const child = spawn('script', ['-qec', cmd, '/dev/null'], { env: { ...cleanEnv(), TERM: 'xterm', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.on('error', reject);
      child.on('close', () => resolve(out));
    });
  t.match(await tty({}), /\x1b\[31mDEGRADED/, 'on a TTY: colour');
  t.notMatch(await tty({ NO_COLOR: '1' }), ESC, 'NO_COLOR=1 on a TTY: plain');
  t.notMatch(await tty({ TERM: 'dumb' }), ESC, 'TERM=dumb on a TTY: plain');
});

t.test('buffer lines say what is unsent and what is local history, with and without forwarders', async (t) => {
  for (const [cursors, status, buffer] of [
    [[], /oldest 3 min 12 s; no forwarder, all local history\n/, /\nUnsent +no forwarder: every row is local history \(storage\.historyHours\)\n/],
    [[{ forwarder: 'central', cursor: 13345, lag: 0, lagSeconds: 0, dropped: 0 }], /oldest 3 min 12 s; all forwarded, kept as local history\n/, /\nUnsent +none; the other rows were forwarded/],
  ] as const) {
    const s = healthyStatus();
    s.buffer!.cursors = [...cursors];
    const srv = await serve(s);
    t.teardown(srv.close);
    t.match((await runCli(['status', '--url', srv.url])).stdout, status);
    t.match((await runCli(['buffer', '--url', srv.url])).stdout, buffer);
  }
});

t.test('status and buffer: names, reasons and errors from devices cannot drive the terminal; wide names stay aligned', async (t) => {
  const doc = degradedStatus();
  doc.problems = ['driver meter1: bad\u001b[2Jreply\nsecond line'];
  doc.drivers[1]!.lastError = 'refused \u009b31m by peer';
  doc.devices[1]!.latest.reasons = ['opcua:Bad\u001b[31mRED'];
  doc.devices.push({ device: '變電所-1', ageSeconds: 1, latest: { device: '變電所-1', ts: Date.now() * 1000, quality: 'good' } });
  doc.buffer!.writeError = 'disk \u0007full';
  const srv = await serve(doc);
  t.teardown(srv.close);
  const r = await runCli(['status', '--url', srv.url]);
  t.equal(r.code, 1, r.stderr);
  t.notMatch(r.stdout, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/, 'no control character but the line ends');
  t.match(r.stdout, /\n  - driver meter1: bad\\u001b\[2Jreply second line\n/, 'escaped, one line');
  t.match(r.stdout, /last error [^\n]+: refused \\u009b31m by peer\n/);
  t.match(r.stdout, /\(opcua:Bad\\u001b\[31mRED\)/);
  // 變電所 takes six columns on a terminal: the quality column starts at the same column in every row.
  const all = r.stdout.split('\n');
  const devices = all.slice(all.indexOf('Devices') + 1, all.findIndex((l) => l.startsWith('Buffer')));
  t.equal(devices.length, 3, r.stdout);
  const qualityAt = devices.map((l) => {
    const name = /^  (\S+)/.exec(l)![1]!;
    const width = [...name].reduce((w, c) => w + (/[\u3000-\u9fff]/.test(c) ? 2 : 1), 0);
    return 2 + width + (/^ +/.exec(l.slice(2 + name.length))![0].length);
  });
  t.same(new Set(qualityAt).size, 1, `one column for the quality: ${JSON.stringify(devices)}`);

  const json = await runCli(['status', '--url', srv.url, '--json']);
  t.notMatch(json.stdout, /[\u007f-\u009f]/, '--json: C1 controls escaped too');
  t.same(JSON.parse(json.stdout), doc, '--json: still the document as served');

  const buffer = await runCli(['buffer', '--url', srv.url]);
  t.match(buffer.stdout, /WRITE ERROR disk \\u0007full/);
  t.notMatch(buffer.stdout, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
});

t.test('status: a document with fields missing or of the wrong type → "?" where unknown, never undefined or NaN, no crash', async (t) => {
  const srv = await serve({
    gateway: 'gw-x',
    health: 'healthy',
    broker: {},
    drivers: [{}, 'junk', { id: 'd1' }],
    devices: 'oops',
    forwarders: [{ id: 'f1' }],
    counters: { received: 'many' },
  });
  t.teardown(srv.close);
  const r = await runCli(['status', '--url', srv.url]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stderr, '');
  t.notMatch(r.stdout, /undefined|NaN|\[object Object\]/, r.stdout);
  t.match(r.stdout, /^gridedge gw-x \?: HEALTHY, up \?\n/);
  t.match(r.stdout, /\nBroker +\?:\?, \? clients, \? subscriptions\n/);
  t.match(r.stdout, /\n  d1 +\? +\?\n/);
  t.match(r.stdout, /\n  f1 +\? +DISCONNECTED +lag \? rows \(\?\)/);
  const b = await runCli(['buffer', '--url', srv.url]);
  t.equal(b.code, 1);
  t.notMatch(b.stdout, /undefined|NaN/, b.stdout);
});

t.test('status and buffer: an agent answering a problem (503 starting, 500) → its detail in the message, exit 2', async (t) => {
  const srv = await serve({ type: 'about:blank', title: 'Service Unavailable', status: 503, detail: 'the agent is starting:\nthe buffer is not open yet' }, 503, 'application/problem+json');
  t.teardown(srv.close);
  for (const cmd of ['status', 'buffer']) {
    const r = await runCli([cmd, '--url', srv.url]);
    t.equal(r.code, 2);
    t.equal(r.stderr, `gridedge ${cmd}: cannot read the status at ${srv.url}/api/v1/status: answered HTTP 503 Service Unavailable: the agent is starting: the buffer is not open yet\n`);
  }
  const html = await serve('<html><body><h1>502 Bad Gateway</h1></body></html>', 502, 'text/html');
  t.teardown(html.close);
  const r = await runCli(['status', '--url', html.url]);
  t.equal(r.code, 2);
  t.equal(r.stderr, `gridedge status: cannot read the status at ${html.url}/api/v1/status: answered HTTP 502 Bad Gateway\n`, 'an HTML page: the status line only');
});
