/**
 * `mqtt.tls.crl` on the real agent: a new CRL written under the same path and a reload (SIGHUP)
 * disconnects the connected client whose certificate it now revokes (counted, logged) and refuses
 * its new connections, without a restart; the other client stays. A CRL past its nextUpdate shows on
 * the status (a problem, `certificates[]`, `gridedge status`) and on /metrics, and locks no one out.
 * A CRL another CA issued refuses the reload, and the CRL in force stays.
 */
import t from 'tap';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentStatus } from '../../agent/core/status-types.js';
import { getJson, startAgent, type AgentProcess, reloadAgent } from '../helpers/agent-process.js';
import { within } from '../broker/raw-client.js';
import { tryConnect } from '../broker/tls-clients.js';
import { makeCerts, makeCrl } from '../helpers/certs.js';
import { runCli } from '../cli/run-cli.js';

const reload = (agent: AgentProcess, n: number): Promise<Record<string, unknown>> => reloadAgent(agent, `reload #${n}`);

const DAY = 86_400_000;

t.test('a reload reads the CRL again: the revoked client is disconnected and refused; an out-of-date CRL is a problem, not a lock-out', async (t) => {
  const pki = makeCerts('reload-crl');
  const live = mkdtempSync(join(tmpdir(), 'gridedge-live-crl-'));
  t.teardown(() => {
    pki.remove();
    rmSync(live, { recursive: true, force: true });
  });
  const crlFile = join(live, 'clients.crl');
  copyFileSync(makeCrl(pki, []), crlFile);
  const agent = await startAgent({
    config: { mqtt: { allowAnonymous: true, tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca, crl: crlFile, port: 0 } } },
  });
  t.teardown(() => agent.stop('SIGKILL'));
  const status = (): Promise<AgentStatus> => getJson<AgentStatus>(`${agent.httpUrl}/api/v1/status`);
  const before = await status();
  t.equal(before.broker.tls?.revokedCertificates, 0);
  t.equal(before.health, 'healthy', JSON.stringify(before.problems));
  const url = `mqtts://127.0.0.1:${before.broker.tls!.port}`;
  const ca = pki.read(pki.ca);
  const good = { ca, cert: pki.read(pki.clientCert), key: pki.read(pki.clientKey) };
  const doomed = { ca, cert: pki.read(pki.client2Cert), key: pki.read(pki.client2Key) };

  const keeps = await tryConnect(url, { ...good, clientId: 'keeps' });
  t.ok(keeps.client, `the first device connects: ${keeps.error ?? ''}`);
  t.teardown(() => keeps.client?.end(true));
  const goes = await tryConnect(url, { ...doomed, clientId: 'goes' });
  t.ok(goes.client, `the second device connects before its revocation: ${goes.error ?? ''}`);
  t.teardown(() => goes.client?.end(true));
  const closed = new Promise<void>((resolve) => goes.client!.once('close', () => resolve()));

  // The DSO's PKI revokes the second device; the new CRL is written in place and the agent reloaded.
  copyFileSync(makeCrl(pki, [pki.client2Cert]), crlFile);
  const r1 = await reload(agent, 1);
  t.equal(r1.msg, 'config reloaded', JSON.stringify(r1));
  await within(closed, 10_000, 'the revoked device to be disconnected');
  const line = agent.logs.find((l) => /^mqtt\.tls\.crl: new CRL in force/.test(String(l.msg)));
  t.match(line, { revoked: 1, disconnected: 1 }, 'the reload logs the new CRL and the disconnect');
  t.notOk(agent.logs.some((l) => /certificate renewed/.test(String(l.msg))), 'no certificate was renewed, and none is said to be');
  const after = await status();
  t.equal(after.broker.tls?.revokedCertificates, 1);
  t.equal((after.counters['broker_disconnects'] as Record<string, number>)['reason=certificate_revoked'], 1, 'counted');
  const again = await tryConnect(url, { ...doomed, clientId: 'goes-again' });
  t.ok(again.error, 'its new connection is refused');
  again.client?.end(true);
  t.ok(keeps.client!.connected, 'the other device stays connected');
  const fresh = await tryConnect(url, { ...good, clientId: 'fresh' });
  t.ok(fresh.client, `and connects again: ${fresh.error ?? ''}`);
  fresh.client?.end(true);
  const refusal = await agent.waitForLog((l) => l['reason'] === 'certificate_revoked', 'the refusal to be logged');
  t.match(String(refusal.msg), /refused \(certificate_revoked\) connection from 127\.0\.0\.1/, 'the log names the address');
  t.equal(((await status()).counters['broker_refused'] as Record<string, number>)['reason=certificate_revoked'], 1, 'counted');

  // The PKI's CRL is not renewed in time: its nextUpdate passes.
  const now = Date.now();
  copyFileSync(makeCrl(pki, [pki.client2Cert], { lastUpdate: new Date(now - 10 * DAY), nextUpdate: new Date(now - DAY) }), crlFile);
  const r2 = await reload(agent, 2);
  t.equal(r2.msg, 'config reloaded', 'an out-of-date CRL does not refuse the reload');
  const stale = await status();
  t.equal(stale.health, 'degraded');
  t.ok(stale.problems.some((p) => /^mqtt\.tls\.crl is out of date since /.test(p)), JSON.stringify(stale.problems));
  const entry = stale.certificates?.find((c) => c.option === 'mqtt.tls.crl');
  t.ok(entry && Date.parse(entry.expires) < now, `certificates[] lists the CRL with its nextUpdate: ${JSON.stringify(stale.certificates)}`);
  const metrics = await (await fetch(`${agent.httpUrl}/metrics`)).text();
  const m = /^gridedge_tls_certificate_expiry_seconds\{option="mqtt\.tls\.crl"\} (\S+)$/m.exec(metrics);
  t.ok(m, 'the /metrics gauge has the CRL');
  t.equal(Number(m?.[1]) * 1000, Date.parse(entry!.expires));
  const cli = await runCli(['status', '--url', agent.httpUrl]);
  t.match(cli.stdout, /CRL next update \d{4}-\d\d-\d\d \(1 revoked\)/, 'gridedge status shows it');
  const late = await tryConnect(url, { ...good, clientId: 'late' });
  t.ok(late.client, `a good device still connects with the out-of-date CRL: ${late.error ?? ''}`);
  late.client?.end(true);
  const lateDoomed = await tryConnect(url, { ...doomed, clientId: 'late-doomed' });
  t.ok(lateDoomed.error, 'the revoked one is still refused');
  lateDoomed.client?.end(true);

  // A CRL of another CA: the reload is refused, the CRL in force stays.
  copyFileSync(makeCrl(pki, [], { signer: 'rogue-ca' }), crlFile);
  const r3 = await reload(agent, 3);
  t.equal(r3.msg, 'config reload refused; the running config is kept');
  t.match(JSON.stringify(r3['errors']), /mqtt\.tls\.crl: CRL 1 of the file was issued by \\"CN=rogue CA\\", which is no CA of mqtt\.tls\.ca/);
  t.equal((await status()).broker.tls?.revokedCertificates, 1, 'the CRL in force is kept');
});
