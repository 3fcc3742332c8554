/**
 * The analyzer runner's on-change trigger across a wall-clock step back (agent/analyzers/runner.ts).
 * Its `minIntervalMs` between runs is time on the monotonic clock: with the wall clock an hour
 * behind the last run (NTP correcting a clock that ran ahead), the next change still runs it at
 * once, not an hour later (and every change in between was dropped, as one run was pending).
 */
import t from 'tap';
import pino from 'pino';
import type { Measurement } from '../../algorithms/common/measurement.js';
import { Counters } from '../../agent/core/counters.js';
import type { Analyzer } from '../../agent/core/plugin.js';
import { AnalyzerRunner } from '../../agent/analyzers/runner.js';
import { waitFor } from '../helpers/wait.js';

t.test('an on-change analyzer keeps running after the wall clock steps back an hour', async (t) => {
  let wallMs = 1_764_000_000_000;
  const stamps: number[] = [];
  const analyzer: Analyzer = {
    devices: ['d1'],
    trigger: { onChange: ['d1'], minIntervalMs: 100 },
    analyze: ({ nowMicros }) => {
      stamps.push(nowMicros);
      return [];
    },
    health: () => ({ state: 'running' }),
  };
  const latest = new Map<string, Measurement>();
  const runner = new AnalyzerRunner('a1', analyzer, {
    latest: () => latest,
    publish: async () => undefined,
    counters: new Counters(),
    log: pino({ level: 'silent' }),
    now: () => wallMs,
  });
  runner.start();
  t.teardown(() => runner.stop(AbortSignal.timeout(1000)));
  runner.changed('d1');
  await waitFor('the first run', () => stamps.length === 1, { timeoutMs: 2000 });
  wallMs -= 3600_000; // NTP steps the wall clock an hour back
  runner.changed('d1');
  await waitFor('a run after the step (within its 100 ms minimum interval, not an hour)', () => stamps.length === 2, { timeoutMs: 2000 });
  t.equal(stamps[1], wallMs * 1000, 'the run sees the wall clock as it is now');
});
