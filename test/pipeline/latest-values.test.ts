/**
 * The latest value per device (agent/pipeline/latest-values.ts): kept as an object, or as the JSON
 * text an ingest worker sent, parsed once when first read; read the same way through every
 * ReadonlyMap accessor, in the order devices first appeared.
 */
import t from 'tap';
import type { Measurement } from '../../algorithms/common/measurement.js';
import { LatestValues } from '../../agent/pipeline/latest-values.js';

const m = (device: string, ts: number, extra: Record<string, unknown> = {}): Measurement => ({ device, ts, ...extra }) as unknown as Measurement;

t.test('texts are parsed when first read, once, and then read as objects', async (t) => {
  const l = new LatestValues();
  const a = m('a', 1, { p: { total: 22121.163188449238 } });
  l.setText('a', JSON.stringify(a));
  t.equal(l.size, 1, 'a text counts as a device');
  t.ok(l.has('a'), 'and is known');
  const first = l.get('a');
  t.same(first, a, 'parsed back to the measurement, every digit kept');
  t.equal(l.get('a'), first, 'the same object on the next read (parsed once)');
  t.equal(l.get('nope'), undefined, 'an unknown device reads as undefined');
});

t.test('a newer value replaces the older one, object or text, in place', async (t) => {
  const l = new LatestValues();
  l.set('a', m('a', 1));
  l.setText('b', JSON.stringify(m('b', 1)));
  l.setText('a', JSON.stringify(m('a', 2)));
  l.set('b', m('b', 3));
  t.same([...l.keys()], ['a', 'b'], 'devices keep the order they first appeared in');
  t.same(
    [...l.entries()].map(([d, x]) => [d, x.ts]),
    [['a', 2], ['b', 3]],
    'the newest of each, whichever form it came in',
  );
});

t.test('every accessor gives parsed measurements', async (t) => {
  const l = new LatestValues();
  for (let k = 0; k < 5; k++) l.setText(`d${k}`, JSON.stringify(m(`d${k}`, k)));
  const viaValues = [...l.values()].map((x) => x.ts);
  const viaIterator = [...l].map(([, x]) => x.ts);
  const viaForEach: number[] = [];
  l.forEach((x, d, map) => {
    viaForEach.push(x.ts);
    if (map !== l || d !== x.device) viaForEach.push(-1);
  });
  t.same(viaValues, [0, 1, 2, 3, 4], 'values()');
  t.same(viaIterator, [0, 1, 2, 3, 4], 'iteration');
  t.same(viaForEach, [0, 1, 2, 3, 4], 'forEach, with its key and the map');
  t.ok([...l.values()].every((x) => typeof x === 'object'), 'no text is ever handed out');
});

t.test('forgetDrivers takes off the devices whose latest value came from those drivers, and only those', async (t) => {
  const l = new LatestValues();
  l.set('p', m('p', 1), 'drv-p');
  l.set('q-1', m('q-1', 1), 'drv-q');
  l.set('q-2', m('q-2', 1), 'drv-q');
  l.setText('meter', JSON.stringify(m('meter', 1))); // an MQTT client's publish
  l.set('shared', m('shared', 1), 'drv-q');
  l.setText('shared', JSON.stringify(m('shared', 2))); // then an MQTT client published it: its device now
  l.set('moved', m('moved', 1), 'drv-q');
  l.set('moved', m('moved', 2), 'drv-p'); // then another driver produced it
  t.same(l.forgetDrivers(new Set(['drv-q'])), ['q-1', 'q-2'], 'the devices drv-q produced last, by name');
  t.same([...l.keys()], ['p', 'meter', 'shared', 'moved'], 'the others stay');
  t.same(l.forgetDrivers(new Set(['drv-q'])), [], 'nothing left of drv-q');
  l.set('q-1', m('q-1', 3), 'drv-q');
  t.same(l.forgetDrivers(new Set(['drv-q', 'drv-p'])), ['moved', 'p', 'q-1'], 'a device back from its driver is its again');
  t.same([...l.keys()], ['meter', 'shared'], 'MQTT-client devices are never taken off');
});
