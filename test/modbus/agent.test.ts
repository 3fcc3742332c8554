/**
 * End to end through the real agent process: a modbus driver configured with the Eastron SDM630
 * preset and a second polling group reads modbus-serial's TCP server; the processed measurements on
 * bal/processed/<id> carry the decoded values and the power the processor derives; an exception on
 * one register of the second group makes that field invalid (field_quality, reasons) while the meter
 * group keeps flowing good; the status document shows the driver's health. A meter that goes away
 * publishes nothing, is named stale in the retained status's problems, and recovers when it is back.
 * A fast group refused on every poll while the slow one reads: the problems name the group.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { getJson, startAgent } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/wait.js';
import { Registers, startTcpServer } from './server.js';

type Json = Record<string, unknown> & { v?: Record<string, { mag: number }>; p?: Record<string, number>; s?: Record<string, number>; field_quality?: Record<string, string> };

t.test('an SDM630 over Modbus TCP, through the agent to bal/processed', async (t) => {
  const regs = new Registers();
  regs.setWords(1, 'input', 0, new Array<number>(80).fill(0)); // the meter maps every register of its table
  const sdm: [number, number][] = [
    [0, 230.5], [2, 231.25], [4, 229.75], [6, 10.5], [8, 11], [10, 12.25],
    [12, 2000], [14, 2100], [16, 2200], [24, 300], [26, 310], [28, 320],
    [52, 6300], [60, 930], [70, 50], [72, 1234.5], [74, 0.5], [342, 1235],
  ];
  for (const [a, v] of sdm) regs.set(1, 'input', a, v, 'f32', 'ABCD');
  regs.setBit(1, 'coil', 0, true);
  regs.set(1, 'holding', 10, 5);
  const server = await startTcpServer(regs);
  t.teardown(() => server.close());

  const agent = await startAgent({
    config: {
      drivers: [
        {
          type: 'modbus',
          id: 'sdm',
          tcp: `127.0.0.1:${server.port}`,
          unit: 1,
          interval: 200,
          preset: 'eastron-sdm630',
          groups: [
            {
              name: 'status',
              interval: 100,
              registers: [
                { field: 'breaker.q1', function: 'coil', address: 0 },
                { field: 'tap', function: 'holding', address: 10 },
              ],
            },
          ],
        },
      ],
    },
  });
  t.teardown(() => agent.stop('SIGKILL'));
  const sub = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'modbus-e2e' });
  t.teardown(() => sub.end(true));
  const got: Json[] = [];
  sub.on('message', (_topic, payload) => got.push(JSON.parse(payload.toString()) as Json));
  await sub.subscribeAsync('bal/processed/sdm');
  const next = (what: string, pred: (m: Json) => boolean, from = 0) => waitFor(what, () => got.slice(from).find(pred), { timeoutMs: 15_000 });

  const meter = await next('a processed SDM630 measurement', (m) => m.v !== undefined);
  t.equal(meter['device'], 'sdm');
  t.equal(meter['quality'], 'good');
  t.same(meter.v, { a: { mag: 230.5 }, b: { mag: 231.25 }, c: { mag: 229.75 } });
  t.equal(meter.p?.['a'], 2000);
  t.equal(meter.p?.['total'], 6300, 'measured total kept as measured');
  t.equal(meter['freq'], 50);
  t.equal(meter['energy_wh'], 1_235_000, 'kWh x 1000');
  t.equal(meter['energy_import_wh'], 1_234_500);
  t.equal(meter.s?.['a'], Math.hypot(2000, 300), 's.a derived by the processor from the measured p.a and q.a');

  const status = await next('a processed status-group measurement', (m) => m['tap'] !== undefined);
  t.same(status['breaker'], { q1: true });
  t.equal(status['tap'], 5);

  regs.fault(1, 'holding', 10, { kind: 'exception', code: 2 });
  const mark = got.length;
  const bad = await next('tap invalid after exception 2', (m) => m.field_quality?.['tap'] === 'invalid', mark);
  t.equal(bad['quality'], 'invalid');
  t.ok((bad['reasons'] as string[]).includes('modbus:exception:2'), 'the reason names the exception');
  t.equal(bad.field_quality?.['breaker.q1'], undefined, 'the coil in another request of the group is still good');
  const still = await next('the meter group still good meanwhile', (m) => m.v !== undefined && m['quality'] === 'good', mark);
  t.equal(still.v?.['a']?.mag, 230.5);

  const st = await getJson<{ plugins: { drivers: { id: string; type: string; state: string; info?: Record<string, unknown> }[] } }>(`${agent.httpUrl}/api/v1/status`);
  const h = st.plugins.drivers.find((d) => d.id === 'sdm');
  t.equal(h?.type, 'modbus');
  t.equal(h?.info?.['connected'], true);
  t.ok((h?.info?.['polls'] as number) > 0, 'polls in the status');
  t.ok((h?.info?.['errors'] as number) > 0, 'errors in the status');
});

t.test('a meter that goes away: nothing published, stale in the status problems, recovers when it answers again', async (t) => {
  const regs = new Registers();
  regs.set(1, 'holding', 0, 7);
  let server = await startTcpServer(regs);
  const port = server.port;
  t.teardown(() => server.close());
  const agent = await startAgent({
    config: {
      status: { intervalS: 0.2 },
      drivers: [{ type: 'modbus', id: 'gone', tcp: `127.0.0.1:${port}`, unit: 1, interval: 100, timeout: 200, reconnectMinMs: 100, reconnectMaxMs: 200, registers: [{ field: 'tap', address: 0 }] }],
    },
  });
  t.teardown(() => agent.stop('SIGKILL'));
  const sub = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'modbus-stale' });
  t.teardown(() => sub.end(true));
  const raw: Json[] = [];
  type Status = { problems: string[]; devices: { device: string; stale?: boolean }[] };
  let status: Status | undefined;
  sub.on('message', (topic, payload) => {
    const doc = JSON.parse(payload.toString()) as Json;
    if (topic === 'bal/raw/gone') raw.push(doc);
    else status = doc as unknown as Status;
  });
  await sub.subscribeAsync(['bal/raw/gone', 'gridedge/gw-test/status']);
  // Wait on the published status documents (every 200 ms) and raw measurements as they arrive.
  const onMessage: [typeof sub, string][] = [[sub, 'message']];
  const isStale = (s: Status | undefined) => s?.problems.some((p) => /^device gone \(driver gone\) is stale: no value for/.test(p)) ?? false;

  await waitFor('a first good value', () => raw.find((m) => m['tap'] === 7 && m['quality'] === 'good'), { on: onMessage, timeoutMs: 15_000 });
  await waitFor('a status with the device fresh', () => status?.devices.some((d) => d.device === 'gone' && !d.stale) && !isStale(status), { on: onMessage, timeoutMs: 15_000 });

  await server.close();
  const mark = raw.length;
  const stale = await waitFor('the status to name the device stale', () => (isStale(status) ? status : undefined), {
    on: onMessage,
    timeoutMs: 15_000,
    detail: () => `last status problems: ${JSON.stringify(status?.problems)}; raw since the close: ${raw.length - mark}`,
  });
  t.ok(stale.problems.some((p) => /^driver gone is degraded: /.test(p)), 'the driver is degraded too, with its error');
  t.match(stale.devices.find((d) => d.device === 'gone'), { stale: true });
  t.same(
    raw.slice(mark).filter((m) => m['quality'] !== 'good'),
    [],
    'no measurement repeating the last value under a new time stamp while the meter is gone',
  );

  regs.set(1, 'holding', 0, 8);
  server = await startTcpServer(regs, port);
  await waitFor('the new value once the meter answers', () => raw.slice(mark).find((m) => m['tap'] === 8 && m['quality'] === 'good'), { on: onMessage, timeoutMs: 15_000 });
  const back = await waitFor('a status without the stale device', () => (!isStale(status) && status?.devices.some((d) => d.device === 'gone' && !d.stale) ? status : undefined), {
    on: onMessage,
    timeoutMs: 15_000,
  });
  t.notOk(back.problems.some((p) => /gone/.test(p)), `no problem names the meter any more: ${JSON.stringify(back.problems)}`);
});

t.test('a fast group refused every poll while the slow group reads: the status problems name the group, the device is fresh', async (t) => {
  const regs = new Registers();
  regs.set(1, 'holding', 0, 7); // the slow (default) group
  regs.set(1, 'input', 20, 230); // the fast group, refused
  regs.fault(1, 'input', 20, { kind: 'exception', code: 4 });
  const server = await startTcpServer(regs);
  t.teardown(() => server.close());
  const agent = await startAgent({
    config: {
      status: { intervalS: 0.2 },
      drivers: [
        {
          type: 'modbus',
          id: 'half',
          tcp: `127.0.0.1:${server.port}`,
          unit: 1,
          interval: 1000,
          timeout: 500,
          registers: [{ field: 'tap', address: 0 }],
          groups: [{ name: 'fast', interval: 100, registers: [{ field: 'v.a.mag', function: 'input', address: 20 }] }],
        },
      ],
    },
  });
  t.teardown(() => agent.stop('SIGKILL'));
  const sub = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'modbus-half' });
  t.teardown(() => sub.end(true));
  type Status = { problems: string[] };
  let status: Status | undefined;
  sub.on('message', (_topic, payload) => void (status = JSON.parse(payload.toString()) as Status));
  await sub.subscribeAsync('gridedge/gw-test/status');
  const named = (s: Status | undefined) => s?.problems.find((p) => /^driver half is degraded: group fast \(every 100 ms\) reads nothing: .*exception 4/.test(p));
  await waitFor('a status naming the failing group', () => (named(status) ? status : undefined), {
    on: [[sub, 'message']],
    timeoutMs: 15_000,
    detail: () => `last status problems: ${JSON.stringify(status?.problems)}`,
  });
  type Full = { plugins: { drivers: { id: string; driverHealth?: { devices: { device: string; expectedIntervalMs?: number; staleAfterMs?: number }[] } }[] } };
  const full = await getJson<Full>(`${agent.httpUrl}/api/v1/status`);
  const device = full.plugins.drivers.find((d) => d.id === 'half')?.driverHealth?.devices.find((d) => d.device === 'half');
  t.equal(device?.expectedIntervalMs, 1000, 'the device is expected as often as the group that reads');
  t.equal(device?.staleAfterMs, 3000);
});
