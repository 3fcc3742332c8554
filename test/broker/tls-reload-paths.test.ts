/**
 * New `mqtt.tls` file paths take effect at a reload (SIGHUP) on the real agent: the listener's
 * secure context is replaced, so new TLS connections get the certificate of the new paths, a TLS
 * session opened before stays connected, and the log says the certificate was renewed. What the
 * listener fixes at its start is still refused whole by the reload, naming the key: its port (and
 * host), and client certificates asked for or not (`ca` given where there was none). A new path to
 * a file that does not exist refuses the reload too; the certificate in force stays in every case.
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { makeCerts } from '../helpers/certs.js';
import { getJson, reloadAgent, startAgent, type AgentProcess } from '../helpers/agent-process.js';
import { within } from './raw-client.js';
import { tryConnect } from './tls-clients.js';

/** Rewrite the agent's config file with `mqtt.tls` changed by `over`. */
function setTls(agent: AgentProcess, over: Record<string, unknown>): void {
  const cfg = JSON.parse(readFileSync(agent.configFile, 'utf8')) as { mqtt: { tls: Record<string, unknown> } };
  cfg.mqtt.tls = { ...cfg.mqtt.tls, ...over };
  writeFileSync(agent.configFile, JSON.stringify(cfg, null, 2));
}

t.test('a reload that changes the mqtt.tls paths puts the new files in force; port and client certificates still need a restart', async (t) => {
  const a = makeCerts();
  const b = makeCerts(undefined, { serverDays: 30 });
  t.teardown(() => [a, b].forEach((c) => c.remove()));
  const caOf = (f: string): Buffer => readFileSync(f);

  const agent = await startAgent({ config: { mqtt: { allowAnonymous: true, tls: { cert: a.serverCert, key: a.serverKey, port: 0 } } } });
  t.teardown(() => agent.stop('SIGKILL'));
  const status = async (): Promise<{ broker: { tls: { port: number; certificateExpires: string } } }> =>
    (await getJson(`${agent.httpUrl}/api/v1/status`)) as { broker: { tls: { port: number; certificateExpires: string } } };
  const before = await status();
  const url = `mqtts://127.0.0.1:${before.broker.tls.port}`;

  const early = await tryConnect(url, { ca: caOf(a.ca), clientId: 'early' });
  t.ok(early.client, `a client trusting the first CA connects: ${early.error ?? ''}`);
  t.teardown(() => early.client?.end(true));
  let earlyClosed = false;
  early.client!.on('close', () => (earlyClosed = true));
  await early.client!.subscribeAsync('paths/#', { qos: 1 });

  // New paths: another certificate and key, in other files.
  setTls(agent, { cert: b.serverCert, key: b.serverKey });
  const r1 = await reloadAgent(agent, 'reload with new mqtt.tls paths');
  t.equal(r1.msg, 'config reloaded', JSON.stringify(r1));
  t.ok(
    agent.logs.some((l) => l['option'] === 'mqtt.tls' && /certificate renewed for new connections/.test(String(l.msg))),
    'the log says the certificate changed',
  );
  const fresh = await tryConnect(url, { ca: caOf(b.ca), clientId: 'fresh' });
  t.ok(fresh.client, `a client trusting only the new CA connects after the reload: ${fresh.error ?? ''}`);
  t.teardown(() => fresh.client?.end(true));
  const stale = await tryConnect(url, { ca: caOf(a.ca), clientId: 'stale' });
  t.ok(stale.error, 'a client trusting only the first CA no longer connects');
  stale.client?.end(true);
  const got = new Promise<string>((resolve) => early.client!.once('message', (topic) => resolve(topic)));
  await fresh.client!.publishAsync('paths/x', 'hello', { qos: 1 });
  t.equal(await within(got, 10_000, 'the early client to receive'), 'paths/x', 'the session opened before the reload still receives');
  t.equal(earlyClosed, false, 'and stayed connected');
  t.not((await status()).broker.tls.certificateExpires, before.broker.tls.certificateExpires, 'the status shows the new certificate\'s end');

  // Restart-only: the port, and client certificates asked for (a ca where there was none); each
  // refuses the whole reload (the paths given with it are not applied either).
  setTls(agent, { cert: a.serverCert, key: a.serverKey, port: 1 });
  const r2 = await reloadAgent(agent, 'reload with a new mqtt.tls.port');
  t.equal(r2.msg, 'config reload refused; the running config is kept');
  t.same(r2['errors'], ['mqtt.tls.port: changed, and this setting is only applied at start (systemctl restart gridedge)']);
  setTls(agent, { cert: b.serverCert, key: b.serverKey, port: 0, ca: b.ca });
  const r3 = await reloadAgent(agent, 'reload asking for client certificates');
  t.equal(r3.msg, 'config reload refused; the running config is kept');
  t.same(r3['errors'], ['mqtt.tls.ca: changed, and this setting is only applied at start (systemctl restart gridedge)']);

  // A new path to a file that is not there.
  setTls(agent, { cert: `${b.serverCert}.missing`, key: b.serverKey, ca: '' });
  const r4 = await reloadAgent(agent, 'reload with a missing certificate file');
  t.equal(r4.msg, 'config reload refused; the running config is kept');
  t.match(JSON.stringify(r4['errors']), /mqtt\.tls\.cert/, 'naming the file');

  const after = await tryConnect(url, { ca: caOf(b.ca), clientId: 'after' });
  t.ok(after.client, `the certificate of the last applied reload is still in force: ${after.error ?? ''}`);
  after.client?.end(true);
});
