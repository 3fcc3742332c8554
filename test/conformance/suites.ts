/**
 * The shared conformance suite of each plugin kind (in the spirit of MQTT.js's abstract store tests):
 * what every driver, processor, aggregator, analyzer, forwarder and service must do, whatever it
 * talks to. `conformance.test.ts` runs the suite of its kind against every registered plugin, so a
 * new plugin gets these tests by being registered (and given a test config there).
 *
 * Covered: create() without I/O, health shape before and after start, lifecycle, the stop deadline
 * (stop/close with an aborted deadline resolves promptly even with a peer that never answers), and
 * what each kind promises about the data it hands on.
 */
import type { Test } from 'tap';
import { Counters } from '../../agent/core/counters.js';
import type {
  Aggregator,
  Analyzer,
  Driver,
  Forwarder,
  PluginContext,
  PluginHealth,
  Processor,
  Service,
  ServiceContext,
  StoredMessage,
} from '../../agent/core/plugin.js';
import type { Measurement } from '../../algorithms/common/measurement.js';
import { checkMeasurement } from '../../agent/pipeline/validate.js';
import { fastify } from 'fastify';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testLogger } from '../forwarders/harness.js';
import { waitFor } from '../helpers/wait.js';

type Tap = Test;

const STATES = new Set(['starting', 'running', 'degraded', 'stopped']);
/** How long a stop with an aborted deadline may take before the suite calls it stuck. */
export const STOP_WITHIN_MS = 1500;

export function ctxFor(id: string, counters = new Counters()): { ctx: PluginContext; abort: AbortController; counters: Counters } {
  const abort = new AbortController();
  return {
    ctx: {
      id,
      log: testLogger(),
      counters,
      signal: abort.signal,
      gateway: 'gw-conf',
      storageDir: mkdtempSync(join(tmpdir(), 'gridedge-conf-')),
    },
    abort,
    counters,
  };
}

export function abortedDeadline(): AbortSignal {
  return AbortSignal.abort(new Error('stop deadline (test)'));
}

/** The health document every plugin reports. */
export function checkHealth(t: Tap, h: PluginHealth, where: string): void {
  t.ok(STATES.has(h.state), `${where}: state is one of ${[...STATES].join(', ')} (${h.state})`);
  if (h.devices !== undefined) t.ok(Array.isArray(h.devices) && h.devices.every((d) => typeof d === 'string'), `${where}: devices are strings`);
  if (h.lastError !== undefined) t.equal(typeof h.lastError, 'string', `${where}: lastError is a string`);
  if (h.info !== undefined)
    t.ok(
      Object.values(h.info).every((v) => ['number', 'string', 'boolean'].includes(typeof v)),
      `${where}: info values are numbers, strings or booleans`,
    );
  t.ok(JSON.parse(JSON.stringify(h)), `${where}: serialisable`);
}

/** Resolves `p` or fails naming `what` after `ms`. */
async function within<T>(what: string, p: Promise<T>, ms = STOP_WITHIN_MS): Promise<T> {
  let done = false;
  let value: T | undefined;
  let error: unknown;
  p.then(
    (v) => ((done = true), (value = v)),
    (e: unknown) => ((done = true), (error = e)),
  );
  await waitFor(what, () => (done ? true : undefined), { timeoutMs: ms });
  if (error) throw error;
  return value as T;
}

function deepFreeze<T>(x: T): T {
  if (typeof x === 'object' && x !== null) {
    for (const v of Object.values(x)) deepFreeze(v);
    Object.freeze(x);
  }
  return x;
}

