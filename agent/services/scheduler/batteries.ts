/**
 * Edits of a job's `battery_specs` (replace all, upsert one, delete one, set one's SoC), as pure
 * functions over the job's input. Each returns the edited input or a problem naming the field; the
 * service then validates the whole edited job (normaliseJob) before storing it. SoC values are in the
 * job's own unit: a fraction in pymfm's service dialect, percent in the 0.5.x and Platone dialects.
 */
import { detectDialect, shortText } from '../../../algorithms/scheduler/index.js';
import { problem } from '../../http/problem.js';
import type { Outcome } from './index.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const fail = <T>(status: number, detail: string, url: string): Outcome<T> => ({ ok: false, problem: problem(status, detail, url) });

/** The job's batteries as a list (pymfm accepts one object or a list). */
export function batteriesOf(input: unknown): Obj[] {
  if (!isObj(input)) return [];
  const b = input['battery_specs'];
  return Array.isArray(b) ? (b.filter(isObj) as Obj[]) : isObj(b) ? [b] : [];
}

/** The unit of SoC values in this job's dialect. */
export function socUnit(input: unknown): { scale: number; name: string } {
  return detectDialect(input) === 'service' ? { scale: 1, name: 'a fraction 0..1' } : { scale: 100, name: 'percent 0..100' };
}

export function replaceAll(input: Obj, body: unknown, url: string): Outcome<Obj> {
  if (!Array.isArray(body)) return fail(400, 'body: must be an array of battery specs', url);
  const bad = body.findIndex((b) => !isObj(b));
  if (bad >= 0) return fail(400, `body[${bad}]: must be a battery spec object`, url);
  input['battery_specs'] = body;
  return { ok: true, value: input };
}

/** Insert or replace the batteries of `specs` by id (the others are kept). */
export function upsert(input: Obj, specs: unknown[], url: string, pathId?: string): Outcome<Obj> {
  const list = batteriesOf(input);
  for (const [i, s] of specs.entries()) {
    const where = specs.length === 1 && pathId !== undefined ? 'body' : `body[${i}]`;
    if (!isObj(s)) return fail(400, `${where}: must be a battery spec object`, url);
    if (pathId !== undefined) {
      if (s['id'] !== undefined && s['id'] !== pathId) return fail(400, `${where}.id: must match the battery id of the path (${JSON.stringify(pathId)}), got ${JSON.stringify(s['id'])}`, url);
      s['id'] = pathId;
    }
    if (typeof s['id'] !== 'string' || s['id'] === '') return fail(400, `${where}.id: required string is missing (batteries are matched by id)`, url);
    const k = list.findIndex((b) => b['id'] === s['id']);
    if (k >= 0) list[k] = s;
    else list.push(s);
  }
  input['battery_specs'] = list;
  return { ok: true, value: input };
}

export function deleteOne(input: Obj, batteryId: string, url: string): Outcome<Obj> {
  const list = batteriesOf(input);
  const k = list.findIndex((b) => b['id'] === batteryId);
  if (k < 0) return fail(404, `the job has no battery ${shortText(batteryId)}`, url);
  list.splice(k, 1);
  input['battery_specs'] = list;
  return { ok: true, value: input };
}

/** Sets `initial_SoC` of one battery (the SoC the job, or a near-real-time job's next run, starts from). */
export function setSoc(input: Obj, batteryId: string, soc: unknown, url: string, where = 'soc'): Outcome<Obj> {
  const list = batteriesOf(input);
  const b = list.find((x) => x['id'] === batteryId);
  if (!b) return fail(404, `the job has no battery ${shortText(batteryId)}`, url);
  const unit = socUnit(input);
  if (typeof soc !== 'number' || !Number.isFinite(soc) || soc < 0 || soc > unit.scale)
    return fail(400, `${where}: must be a number, ${unit.name} in this job's dialect, got ${JSON.stringify(soc)}`, url);
  b['initial_SoC'] = soc;
  input['battery_specs'] = list;
  return { ok: true, value: input };
}
