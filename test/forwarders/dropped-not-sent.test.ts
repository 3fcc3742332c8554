/**
 * A row the buffer counts as dropped (pruned by maxAgeHours or maxBytes before this forwarder
 * delivered it) is not sent afterwards, even when the runner still held it in its live queue:
 * buffer_dropped means "never sent by this forwarder", and rows past maxAgeHours do not go upstream.
 * And a row set aside for a prune that then fails to commit is still sent: nothing is lost.
 */
import t from 'tap';
import { startMosquitto } from '../helpers/mosquitto.js';
import { claimPort } from '../helpers/ports.js';
import { failPrunes, HandClock, open, tempDir } from '../buffer/harness.js';
import { collect, processedPayload, until } from './harness.js';
import { backlogWhileUpstreamDown, mqttConfig, startMqttRunner } from './mqtt-runner.js';

const HOUR = 3_600_000;

t.test('rows aged out while upstream was down are counted dropped and not sent when it comes back', async (t) => {
  const clock = new HandClock();
  const { buffer, counters } = open(tempDir('fwd-dropped'), { maxAgeHours: 1, clock });
  t.teardown(() => buffer.close());
  const port = await claimPort();
  const url = `mqtt://127.0.0.1:${port}`;
  const runner = startMqttRunner(buffer, counters, mqttConfig({ url }));
  t.teardown(() => runner.stop());

  const rows = (from: number, n: number) => Array.from({ length: n }, (_, k) => ({ topic: 'bal/processed/pmu1', payload: processedPayload('pmu1', from + k) }));
  const old = await buffer.append(rows(0, 50)); // upstream down: held by the runner's live queue
  clock.advance(2 * HOUR); // now older than maxAgeHours
  await until(() => counters.get('buffer_dropped', { forwarder: 'central' }) === 50, 'the 50 old rows counted as dropped');
  t.equal(buffer.cursor('central'), old[49], 'the buffer moved the cursor past them');

  const m = await startMosquitto({ port });
  t.teardown(() => m.stop());
  const sub = await collect(m.url, '#');
  t.teardown(() => sub.close());
  const fresh = await buffer.append(rows(50, 5));
  await until(() => runner.cursor === fresh[4], 'the cursor at the last fresh row');
  await sub.waitFor(5);
  t.equal(counters.get('forward_sent', { forwarder: 'central' }), 5, 'the upstream acknowledged 5 rows: none of the 50 counted as dropped was sent');
  t.same(sub.json().map((j) => j['seq']), fresh, 'the subscriber saw only the fresh rows');
});

t.test('a prune that fails to commit: the rows the runner had set aside as dropped are sent after all, without a restart', async (t) => {
  const dir = tempDir('fwd-prune-fails');
  const { clock, buffer, counters, port, runner, old } = await backlogWhileUpstreamDown(t, dir);
  const fault = failPrunes(dir); // every prune fails from now on; the first one stays in flight until release()
  t.teardown(() => fault.close());
  clock.advance(2 * HOUR); // the rows are older than maxAgeHours
  await until(() => buffer.cursor('central') === old[49], 'the prune planned: the cursor moved past the 50 rows');

  const m = await startMosquitto({ port });
  t.teardown(() => m.stop());
  const sub = await collect(m.url, '#');
  t.teardown(() => sub.close());
  await until(() => runner.cursor === old[49], 'the runner (connected) set the 50 rows aside as dropped');
  fault.release(); // the prune's DELETE runs into the trigger: rolled back, nothing deleted
  await until(() => counters.total('buffer_write_errors') > 0, 'the prune to fail');
  await sub.waitFor(50);
  t.same(sub.json().map((j) => j['seq']), old, 'the 50 rows arrived upstream, once each, in order');
  t.equal(counters.get('buffer_dropped', { forwarder: 'central' }), 0, 'none counted as dropped');
  await until(() => runner.cursor === old[49] && buffer.cursor('central') === old[49], 'the cursor past them, acknowledged');
  t.equal(counters.get('forward_sent', { forwarder: 'central' }), 50, 'the upstream acknowledged each once');
});