export async function driverSuite(t: Tap, make: () => Driver, id: string): Promise<void> {
  const driver = make();
  checkHealth(t, driver.health(), 'before start');
  const { ctx, abort } = ctxFor(id);
  const emitted: Measurement[] = [];
  await driver.start(ctx, (m) => emitted.push(m));
  await waitFor(`driver ${id} emits a measurement`, () => (emitted.length > 0 ? true : undefined), { timeoutMs: 10_000 });
  const limits = { maxPayloadBytes: 1 << 20, nowUs: Date.now() * 1000, futureToleranceUs: 3.6e9, pastToleranceUs: 3.6e9 };
  const m = structuredClone(emitted[0]!);
  const r = checkMeasurement(m, null, limits);
  t.ok(r.ok, `what it emits passes the pipeline's validation${r.ok ? '' : `: ${r.detail}`}`);
  const h = driver.health();
  checkHealth(t, h, 'running');
  t.equal(h.state, 'running', 'running after start');
  if (h.devices) t.ok(h.devices.includes(emitted[0]!.device), 'health lists the device it emits as');
  abort.abort();
  await within(`driver ${id} stop with an aborted deadline`, driver.stop(abortedDeadline()));
  const after = emitted.length;
  checkHealth(t, driver.health(), 'after stop');
  t.equal(driver.health().state, 'stopped', 'stopped after stop');
  await within(`driver ${id} second stop`, driver.stop(abortedDeadline()));
  t.equal(emitted.length, after, 'no emit during or after a second stop');
}

export async function processorSuite(t: Tap, make: () => Processor): Promise<void> {
  const p = make();
  t.equal(typeof p.name, 'string', 'has a name');
  const ts = 1764000000000000;
  const pmu = deepFreeze({
    device: 'c1',
    ts,
    quality: 'questionable' as const,
    reasons: ['stale'],
    freq: 50,
    soc: 42,
    v: { a: { mag: 230, ang: 0 }, b: { mag: 230, ang: -120 }, c: { mag: 230, ang: 120 } },
    i: { a: { mag: 10, ang: -30 }, b: { mag: 10, ang: -150 }, c: { mag: 10, ang: 90 } },
  });
  const out = p.process(pmu as Measurement);
  t.equal(out.device, 'c1', 'keeps the device');
  t.equal(out.ts, ts, 'keeps the timestamp');
  t.equal(out.quality, 'questionable', 'never raises the quality');
  t.equal(out['soc'], 42, 'keeps values it does not know');
  const valueOnly = deepFreeze({ device: 'c2', ts, quality: 'good' as const, soc: 53.2, breaker: { q1: true }, mode: 'auto' });
  const v = p.process(valueOnly as Measurement);
  t.same({ soc: v['soc'], breaker: v['breaker'], mode: v['mode'] }, { soc: 53.2, breaker: { q1: true }, mode: 'auto' }, 'a value-only message keeps its values');
  const fq = deepFreeze({ ...structuredClone(pmu), quality: 'invalid' as const, field_quality: { 'v.a': 'invalid' as const } });
  const o = p.process(fq as Measurement);
  t.equal(o.quality, 'invalid', 'the message quality stays the worst field quality');
  t.equal((o.field_quality as Record<string, string> | undefined)?.['v.a'], 'invalid', 'field_quality kept');
}

export async function aggregatorSuite(t: Tap, make: () => Aggregator): Promise<void> {
  const a = make();
  t.equal(typeof a.name, 'string', 'has a name');
  if (a.health) checkHealth(t, a.health(), 'fresh');
  const ts = Math.floor(Date.now() / 1000) * 1e6;
  for (let k = 0; k < 5; k++) {
    const r = a.add({ device: 'c1', ts: ts + k * 1000, quality: 'good', freq: 50 + k / 100, p: { total: 1000 + k } } as Measurement);
    t.equal(typeof r, 'object', 'add reports what it did');
  }
  t.same(a.push(ts), [], 'nothing complete at the time of the first sample');
  const all = a.flushAll();
  t.ok(all.length > 0, 'flushAll hands out the open windows');
  for (const d of all) {
    t.ok(d.topic.startsWith('bal/processed/'), `topic under bal/processed/ (${d.topic})`);
    t.ok(JSON.parse(JSON.stringify(d.message)), 'message serialisable');
  }
  t.same(a.flushAll(), [], 'and forgets them');
  if (a.health) checkHealth(t, a.health(), 'after use');
}

