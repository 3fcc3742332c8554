/**
 * lastError after recovery: kept, as the drivers keep theirs, with lastErrorAt, so a technician sees
 * an old "connection refused" as old (before lastSuccess, while connected), not as the current state.
 */
import t from 'tap';
import { renderStatus } from '../../agent/cli/status-text.js';
import { healthyStatus } from '../cli/status-fixture.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { claimPort } from '../helpers/ports.js';
import { collect, openTestBuffer, processedPayload, until } from './harness.js';
import { mqttConfig, startMqttRunner } from './mqtt-runner.js';

t.test('after the upstream comes back: lastError kept with lastErrorAt, before lastSuccess', async (t) => {
  const tb = openTestBuffer();
  t.teardown(() => tb.close());
  const port = await claimPort();
  const runner = startMqttRunner(tb.buffer, tb.counters, mqttConfig({ url: `mqtt://127.0.0.1:${port}` }));
  t.teardown(() => runner.stop());
  await until(() => /connection refused/.test(runner.status().lastError ?? ''), 'a connection refused');
  const down = runner.status();
  t.type(down.lastErrorAt, 'number', 'lastErrorAt set with lastError');

  const m = await startMosquitto({ port });
  t.teardown(() => m.stop());
  const sub = await collect(m.url, '#');
  t.teardown(() => sub.close());
  const [seq] = await tb.buffer.append([{ topic: 'bal/processed/pmu1', payload: processedPayload('pmu1', 0) }]);
  await until(() => runner.cursor === seq, 'the row delivered');
  const up = runner.status();
  t.equal(up.connected, true);
  t.match(up.lastError, /connection refused/, 'the last problem is kept');
  t.ok(up.lastErrorAt! <= up.lastSuccess!, 'and dated before the last success: it is history, not the current state');

  const s = healthyStatus();
  s.forwarders = [up];
  t.match(renderStatus(s), /central +mqtt +connected .*last error [^,:]+ ago: .*connection refused/, 'gridedge status shows its age');
});
