/**
 * lastError after recovery: kept, as the drivers keep theirs, with lastErrorAt, so a technician sees
 * an old "connection refused" as old (before lastSuccess, while connected), not as the current state.
 */
import t from 'tap';
import { mqttForwarder, type MqttForwarderConfig } from '../../agent/forwarders/mqtt/index.js';
import { ForwarderRunner } from '../../agent/forwarders/runner.js';
import { renderStatus } from '../../agent/cli/status-text.js';
import { healthyStatus } from '../cli/status-fixture.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { claimPort } from '../helpers/ports.js';
import { collect, makeCtx, openTestBuffer, processedPayload, TEST_RUNNER, until } from './harness.js';
import { withDefaults } from '../helpers/plugin-config.js';

t.test('after the upstream comes back: lastError kept with lastErrorAt, before lastSuccess', async (t) => {
  const tb = openTestBuffer();
  t.teardown(() => tb.close());
  const port = await claimPort();
  const cfg = withDefaults<MqttForwarderConfig>(mqttForwarder, { id: 'central', type: 'mqtt', url: `mqtt://127.0.0.1:${port}`, ...TEST_RUNNER });
  const runner = new ForwarderRunner({ id: 'central', type: 'mqtt', forwarder: mqttForwarder.create(cfg), buffer: tb.buffer, config: { ...cfg } });
  runner.start(makeCtx('central', tb.counters).ctx);
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
