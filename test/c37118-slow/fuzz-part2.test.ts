/**
 * The full fuzz run, part 2 of 4: 250 000 random and mutated frames (seed 2026) through the C37.118
 * decoder and protocol session; the four parts make 10^6 frames. About 12 s of CPU each, so they live
 * outside the fast folders, in four files that each stay well inside the per-file timeout on a busy
 * machine. Same checks as test/c37118/fuzz.test.ts.
 */
import t from 'tap';
import { REJECT_REASONS } from '../../drivers/c37118/codec/index.js';
import { runFuzz } from '../c37118/fuzz-core.js';

t.test('250 000 fuzz frames (seed 2026)', async (t) => {
  const s = runFuzz(250_000, 2026);
  t.same(s.thrown, [], 'nothing thrown by the decoder or the session');
  t.same(s.invalidMeasurements, [], 'every measurement checked passes the pipeline validation');
  const known = new Set<string>([...REJECT_REASONS, 'ok_data', 'ok_cfg1', 'ok_cfg2', 'ok_cfg3', 'ok_command', 'ok_header']);
  t.same(Object.keys(s.decoded).filter((k) => !known.has(k)), [], 'every decoder result is a known reason');
  t.same(Object.keys(s.sessionRejected).filter((k) => !known.has(k)), [], 'every session rejection is a known reason');
  t.equal(Object.values(s.decoded).reduce((a, b) => a + b, 0), 250_000, 'every frame is counted once');
  t.ok(s.maxBuffered <= 65535, `the session never held more than one frame (${s.maxBuffered} bytes)`);
  t.comment(JSON.stringify({ ms: Math.round(s.ms), decoded: s.decoded, session: s.sessionRejected, measurements: s.measurements }));
});
