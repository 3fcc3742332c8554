/**
 * The full fuzz run: 10^6 random and mutated frames through the C37.118 decoder and protocol session
 * (about 30 s on a 2-core machine, so it lives outside the fast folders). Same checks as
 * test/c37118/fuzz.test.ts, with another seed.
 */
import t from 'tap';
import { REJECT_REASONS } from '../../drivers/c37118/codec/index.js';
import { runFuzz } from '../c37118/fuzz-core.js';

t.test('10^6 fuzz frames', async (t) => {
  const s = runFuzz(1_000_000, 1764);
  t.same(s.thrown, [], 'nothing thrown by the decoder or the session');
  t.same(s.invalidMeasurements, [], 'every measurement checked passes the pipeline validation');
  const known = new Set<string>([...REJECT_REASONS, 'ok_data', 'ok_cfg1', 'ok_cfg2', 'ok_cfg3', 'ok_command', 'ok_header']);
  t.same(Object.keys(s.decoded).filter((k) => !known.has(k)), [], 'every decoder result is a known reason');
  t.same(Object.keys(s.sessionRejected).filter((k) => !known.has(k)), [], 'every session rejection is a known reason');
  t.equal(Object.values(s.decoded).reduce((a, b) => a + b, 0), 1_000_000, 'every frame is counted once');
  t.ok(s.maxBuffered <= 65535, `the session never held more than one frame (${s.maxBuffered} bytes)`);
  t.comment(JSON.stringify({ ms: Math.round(s.ms), decoded: s.decoded, session: s.sessionRejected, measurements: s.measurements }));
});
