/**
 * Fuzzing in the fast suite: 100 000 random and mutated frames through the decoder and the protocol
 * session (the full 10^6 run: test/c37118-slow/, four files of 250 000). Nothing throws, the session holds
 * at most one frame, every measurement it emits passes the pipeline's validation, and every refused
 * frame is counted under a known reason.
 */
import t from 'tap';
import { REJECT_REASONS } from '../../drivers/c37118/codec/index.js';
import { runFuzz } from './fuzz-core.js';

const N = Number(process.env.GRIDEDGE_FUZZ_N ?? 100_000);

t.test(`${N} fuzz frames`, async (t) => {
  const s = runFuzz(N, 20261129);
  t.same(s.thrown, [], 'nothing thrown by the decoder or the session');
  t.same(s.invalidMeasurements, [], 'every measurement checked passes the pipeline validation');
  t.equal(s.frames, N);
  const known = new Set<string>([...REJECT_REASONS, 'ok_data', 'ok_cfg1', 'ok_cfg2', 'ok_cfg3', 'ok_command', 'ok_header']);
  t.same(Object.keys(s.decoded).filter((k) => !known.has(k)), [], 'every decoder result is a known reason');
  t.same(Object.keys(s.sessionRejected).filter((k) => !known.has(k)), [], 'every session rejection is a known reason');
  const total = Object.values(s.decoded).reduce((a, b) => a + b, 0);
  t.equal(total, N, 'every frame is counted once');
  for (const r of ['bad_crc', 'truncated', 'bad_length', 'size_mismatch', 'bad_config', 'ok_data', 'ok_cfg2', 'ok_cfg3'])
    t.ok((s.decoded[r] ?? 0) > 0, `the fuzzer reached ${r} (${s.decoded[r] ?? 0})`);
  t.ok(s.measurements > 1000, `the session emitted measurements (${s.measurements})`);
  t.ok(s.maxBuffered <= 65535, `the session never held more than one frame (${s.maxBuffered} bytes)`);
  t.comment(JSON.stringify({ ms: Math.round(s.ms), decoded: s.decoded, session: s.sessionRejected, measurements: s.measurements }));
});
