/**
 * A running agent never shows the password of a configured URL: an mqtt-source driver and an MQTT
 * forwarder whose upstream refuses connections, with passwords in their URLs (one holding `@`).
 * The status API, the status page, `gridedge status` (text and --json) and the log show the URLs
 * with the user name and `***`, and the passwords nowhere.
 */
import t from 'tap';
import { getJson, startAgent } from '../helpers/agent-process.js';
import { refusedPort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { runCli } from '../cli/run-cli.js';
import type { AgentStatus } from '../../agent/core/status-types.js';

t.test('URL passwords are masked in the status, the page, the CLI and the log', async (t) => {
  const srcPort = await refusedPort();
  const fwPort = await refusedPort();
  const agent = await startAgent({
    config: {
      drivers: [
        {
          type: 'mqtt-source',
          id: 'src1',
          url: `mqtt://srcuser:SrcUrlPw@127.0.0.1:${srcPort}`,
          topics: [{ filter: 'meters/+/data', device: '+' }],
          reconnectMinMs: 50,
          reconnectMaxMs: 200,
        },
      ],
      forwarders: [{ type: 'mqtt', id: 'central', url: `mqtt://fwuser:Fw@Plain@127.0.0.1:${fwPort}`, reconnectMinMs: 50, reconnectMaxMs: 200 }],
    },
  });
  t.teardown(() => agent.stop('SIGKILL'));
  const secrets = ['SrcUrlPw', 'Fw@Plain', 'Plain@'];
  const noSecret = (what: string, text: string): void => {
    for (const s of secrets) t.notOk(text.includes(s), `${what}: ${s} is not shown`);
  };
  const srcShown = `mqtt://srcuser:***@127.0.0.1:${srcPort}`;
  const fwShown = `mqtt://fwuser:***@127.0.0.1:${fwPort}`;

  const status = await waitFor(
    'both connections to have failed (lastError of src1 and central)',
    async () => {
      const s = await getJson<AgentStatus>(`${agent.httpUrl}/api/v1/status`);
      return s.drivers.find((d) => d.id === 'src1')?.lastError && s.forwarders.find((f) => f.id === 'central')?.lastError ? s : undefined;
    },
    { intervalMs: 50 },
  );
  await agent.waitForLog((l) => l.msg === 'mqtt-source: connection problem', 'the mqtt-source connection problem log line');
  await agent.waitForLog((l) => /^forwarder central: /.test(String(l.msg)), 'the forwarder failure log line');

  noSecret('GET /api/v1/status', JSON.stringify(status));
  t.equal(status.drivers.find((d) => d.id === 'src1')?.info?.['url'], srcShown, 'the driver info shows the URL with the user name');
  t.match(status.forwarders.find((f) => f.id === 'central')?.lastError, `${fwShown}: connection refused`);
  t.ok(
    status.problems.some((p) => p.includes(`forwarder central is not connected: ${fwShown}`)),
    'the problems name the forwarder URL, masked',
  );

  const page = await (await fetch(`${agent.httpUrl}/`)).text();
  t.ok(page.includes(fwShown), 'the status page shows the forwarder URL, masked');
  noSecret('the status page', page);

  const text = await runCli(['status', '--url', agent.httpUrl]);
  t.equal(text.code, 1, text.stderr);
  t.ok(text.stdout.includes(fwShown), 'gridedge status shows the forwarder URL, masked');
  noSecret('gridedge status', text.stdout);
  const json = await runCli(['status', '--url', agent.httpUrl, '--json']);
  t.equal(json.code, 1, json.stderr);
  noSecret('gridedge status --json', json.stdout);

  const src = agent.logs.find((l) => l.msg === 'mqtt-source: connection problem');
  t.equal(src?.['url'], srcShown, 'the mqtt-source log line names the URL, masked');
  noSecret('the log', JSON.stringify(agent.logs) + agent.stderr());
});