export async function analyzerSuite(t: Tap, make: () => Analyzer, devices: readonly string[]): Promise<void> {
  const a = make();
  checkHealth(t, a.health(), 'fresh');
  t.ok(Array.isArray(a.devices), 'lists the devices it reads');
  const tr = a.trigger;
  t.ok((tr.intervalMs ?? 0) > 0 || (tr.onChange?.length ?? 0) > 0, 'has a trigger: an interval or devices to watch');
  const { ctx } = ctxFor('an');
  await a.start?.(ctx);
  const latest = new Map<string, Measurement>();
  for (const d of devices) latest.set(d, { device: d, ts: 1764000000000000, quality: 'good', p: { total: 100 } } as Measurement);
  const out = await a.analyze({ latest, nowMicros: 1764000000000000 });
  t.ok(Array.isArray(out), 'analyze returns a list of messages');
  for (const d of out) t.ok(d.topic.startsWith('bal/processed/'), `result topic under bal/processed/ (${d.topic})`);
  await within('analyzer stop with an aborted deadline', a.stop?.(abortedDeadline()) ?? Promise.resolve());
  checkHealth(t, a.health(), 'after stop');
}

export async function serviceSuite(t: Tap, make: () => Service, id: string): Promise<void> {
  const s = make();
  checkHealth(t, s.health(), 'before start');
  const { ctx: base, counters } = ctxFor(id);
  const published: unknown[] = [];
  const ctx: ServiceContext = { ...base, publish: async (m) => void published.push(m), latest: () => undefined };
  if (s.routes) {
    const app = fastify();
    t.teardown(() => app.close());
    await app.register(async (scope) => s.routes!(scope), { prefix: '/api/v1' });
    await app.ready();
    t.ok(app.printRoutes().length > 0, 'its routes register as a Fastify plugin under /api/v1');
  }
  await s.start(ctx);
  checkHealth(t, s.health(), 'running');
  t.equal(s.health().state, 'running', 'running after start');
  await within(`service ${id} stop with an aborted deadline`, s.stop(abortedDeadline()));
  checkHealth(t, s.health(), 'after stop');
  t.ok(counters.samples().every((x) => Number.isFinite(x.value)), 'its counters are numbers');
}

/**
 * A forwarder against a peer that accepts the connection and never acknowledges: connect, a send
 * that hangs, then close with an aborted deadline resolves promptly and the hanging send rejects.
 */
export async function forwarderSuite(t: Tap, make: () => Forwarder, id: string): Promise<void> {
  const f = make();
  t.notOk(f.connected(), 'not connected before connect');
  const r = f.route('bal/processed/c1');
  t.ok(r === null || typeof r === 'string', 'route gives a topic or null');
  const { ctx } = ctxFor(id);
  await within(`forwarder ${id} connects to a peer that accepts`, f.connect(ctx), 10_000);
  t.ok(f.connected(), 'connected after connect');
  const row: StoredMessage = { seq: 1, storedAt: Date.now(), topic: 'bal/processed/c1', payload: '{"device":"c1","ts":1,"quality":"good","freq":50}' };
  const send = f.send([row]);
  let settled = false;
  send.then(
    () => (settled = true),
    () => (settled = true),
  );
  await within(`forwarder ${id} close with an aborted deadline while a send hangs`, f.close(abortedDeadline()));
  await waitFor(`the hanging send of ${id} settles after close`, () => (settled ? true : undefined), { timeoutMs: STOP_WITHIN_MS });
  await t.rejects(send, 'the unacknowledged send rejects (the runner keeps the rows)');
  t.notOk(f.connected(), 'not connected after close');
}
