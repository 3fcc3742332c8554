/**
 * A measurement's phasor needs `mag`: a phase of `v` or `i` that a driver filled without one (only
 * `ang` came) is left out, with the `field_quality` entries for it (`v.a` and below), and an empty
 * `v`/`i` goes too. Returns how many phases were left out.
 */
import type { Measurement } from '../../algorithms/common/measurement.js';

export function dropPhasorsWithoutMag(m: Measurement, fq: Record<string, string>): number {
  let dropped = 0;
  for (const top of ['v', 'i'] as const) {
    const set = m[top] as Record<string, Record<string, unknown>> | undefined;
    if (!set) continue;
    for (const ph of Object.keys(set)) {
      if (typeof set[ph]!['mag'] === 'number') continue;
      delete set[ph];
      dropped++;
      for (const k of Object.keys(fq)) if (k === `${top}.${ph}` || k.startsWith(`${top}.${ph}.`)) delete fq[k];
    }
    if (Object.keys(set).length === 0) delete m[top];
  }
  return dropped;
}
