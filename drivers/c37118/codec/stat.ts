/**
 * What the STAT word of a PMU block and the message time quality byte (high byte of FRACSEC) say, as
 * words (for the probe) and as quality and reasons (for the measurement message).
 *
 * STAT bits (IEEE C37.118.2-2011): 15-14 data error (00 good, 01 PMU error with no information about
 * the data, 10 test mode or absent data tags inserted, 11 PMU error: do not use the values); 13 PMU
 * sync lost; 12 data sorted by arrival (not by time stamp); 11 trigger detected; 10 configuration
 * changes within a minute; 9 data modified; 8-6 PMU time quality (estimated maximum time error);
 * 5-4 time since sync was lost; 3-0 trigger reason.
 *
 * Time quality byte: bit 6 leap second direction (1 = delete), bit 5 leap second occurred, bit 4 leap
 * second pending, bits 3-0 time quality code (0 locked to UTC, 1..0xB clock unlocked with the time
 * within 10^(code-10) s, 0xF clock failure).
 */
import type { Quality } from '../../../algorithms/common/measurement.js';

export interface StatReading {
  quality: Quality;
  reasons: string[];
}

/** Upper bound in µs of the time error STAT bits 8-6 give; undefined for 000 (not used), Infinity for 111. */
const STAT_TIME_ERROR_US: readonly (number | undefined)[] = [undefined, 0.1, 1, 10, 100, 1000, 10_000, Infinity];

/** Upper bound in µs of the time error the FRACSEC time quality code gives (Infinity for a clock fault). */
export function timeQualityErrorUs(code: number): number | undefined {
  if (code === 0) return 0;
  if (code >= 1 && code <= 0xb) return 10 ** (code - 10) * 1e6;
  if (code === 0xf) return Infinity;
  return undefined;
}

export function statTimeErrorUs(stat: number): number | undefined {
  return STAT_TIME_ERROR_US[(stat >> 6) & 7];
}

const TRIGGERS: Record<number, string> = {
  0: 'manual',
  1: 'magnitude low',
  2: 'magnitude high',
  3: 'phase angle difference',
  4: 'frequency high or low',
  5: 'df/dt high',
  6: 'reserved',
  7: 'digital',
};

/**
 * Quality and reasons from a block's STAT and the frame's time quality byte:
 * - data error 11 or 10: invalid (`stat:data_error`, plus `stat:pmu_error` or `stat:test_mode`);
 *   01: questionable (`stat:pmu_error`);
 * - sync lost, a STAT time error or a FRACSEC time quality code worse than `maxTimeErrorUs`, or a clock
 *   failure: questionable (`clock_unsync`, plus `stat:sync_lost` / `time:clock_fault`);
 * - sorted by arrival: questionable (`stat:sorted_by_arrival`: the time stamp is the arrival time);
 * - trigger, configuration change, data modified, leap second: reasons only, quality unchanged.
 */
export function readStat(stat: number, timeQuality: number, maxTimeErrorUs: number): StatReading {
  const reasons: string[] = [];
  let q = 0;
  const err = stat >> 14;
  if (err === 3) {
    q = 2;
    reasons.push('stat:data_error', 'stat:pmu_error');
  } else if (err === 2) {
    q = 2;
    reasons.push('stat:data_error', 'stat:test_mode');
  } else if (err === 1) {
    q = 1;
    reasons.push('stat:pmu_error');
  }
  let unsync = false;
  if (stat & 0x2000) {
    reasons.push('stat:sync_lost');
    unsync = true;
  }
  const te = statTimeErrorUs(stat);
  if (te !== undefined && te > maxTimeErrorUs) {
    reasons.push('stat:time_error');
    unsync = true;
  }
  const code = timeQuality & 0x0f;
  const fe = timeQualityErrorUs(code);
  if (code === 0xf) {
    reasons.push('time:clock_fault');
    unsync = true;
  } else if (fe !== undefined && fe > maxTimeErrorUs) {
    reasons.push('time:unlocked');
    unsync = true;
  }
  if (unsync) {
    q = Math.max(q, 1);
    reasons.push('clock_unsync');
  }
  if (stat & 0x1000) {
    q = Math.max(q, 1);
    reasons.push('stat:sorted_by_arrival');
  }
  if (stat & 0x0800) reasons.push('stat:trigger');
  if (stat & 0x0400) reasons.push('stat:config_change');
  if (stat & 0x0200) reasons.push('stat:data_modified');
  if (timeQuality & 0x10) reasons.push('time:leap_pending');
  if (timeQuality & 0x20) reasons.push('time:leap_occurred');
  return { quality: q === 2 ? 'invalid' : q === 1 ? 'questionable' : 'good', reasons };
}

/** STAT in words, one phrase per set condition ("good" when nothing is set). */
export function explainStat(stat: number): string[] {
  const out: string[] = [];
  const err = stat >> 14;
  if (err === 1) out.push('PMU error, no information about the data');
  if (err === 2) out.push('PMU in test mode or absent data tags inserted (do not use the values)');
  if (err === 3) out.push('PMU error (do not use the values)');
  if (stat & 0x2000) out.push('PMU not in sync with UTC');
  if (stat & 0x1000) out.push('data sorted by arrival, not by time stamp');
  if (stat & 0x0800) out.push(`trigger detected (${TRIGGERS[stat & 0x0f] ?? 'user defined'})`);
  if (stat & 0x0400) out.push('configuration will change within a minute');
  if (stat & 0x0200) out.push('data modified by post-processing');
  const te = (stat >> 6) & 7;
  if (te !== 0) out.push(`time error ${te === 7 ? 'above 10 ms or unknown' : `below ${['', '100 ns', '1 µs', '10 µs', '100 µs', '1 ms', '10 ms'][te]}`}`);
  const ul = (stat >> 4) & 3;
  if (ul !== 0) out.push(`sync lost for ${['', '10-100 s', '100-1000 s', 'over 1000 s'][ul]}`);
  return out.length ? out : ['good'];
}

/** The time quality byte in words. */
export function explainTimeQuality(tq: number): string[] {
  const out: string[] = [];
  const code = tq & 0x0f;
  if (code === 0) out.push('clock locked to UTC');
  else if (code === 0xf) out.push('clock failure, time not reliable');
  else if (code <= 0xb) out.push(`clock unlocked, time within 10^${code - 10} s`);
  else out.push(`reserved time quality code ${code}`);
  if (tq & 0x10) out.push(`leap second pending (${tq & 0x40 ? 'delete' : 'add'})`);
  if (tq & 0x20) out.push('leap second occurred');
  return out;
}
