/**
 * SIGHUP config reload against the real agent process, while a real MQTT client publishes QoS 1
 * measurements and forwarders deliver to a real mosquitto:
 * - a valid new config: the unchanged driver and forwarder keep running (the forwarder keeps its
 *   one upstream connection), the changed ones restart, a new driver starts, a removed one stops;
 * - an invalid config, and a change of a section only applied at start: refused whole, every
 *   problem logged with its path, the running config kept;
 * - through all of it, every publish the broker acknowledged reaches upstream through both the
 *   kept and the restarted forwarder (nothing lost).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import t from 'tap';
import { startAgent, type LogLine } from '../helpers/agent-process.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';

t.test('SIGHUP reload: valid applied per plugin, invalid refused whole, nothing acknowledged lost', async (t) => {
  const upstream = await startMosquitto();
  t.teardown(() => upstream.stop());
  const fwd = (id: string, keepalive: number) => ({ type: 'mqtt', id, url: upstream.url, keepalive, map: [{ from: 'bal/processed/#', to: `up/${id}/#` }] });
  const base = {
    gateway: { id: 'gw-test' },
    log: { level: 'info' },
    mqtt: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    drivers: [
      { type: 'sim-pmu', id: 'keep', rate: 20 },
      { type: 'sim-pmu', id: 'change', rate: 10 },
      { type: 'sim-pmu', id: 'gone', rate: 10 },
    ],
    forwarders: [fwd('fkeep', 30), fwd('fchange', 30)],
  };
  // Upstream, every processed client1 measurement each forwarder delivers (by its `n`).
  const delivered: Record<string, number[]> = { fkeep: [], fchange: [] };
  const sink = await mqtt.connectAsync(upstream.url, { clientId: 'reload-sink', reconnectPeriod: 0 });
  t.teardown(() => sink.endAsync(true));
  sink.on('message', (topic, payload) => {
    const id = topic.split('/')[1]!;
    delivered[id]?.push((JSON.parse(payload.toString()) as { n: number }).n);
  });
  await sink.subscribeAsync('up/+/client1', { qos: 1 });
  const agent = await startAgent({ config: base });
  t.teardown(() => agent.stop('SIGKILL'));
  const write = (doc: unknown) => writeFileSync(agent.configFile, typeof doc === 'string' ? doc : JSON.stringify({ ...(doc as object), storage: { dir: join(agent.dir, 'data') } }, null, 2));
  const connects = (id: string) => upstream.log().split('\n').filter((l) => l.includes(`New client connected`) && l.includes(` as gridedge-gw-test-${id} `)).length;
  await waitFor('both forwarders connected upstream', () => connects('fkeep') === 1 && connects('fchange') === 1, { intervalMs: 20 });

  // A client publishing QoS 1 measurements, one after another, for the whole test.
  const client = await mqtt.connectAsync(agent.mqttUrl, { clientId: 'reload-publisher', reconnectPeriod: 0 });
  t.teardown(() => client.endAsync(true));
  let acked = 0;
  let publishing = true;
  const publisher = (async () => {
    while (publishing) {
      const m = { device: 'client1', ts: Date.now() * 1000, quality: 'good', v: { a: { mag: 230, ang: 0 } }, i: { a: { mag: 5, ang: -10 } }, n: acked };
      await client.publishAsync('bal/raw/client1', JSON.stringify(m), { qos: 1 });
      acked++;
    }
  })();
  const reloads = (msg: string) => agent.logs.filter((l) => l.msg === msg);
  const sighup = async (msg: string, n: number): Promise<LogLine> => {
    const have = reloads(msg).length;
    agent.child.kill('SIGHUP');
    await waitFor(`"${msg}" #${n}`, () => reloads(msg).length > have, { intervalMs: 10 });
    return reloads(msg).at(-1)!;
  };
  await waitFor('100 acknowledged publishes before the first reload', () => acked >= 100, { intervalMs: 10 });

  // 1. A valid config: keep unchanged, restart changed, add new, remove gone.
  write({ ...base, drivers: [base.drivers[0], { type: 'sim-pmu', id: 'change', rate: 25 }, { type: 'sim-pmu', id: 'added', rate: 10 }], forwarders: [fwd('fkeep', 30), fwd('fchange', 45)] });
  const applied = await sighup('config reloaded', 1);
  t.same(applied['kept'], ['driver keep', 'forwarder fkeep']);
  t.same(applied['restarted'], ['driver change', 'forwarder fchange']);
  t.same(applied['added'], ['driver added']);
  t.same(applied['removed'], ['driver gone']);
  await waitFor('the changed forwarder reconnected', () => connects('fchange') === 2, { intervalMs: 20 });
  t.equal(connects('fkeep'), 1, 'the unchanged forwarder kept its one upstream connection');
  const status = async () => (await (await fetch(`${agent.httpUrl}/api/v1/status`)).json()) as { drivers: { id: string; state: string }[]; counters: Record<string, number | Record<string, number>> };
  const running = await waitFor('the new driver set running', async () => {
    const s = await status();
    const ids = s.drivers.map((d) => `${d.id}:${d.state}`).sort();
    return ids.join(',') === 'added:running,change:running,keep:running' && ids;
  }, { intervalMs: 50 });
  t.ok(running, 'drivers after the reload: keep, change, added (gone stopped)');

  // 2. An invalid config: refused whole, every problem with its path; nothing changes.
  write({ ...base, drivers: [{ type: 'sim-pmu', id: 'keep', rate: 'fast' }, { type: 'nosuch', id: 'x' }] });
  const refused = await sighup('config reload refused; the running config is kept', 1);
  const errors = refused['errors'] as string[];
  t.ok(errors.some((e) => /^drivers\[0\]\.rate: /.test(e)), `names drivers[0].rate: ${errors.join(' | ')}`);
  t.ok(errors.some((e) => /^drivers\[1\]\.type: /.test(e)), 'names drivers[1].type');

  // 3. A key bound to sockets (mqtt.port) changed: refused, naming the key.
  write({ ...base, mqtt: { host: '127.0.0.1', port: 1 } });
  const fixed = await sighup('config reload refused; the running config is kept', 2);
  t.same(fixed['errors'], ['mqtt.port: changed, and this setting is only applied at start (systemctl restart gridedge)']);
  const after = await status();
  t.same(after.drivers.map((d) => d.id).sort(), ['added', 'change', 'keep'], 'the running drivers are those of the last applied config');
  t.same(after.counters['config_reloads'], { 'result=applied': 1, 'result=refused': 2 }, 'reloads counted by result');
  t.equal(connects('fkeep'), 1, 'refused reloads touch no forwarder');

  // Publishing went on through all three; stop, then count what the buffer holds.
  const target = acked + 100;
  await waitFor('100 more acknowledged publishes after the reloads', () => acked >= target, { intervalMs: 10 });
  publishing = false;
  await publisher;
  // Every acknowledged publish reaches upstream through both forwarders: the one that kept running
  // and the one restarted by the reload (it resumed from its buffer cursor; a resend is allowed,
  // receivers drop duplicates by seq).
  const all = [...Array(acked).keys()];
  const missing = (id: string) => {
    const got = new Set(delivered[id]);
    return all.filter((n) => !got.has(n));
  };
  await waitFor('every acknowledged publish delivered upstream by fkeep and fchange', () => missing('fkeep').length === 0 && missing('fchange').length === 0, {
    on: [[sink, 'message']],
    detail: () => `fkeep misses ${missing('fkeep').length}, fchange misses ${missing('fchange').length}`,
  });
  t.same(delivered['fkeep'], all, `fkeep: all ${acked} acknowledged publishes, in order, once`);
  t.same(missing('fchange'), [], `fchange: none of the ${acked} missing across its restart`);
  const exit = await agent.stop('SIGTERM');
  t.equal(exit.code, 0, 'clean exit');
});
