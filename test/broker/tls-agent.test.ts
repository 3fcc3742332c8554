/**
 * MQTT over TLS on the real agent, as a technician meets it: `gridedge status` names the listener and
 * warns of a certificate that ends soon (a server certificate of 2 days, inside the 14-day warning), and `gridedge tail` reads processed data over mqtts:// with `--ca`, or says to pass it.
 * An agent whose TLS key does not match its certificate does not start, naming the option.
 */
import t from 'tap';
import { makeCerts } from '../helpers/certs.js';
import { getJson, startAgent } from '../helpers/agent-process.js';
import { runCli } from '../cli/run-cli.js';

const certs = makeCerts(undefined, { serverDays: 2 });
t.teardown(() => certs.remove());

interface Status {
  health: string;
  problems: string[];
  broker: { tls?: { host: string; port: number; clientCertificates: boolean; certificateExpires: string } };
}

t.test('status and tail over TLS', async (t) => {
  const agent = await startAgent({
    config: {
      mqtt: { tls: { cert: certs.serverCert, key: certs.serverKey, port: 0 } },
      drivers: [{ type: 'sim-pmu', id: 'pmu1', rate: 10 }],
    },
  });
  t.teardown(() => agent.stop());
  const st = (await getJson(`${agent.httpUrl}/api/v1/status`)) as Status;
  t.ok(st.broker.tls, 'the status document has the TLS listener');
  const tlsPort = st.broker.tls!.port;
  t.ok(tlsPort > 0 && tlsPort !== agent.mqttPort, 'on its own port');
  t.equal(st.health, 'degraded', 'a certificate ending within 14 days degrades the health');
  t.ok(
    st.problems.some((p) => p === `mqtt.tls.cert expires in 1 day(s), on ${st.broker.tls!.certificateExpires}`),
    `the problem names the option and the date: ${st.problems.join(' | ')}`,
  );
  const metrics = await (await fetch(`${agent.httpUrl}/metrics`)).text();
  t.match(
    metrics,
    `gridedge_tls_certificate_expiry_seconds{option="mqtt.tls"} ${Date.parse(st.broker.tls!.certificateExpires) / 1000}`,
    'the end date as a gauge on /metrics',
  );
  const page = await (await fetch(`${agent.httpUrl}/`)).text();
  t.match(page, `TLS 127.0.0.1:${tlsPort}, certificate until ${st.broker.tls!.certificateExpires.slice(0, 10)}`, 'the page (as served, before any script) shows the TLS listener');
  const ready = agent.logs.find((l) => l.msg?.startsWith('mqtt: broker listening'));
  t.match(ready?.msg, `TLS on 127.0.0.1:${tlsPort}`, 'the start log names the TLS listener');

  const text = await runCli(['status', '--url', agent.httpUrl]);
  t.match(text.stdout, new RegExp(`TLS {7}127\\.0\\.0\\.1:${tlsPort}, certificate valid until ${st.broker.tls!.certificateExpires.slice(0, 10)}`), text.stdout);
  t.match(text.stdout, /mqtt\.tls\.cert expires in 1 day\(s\)/);

  const url = `mqtts://127.0.0.1:${tlsPort}`;
  const tail = await runCli(['tail', 'bal/processed/pmu1', '--url', url, '--ca', certs.ca, '--count', '1', '--json', '--timeout', '20']);
  t.equal(tail.code, 0, tail.stderr);
  const line = JSON.parse(tail.stdout) as { topic: string; payload: { device: string; p?: { total?: number } } };
  t.equal(line.topic, 'bal/processed/pmu1');
  t.equal(line.payload.device, 'pmu1');
  t.type(line.payload.p?.total, 'number', 'a processed measurement, over TLS');

  const untrusted = await runCli(['tail', 'bal/processed/pmu1', '--url', url, '--count', '1', '--timeout', '20']);
  t.equal(untrusted.code, 2, 'the broker cannot be trusted: exit 2');
  t.match(untrusted.stderr, /pass the CA or the broker's own certificate with --ca FILE/, untrusted.stderr);

  const badFlag = await runCli(['tail', 'bal/processed/pmu1', '--url', url, '--cert', certs.clientCert]);
  t.equal(badFlag.code, 1);
  t.match(badFlag.stderr, /--cert: needs --key/);
});

t.test('a key that does not match the certificate: the agent does not start, naming the option', async (t) => {
  const agent = await startAgent({ config: { mqtt: { tls: { cert: certs.serverCert, key: certs.clientKey, port: 0 } } }, noWait: true });
  const end = await agent.exited;
  t.not(end.code, 0, 'it exits with a failure');
  t.match(agent.stderr() + JSON.stringify(agent.logs), /mqtt\.tls\.key: does not belong to the certificate mqtt\.tls\.cert/);
});
