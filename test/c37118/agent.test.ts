/**
 * The c37118 driver inside the real agent process: a test PMU server with two PMUs (one with its
 * clock unsynchronised) feeds `gridedge run`; a real MQTT client receives the processed messages on
 * bal/processed/<device> (powers added by the pipeline, quality and reasons kept), and the status
 * document lists the driver's devices and per-PMU numbers.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { startAgent } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/wait.js';
import { PmuServer, threePhase } from './pmu-server.js';

t.test('PMU frames reach bal/processed through the agent', async (t) => {
  const srv = await new PmuServer({ idcode: 7734, dataRate: 25, blocks: [threePhase(101, 15), threePhase(102, 0, { stat: 0x2000 })] }).start();
  t.teardown(() => srv.close());
  const agent = await startAgent({ config: { drivers: [{ type: 'c37118', id: 'pdc', host: '127.0.0.1', port: srv.port, idcode: 7734, alignMs: 100 }] } });
  t.teardown(() => agent.stop());
  const sub = await mqtt.connectAsync(agent.mqttUrl, { clientId: 't-c37118', reconnectPeriod: 0 });
  t.teardown(() => sub.endAsync());
  const got = new Map<string, Record<string, unknown>>();
  sub.on('message', (topic, p) => got.set(topic, JSON.parse(p.toString()) as Record<string, unknown>));
  await sub.subscribeAsync('bal/processed/+', { qos: 0 });
  await waitFor('processed messages of both PMUs', () => (got.has('bal/processed/pdc-101') && got.has('bal/processed/pdc-102') ? true : undefined), { timeoutMs: 15_000 });
  const a = got.get('bal/processed/pdc-101')!;
  t.equal(a.quality, 'good');
  t.equal(a.device, 'pdc-101');
  t.ok(typeof (a.p as Record<string, number>)?.total === 'number', 'the pipeline added powers');
  t.same(a.digital, { BRK_Q1: true, ALARM: false }, 'values kept through the pipeline');
  const b = got.get('bal/processed/pdc-102')!;
  t.equal(b.quality, 'questionable', 'the unsynchronised PMU is questionable');
  t.ok((b.reasons as string[]).includes('clock_unsync'));
  const status = (await (await fetch(`${agent.httpUrl}/api/v1/status`)).json()) as Record<string, unknown>;
  const text = JSON.stringify(status);
  t.match(text, /"pdc-101"/, 'the status lists the devices');
  t.match(text, /"pdc-102\.latencyP50Ms"/, 'and per-PMU numbers');
  const rejected = agent.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('c37118 frame refused'));
  t.same(rejected, [], 'no frame refused');
});
