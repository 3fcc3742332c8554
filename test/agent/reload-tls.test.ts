/**
 * Certificates renewed under the same paths are taken by a reload (SIGHUP), on the real agent: new
 * MQTT over TLS and HTTPS connections get the new certificate (a client trusting only the new CA
 * connects, one trusting only the old CA no longer does), a TLS session opened before stays
 * connected, the status shows the new end date (as openssl reads it); a renewal whose key does not
 * belong to the certificate refuses the reload and the certificate in force stays.
 */
import t from 'tap';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { request } from 'node:https';
import { startAgent, type AgentProcess, reloadAgent } from '../helpers/agent-process.js';
import { within } from '../broker/raw-client.js';
import { tryConnect } from '../broker/tls-clients.js';
import { makeCerts, makeSelfSigned } from '../helpers/certs.js';

const notAfter = (file: string): string =>
  new Date(Date.parse(execFileSync('openssl', ['x509', '-enddate', '-noout', '-in', file]).toString().trim().replace(/^notAfter=/, ''))).toISOString();

/** GET over HTTPS trusting `ca`: the status code, or the error. */
function httpsStatus(port: number, ca: Buffer): Promise<number | string> {
  return within(
    new Promise((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/api/v1/status', ca }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', (e) => resolve(e.message));
      req.end();
    }),
    15_000,
    'HTTPS status',
  );
}

const reload = (agent: AgentProcess, n: number): Promise<Record<string, unknown>> => reloadAgent(agent, `reload #${n}`);

t.test('renewed certificates apply to new connections at a reload; a bad renewal is refused', async (t) => {
  const oldPki = makeCerts();
  const newPki = makeCerts(undefined, { serverDays: 30 });
  const oldWeb = makeSelfSigned();
  const newWeb = makeSelfSigned();
  // The agent's own copies: the "renewal" overwrites them in place, as certbot or an enrolment would.
  const live = mkdtempSync(join(tmpdir(), 'gridedge-live-certs-'));
  t.teardown(() => {
    [oldPki, newPki, oldWeb, newWeb].forEach((c) => c.remove());
    rmSync(live, { recursive: true, force: true });
  });
  const files = { cert: join(live, 'live.crt'), key: join(live, 'live.key'), webCert: join(live, 'web.crt'), webKey: join(live, 'web.key') };
  copyFileSync(oldPki.serverCert, files.cert);
  copyFileSync(oldPki.serverKey, files.key);
  copyFileSync(oldWeb.cert, files.webCert);
  copyFileSync(oldWeb.key, files.webKey);

  const agent = await startAgent({
    config: {
      mqtt: { tls: { cert: files.cert, key: files.key, port: 0 }, allowAnonymous: true },
      http: { tls: { cert: files.webCert, key: files.webKey } },
    },
  });
  t.teardown(() => agent.stop('SIGKILL'));
  const statusUrl = `https://127.0.0.1:${agent.httpPort}/api/v1/status`;
  const ca = (f: string): Buffer => readFileSync(f);
  // The status over HTTPS, trusting either self-signed certificate (the one in force changes).
  const status = (): Promise<{ broker: { tls: { port: number; certificateExpires: string } } }> =>
    new Promise((resolve, reject) => {
      const req = request(statusUrl, { ca: [ca(oldWeb.cert), ca(newWeb.cert)] }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve(JSON.parse(body)));
      });
      req.on('error', reject);
      req.end();
    });
  const before = await status();
  const url = `mqtts://127.0.0.1:${before.broker.tls.port}`;
  t.equal(before.broker.tls.certificateExpires, notAfter(oldPki.serverCert));

  const early = await tryConnect(url, { ca: ca(oldPki.ca), clientId: 'early' });
  t.ok(early.client, `a client trusting the old CA connects before the renewal: ${early.error ?? ''}`);
  t.teardown(() => early.client?.end(true));
  let earlyClosed = false;
  early.client!.on('close', () => (earlyClosed = true));
  await early.client!.subscribeAsync('renewal/#', { qos: 1 });

  // Renew: new certificate and key under the same paths, then SIGHUP.
  copyFileSync(newPki.serverCert, files.cert);
  copyFileSync(newPki.serverKey, files.key);
  copyFileSync(newWeb.cert, files.webCert);
  copyFileSync(newWeb.key, files.webKey);
  const r1 = await reload(agent, 1);
  t.equal(r1.msg, 'config reloaded', JSON.stringify(r1));
  const renewedLines = agent.logs.filter((l) => /certificate renewed for new connections/.test(String(l.msg)));
  t.same(renewedLines.map((l) => l['option']).sort(), ['http.tls', 'mqtt.tls'], 'both renewals logged');

  const fresh = await tryConnect(url, { ca: ca(newPki.ca), clientId: 'fresh' });
  t.ok(fresh.client, `a client trusting only the new CA connects after the reload: ${fresh.error ?? ''}`);
  t.teardown(() => fresh.client?.end(true));
  const stale = await tryConnect(url, { ca: ca(oldPki.ca), clientId: 'stale' });
  t.ok(stale.error, 'a client trusting only the old CA no longer connects');
  stale.client?.end(true);
  t.equal(await httpsStatus(agent.httpPort, ca(newWeb.cert)), 200, 'HTTPS with the new certificate');
  t.match(await httpsStatus(agent.httpPort, ca(oldWeb.cert)), /self[- ]signed|unable|certificate/i, 'not with the old one');

  // The session opened before the renewal is still connected and still receives.
  const got = new Promise<string>((resolve) => early.client!.once('message', (topic) => resolve(topic)));
  await fresh.client!.publishAsync('renewal/x', 'hello', { qos: 1 });
  t.equal(await within(got, 10_000, 'the early client to receive'), 'renewal/x');
  t.equal(earlyClosed, false, 'the TLS session opened before the reload stayed connected');
  t.equal((await status()).broker.tls.certificateExpires, notAfter(newPki.serverCert), 'status shows the new end date');

  // A renewal gone wrong: the old key with the new certificate. Refused; the new certificate stays.
  copyFileSync(oldPki.serverKey, files.key);
  const r2 = await reload(agent, 2);
  t.equal(r2.msg, 'config reload refused; the running config is kept');
  t.match(JSON.stringify(r2['errors']), /mqtt\.tls\.key: does not belong to the certificate mqtt\.tls\.cert/);
  const after = await tryConnect(url, { ca: ca(newPki.ca), clientId: 'after' });
  t.ok(after.client, `the certificate in force is kept: ${after.error ?? ''}`);
  after.client?.end(true);
});
