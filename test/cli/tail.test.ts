import mqtt from 'mqtt';
import t from 'tap';
import { refusedPort } from '../helpers/ports.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { withTimeout } from '../helpers/wait.js';
import { httpServer, lines, runCli, silentServer, startCli } from './run-cli.js';
import { messageLine } from '../../agent/cli/commands/tail.js';

/** Publish retained messages (QoS 1, acknowledged) so a subscriber that comes later gets them. */
async function publishRetained(url: string, messages: [string, string][], auth: { username?: string; password?: string } = {}): Promise<void> {
  const c = await mqtt.connectAsync(url, { ...auth, reconnectPeriod: 0 });
  for (const [topic, payload] of messages) await c.publishAsync(topic, payload, { qos: 1, retain: true });
  await c.endAsync();
}

t.test('lines show payloads as sent: numbers untouched, terminal controls escaped, --json lines stay valid JSON', async (t) => {
  const line = (payload: string | Buffer, json = false, topic = 'gt/x'): string =>
    messageLine(topic, Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8'), 0, false, json).replace(/\n$/, '');
  const numbers = '{ "x": 12345678901234567890, "y": 1.10,\n "z": -0, "big": 1e400, "s": "a b" }';
  t.equal(line(numbers), 'gt/x {"x":12345678901234567890,"y":1.10,"z":-0,"big":1e400,"s":"a b"}', 'JSON compacted between tokens only');
  t.equal(line('1e400'), 'gt/x 1e400', 'a bare number as sent (it used to print null)');
  const j = line(numbers, true);
  t.equal(j, '{"topic":"gt/x","payload":{"x":12345678901234567890,"y":1.10,"z":-0,"big":1e400,"s":"a b"},"qos":0,"retain":false}');
  t.same(Object.keys(JSON.parse(j)), ['topic', 'payload', 'qos', 'retain'], 'a --json line parses');

  const evil = 'line1\rX\u001b[31mRED\u0007\u009b2J\u007f';
  const text = line(evil);
  t.equal(text, 'gt/x line1\\rX\\u001b[31mRED\\u0007\\u009b2J\\u007f', 'ESC, BEL, CSI, DEL and CR escaped');
  t.notMatch(text, /[\u0000-\u001f\u007f-\u009f]/, 'no control character reaches the terminal');
  const evilJson = line(evil, true);
  t.notMatch(evilJson, /[\u0000-\u001f\u007f-\u009f]/, 'nor in --json');
  t.equal(JSON.parse(evilJson).payload, evil, 'and the --json payload is still the exact text');
  t.equal(JSON.parse(line('{"s":"a\u009bb"}', true)).payload.s, 'a\u009bb', 'C1 inside a JSON string: escaped, same value');
  t.equal(line('x', false, 'gt/\u001b[2J'), 'gt/\\u001b[2J x', 'the topic too');
  t.equal(line(Buffer.from([0xff, 0x00])), 'gt/x base64:/wA=', 'not UTF-8: base64');
});

t.test('tail prints one line per message and exits after --count', async (t) => {
  const broker = await startMosquitto();
  t.teardown(broker.stop);
  const messages: [string, string][] = [
    ['gt/a', '{"device":"a", "v": 1}'],
    ['gt/b/c', 'plain text\nwith a newline'],
    ['gt/d', '42'],
  ];
  await publishRetained(broker.url, messages);
  const r = await runCli(['tail', 'gt/#', '--url', broker.url, '--count', '3']);
  t.equal(r.code, 0, r.stderr);
  t.same(lines(r.stdout).sort(), ['gt/a {"device":"a","v":1}', 'gt/b/c plain text\\nwith a newline', 'gt/d 42'], 'JSON compacted, newlines escaped');

  const json = await runCli(['tail', 'gt/a', '--url', broker.url, '--count', '1', '--json']);
  t.equal(json.code, 0, json.stderr);
  t.same(JSON.parse(json.stdout), { topic: 'gt/a', payload: { device: 'a', v: 1 }, qos: 0, retain: true });
});

t.test('tail follows live messages', async (t) => {
  const broker = await startMosquitto();
  t.teardown(broker.stop);
  const tail = startCli(['tail', 'live/+', '--url', broker.url, '--count', '2']);
  // Publish once the broker has the tail's subscription (it logs "CLIENT-ID QOS FILTER").
  await Promise.race([
    broker.waitForLog(/^\d+: \S+ \d live\/\+$/m, "the tail's subscription to live/+"),
    tail.result.then((r) => Promise.reject(new Error(`tail exited (code ${r.code}) before subscribing: ${r.stderr}`))),
  ]);
  const pub = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  for (let n = 0; n < 2; n++) await pub.publishAsync(`live/x`, `m${n}`, { qos: 1 });
  await pub.endAsync();
  const r = await withTimeout(tail.result, 'the tail to print two messages and exit');
  t.equal(r.code, 0, r.stderr);
  const got = lines(r.stdout);
  t.equal(got.length, 2);
  for (const l of got) t.match(l, /^live\/x m\d+$/);
  const [a, b] = got.map((l) => Number(l.slice('live/x m'.length)));
  t.same([a, b], [0, 1], 'the first two messages published, in order');
});

t.test('tail: a broker that cannot be reached or refuses → exit 2', async (t) => {
  const port = await refusedPort();
  const closed = await runCli(['tail', '#', '--url', `mqtt://127.0.0.1:${port}`]);
  t.equal(closed.code, 2);
  t.match(closed.stderr, new RegExp(`^gridedge tail: cannot connect to mqtt://127\\.0\\.0\\.1:${port}: connection refused .*\\(ECONNREFUSED\\)\\n$`));

  const secured = await startMosquitto({ users: { tech: 'right' }, acl: 'user tech\ntopic readwrite sec/#\n' });
  t.teardown(secured.stop);
  await publishRetained(secured.url, [['sec/x', 'hello']], { username: 'tech', password: 'right' });
  const anonymous = await runCli(['tail', 'sec/#', '--url', secured.url]);
  t.equal(anonymous.code, 2);
  t.match(anonymous.stderr, /cannot connect to mqtt:\/\/127\.0\.0\.1:\d+: .*[Nn]ot authorized/);
  const wrong = await runCli(['tail', 'sec/#', '--url', secured.url, '--username', 'tech', '--password', 'wrong']);
  t.equal(wrong.code, 2);
  t.notMatch(wrong.stderr, /wrong/, 'the password is not printed');
  const right = await runCli(['tail', 'sec/#', '--url', secured.url, '--username', 'tech', '--count', '1'], { env: { GRIDEDGE_MQTT_PASSWORD: 'right' } });
  t.equal(right.code, 0, right.stderr);
  t.equal(right.stdout, 'sec/x hello\n');
});

t.test('tail: bad input → exit 1', async (t) => {
  const cases: [string[], RegExp][] = [
    [['tail', 'a/#/b'], /^gridedge tail: TOPIC must be an MQTT topic filter: '#' must be a whole level and the last one, got "a\/#\/b"/],
    [['tail', '#', '--count', '0'], /^gridedge tail: --count: must be a positive integer, got "0"/],
    [['tail', '#', '--url', 'http://127.0.0.1:1883'], /^gridedge tail: --url: must be an mqtt:\/\/, mqtts:\/\/, ws:\/\/ or wss:\/\/ URL, got "http:\/\/127\.0\.0\.1:1883"/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(args);
    t.equal(r.code, 1, args.join(' '));
    t.match(r.stderr, re);
  }
});

t.test('tail piped into a reader that closes early ends quietly (no EPIPE trace)', async (t) => {
  const { spawn } = await import('node:child_process');
  const { startMosquitto } = await import('../helpers/mosquitto.js');
  const { cliPath } = await import('../helpers/agent-process.js');
  const m = await startMosquitto();
  t.teardown(() => m.stop());
  // `gridedge tail ... | head -c 50`, with a real pipe: head exits after 50 bytes.
  const child = spawn('sh', ['-c', `"${process.execPath}" "${cliPath()}" tail 'x/#' --url ${m.url} | head -c 50 >/dev/null`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const pub = await (await import('mqtt')).default.connectAsync(m.url);
  t.teardown(() => pub.end(true));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const { waitFor } = await import('../helpers/wait.js');
  let done = false;
  void exited.then(() => (done = true));
  await waitFor(
    'the pipeline to end once head has its bytes',
    async () => {
      if (done) return true;
      await pub.publishAsync('x/y', 'z'.repeat(40));
      return undefined;
    },
    { timeoutMs: 20_000, intervalMs: 100 },
  );
  t.equal(await exited, 0, 'the pipeline exits 0');
  t.notMatch(stderr, /EPIPE|Error|at /, `nothing on stderr: ${stderr}`);
});

t.test('tail: a peer that is not a (plain) MQTT broker → exit 2 saying what it is, in words', async (t) => {
  const silent = await silentServer();
  t.teardown(silent.close);
  const hung = await runCli(['tail', 'x/#', '--url', `mqtt://127.0.0.1:${silent.port}`, '--timeout', '1']);
  t.equal(hung.code, 2);
  t.equal(
    hung.stderr,
    `gridedge tail: cannot connect to mqtt://127.0.0.1:${silent.port}: no answer within 1 s (the connection was accepted but no MQTT CONNACK came: is this the broker's MQTT port?)\n`,
    'it said "connack timeout"',
  );

  const web = await httpServer((_req, res) => res.end('hello'));
  t.teardown(web.close);
  const http = await runCli(['tail', 'x/#', '--url', `mqtt://127.0.0.1:${web.port}`, '--timeout', '5']);
  t.equal(http.code, 2);
  t.match(http.stderr, new RegExp(`^gridedge tail: cannot connect to mqtt://127\\.0\\.0\\.1:${web.port}: answered something that is not MQTT \\(.+\\): is this the broker's MQTT port\\?\\n$`), 'it said "Invalid header flag bits ..."');

  const tls = await runCli(['tail', 'x/#', '--url', `mqtts://127.0.0.1:${web.port}`, '--timeout', '5']);
  t.equal(tls.code, 2);
  t.equal(
    tls.stderr,
    `gridedge tail: cannot connect to mqtts://127.0.0.1:${web.port}: no TLS handshake: the port does not speak TLS (mqtts:// or wss:// to a plain MQTT or HTTP port?) (EPROTO)\n`,
    'one line, no OpenSSL dump',
  );
});

t.test('tail and status: a malformed --url says what is wrong with it', async (t) => {
  const cases: [string[], string][] = [
    [['tail', 'x', '--url', 'mqtt://127.0.0.1:99999'], 'gridedge tail: --url: the port must be between 1 and 65535, got "mqtt://127.0.0.1:99999"\n'],
    [['tail', 'x', '--url', 'mqtt://'], 'gridedge tail: --url: names no host, got "mqtt://"\n'],
    [['tail', 'x', '--url', '10.0.0.2:1883'], 'gridedge tail: --url: must be an mqtt://, mqtts://, ws:// or wss:// URL, got "10.0.0.2:1883" (e.g. mqtt://10.0.0.2:1883)\n'],
    [['status', '--url', 'http://10.0.0.2:80x'], 'gridedge status: --url: the port must be a number between 1 and 65535, got "http://10.0.0.2:80x"\n'],
    [['status', '--url', 'http://10.0.0.2:0'], 'gridedge status: --url: the port must be between 1 and 65535, got "http://10.0.0.2:0"\n'],
  ];
  for (const [args, want] of cases) {
    const r = await runCli(args);
    t.equal(r.code, 1, args.join(' '));
    t.equal(r.stderr, want, args.join(' '));
  }
});

t.test('tail: --ca, --cert and --key that cannot serve are named before connecting (a key as --ca went to the TLS handshake)', async (t) => {
  const { writeFileSync, mkdirSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tempDir } = await import('../helpers/agent-process.js');
  const dir = tempDir();
  const notPem = join(dir, 'ca.json');
  writeFileSync(notPem, '{}');
  const key = join(dir, 'key.pem');
  writeFileSync(key, '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n');
  const folder = join(dir, 'certs');
  mkdirSync(folder);
  const url = 'mqtts://127.0.0.1:8883';
  const cases: [string[], string][] = [
    [['--ca', notPem], `gridedge tail: --ca: ${notPem} holds no PEM certificate\n`],
    [['--ca', key], `gridedge tail: --ca: ${key} holds no PEM certificate\n`],
    [['--ca', folder], `gridedge tail: --ca: cannot read ${folder}: is a folder, not a file (EISDIR)\n`],
    [['--ca', join(dir, 'nope.pem')], `gridedge tail: --ca: cannot read ${join(dir, 'nope.pem')}: no such file (ENOENT)\n`],
    [['--cert', notPem, '--key', notPem], `gridedge tail: --cert: ${notPem} holds no PEM certificate\ngridedge tail: --key: ${notPem} holds no PEM private key\n`],
  ];
  for (const [flags, want] of cases) {
    const r = await runCli(['tail', 'x/#', '--url', url, ...flags]);
    t.equal(r.code, 1, flags.join(' '));
    t.equal(r.stderr, want, flags.join(' '));
  }
});
