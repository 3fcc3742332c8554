/**
 * The full fuzz run, part 4 of 4: 250 000 random and mutated frames (seed 7734) through the C37.118
 * decoder and protocol session; the four parts make 10^6 frames. About 12 s of CPU each, so they live
 * outside the fast folders, in four files that each stay well inside the per-file timeout on a busy
 * machine. Same checks as test/c37118/fuzz.test.ts.
 */
import t from 'tap';
import { checkFuzzRun } from '../c37118/fuzz-core.js';

t.test('250 000 fuzz frames (seed 7734)', async (t) => checkFuzzRun(t, 250_000, 7734));
