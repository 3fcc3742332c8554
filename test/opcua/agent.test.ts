/**
 * End to end through the real agent process: an opcua driver monitors a node-opcua server's
 * voltage, current, state of charge and breaker; bal/raw/<id> carries the values and
 * bal/processed/<id> the power the processor derives from them; a node whose StatusCode turns Bad
 * makes that field invalid with the reason `opcua:BadCommunicationError` downstream (and the power
 * derived from it), then recovers; the status document shows the driver's health; the agent's
 * stdout stays JSON lines only (node-opcua's own output goes through the logger).
 */
import t from 'tap';
import mqtt from 'mqtt';
import { getJson, startAgent } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/wait.js';
import { startOpcuaServer } from './server.js';

type Json = Record<string, unknown> & {
  v?: Record<string, { mag: number }>;
  i?: Record<string, { mag: number }>;
  s?: Record<string, number>;
  field_quality?: Record<string, string>;
  reasons?: string[];
};

t.test('an OPC UA server, through the agent to bal/raw and bal/processed', async (t) => {
  const srv = await startOpcuaServer({
    vars: { Va: { type: 'Double', value: 230 }, Ia: { type: 'Double', value: 10 }, soc: { type: 'Double', value: 53.2 }, breaker: { type: 'Boolean', value: true } },
  });
  t.teardown(() => srv.stop());
  const agent = await startAgent({
    config: {
      drivers: [
        {
          type: 'opcua',
          id: 'rtu1',
          endpoint: srv.url,
          security: { mode: 'None' },
          nodes: [
            { nodeId: 'ns=1;s=Va', field: 'v.a.mag', samplingInterval: 100 },
            { nodeId: 'ns=1;s=Ia', field: 'i.a.mag', samplingInterval: 100 },
            { nodeId: 'ns=1;s=soc', field: 'soc', samplingInterval: 100 },
            { nodeId: 'ns=1;s=breaker', field: 'breaker.q1', samplingInterval: 100 },
          ],
        },
      ],
    },
  });
  t.teardown(() => agent.stop('SIGKILL'));
  const sub = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'opcua-e2e' });
  t.teardown(() => sub.end(true));
  const raw: Json[] = [];
  const processed: Json[] = [];
  sub.on('message', (topic, payload) => (topic === 'bal/raw/rtu1' ? raw : processed).push(JSON.parse(payload.toString()) as Json));
  await sub.subscribeAsync(['bal/raw/rtu1', 'bal/processed/rtu1']);
  // Values are published on change only: the first waits look at everything received so far.
  const next = (list: Json[], what: string, pred: (m: Json) => boolean, from = list.length) => {
    return waitFor(what, () => list.slice(from).find(pred), { timeoutMs: 20_000, detail: () => JSON.stringify(list.at(-1)) });
  };

  const r = await next(raw, 'a raw measurement with every node', (m) => m['soc'] !== undefined && m.v !== undefined && m.i !== undefined, 0);
  t.equal(r['quality'], 'good');
  t.same(r.v, { a: { mag: 230 } });
  t.same(r['breaker'], { q1: true });
  const p = await next(processed, 'a processed measurement', (m) => m.s !== undefined, 0);
  t.equal(p['soc'], 53.2, 'values beyond phasors kept');
  t.equal(p.s?.['a'], 2300, '|S| of phase a from v.a and i.a');

  srv.set('Va', 0, 'BadCommunicationError');
  const bad = await next(processed, 'v.a.mag invalid downstream', (m) => m.field_quality?.['v.a.mag'] === 'invalid');
  t.equal(bad['quality'], 'invalid');
  t.ok(bad.reasons?.includes('opcua:BadCommunicationError'), 'the OPC UA status is the reason');
  t.equal(bad['soc'], 53.2, 'the good fields are kept');
  t.equal(bad.field_quality?.['soc'], undefined, 'and stay good');
  t.equal(bad.field_quality?.['s.a'], 'invalid', 'what is derived from it is invalid too');

  srv.set('Va', 231);
  const ok = await next(processed, 'v.a.mag good again', (m) => m.v?.['a']?.mag === 231 && m['quality'] === 'good');
  t.equal(ok.field_quality, undefined);

  const status = await getJson<{ plugins?: Record<string, unknown> }>(`${agent.httpUrl}/api/v1/status`);
  const text = JSON.stringify(status);
  t.match(text, /"opcua"/, 'the status document lists the opcua driver');
  t.match(text, /"connected":true/, 'connected');
  const nonJson = agent.stderr().split('\n').filter((l) => l.includes('NODE-OPCUA'));
  t.same(nonJson, [], 'node-opcua writes nothing of its own to stderr');
  t.same(agent.logs.filter((l) => l.level === 'raw').map((l) => l.msg), [], 'stdout is JSON log lines only');
  const { code } = await agent.stop('SIGTERM');
  t.equal(code, 0, 'SIGTERM stops the agent cleanly with the driver connected');
});
