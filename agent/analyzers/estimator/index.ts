/**
 * The `estimator` analyzer: a WLS state estimate of the network every `intervalS`, on the latest
 * good values of the configured fields (algorithms/grid). See README.md.
 *
 * Lifecycle: `create` does no I/O; `start` reads the network file and checks every configured
 * measurement against it (a failure rejects, and the agent retries start with backoff). Each run
 * reads the latest processed measurement of each configured device; a field that is missing, not a
 * finite number, invalid by its quality, older than `maxAgeS` or more than `maxAgeS` ahead of the
 * agent's clock is skipped (counted by reason and
 * listed in the result). The estimate is published on bal/processed/<id>/state (id `estimator`:
 * bal/processed/estimator/state) and kept for GET /api/v1/<id>/state. When the set left is
 * unobservable, or the estimate fails, the last estimate is held: published again with
 * `status: "held"`, its age and the reason.
 */
import type { FastifyInstance } from 'fastify';
import { qualityOf } from '../../../algorithms/common/field-quality.js';
import { compileFieldPath, type FieldReader } from '../../../algorithms/stats/field-path.js';
import { GridInputError } from '../../../algorithms/grid/errors.js';
import { estimateState, estimateSummary, UnobservableError } from '../../../algorithms/grid/estimator.js';
import { layoutNetwork } from '../../../algorithms/grid/layout.js';
import { checkObservability } from '../../../algorithms/grid/observability.js';
import { loadNetwork } from '../../../algorithms/grid/load.js';
import { MAX_MEASURED_PU, prepareMeasurements, type MeasurementInput } from '../../../algorithms/grid/measurements.js';
import { buildModel, type GridModel } from '../../../algorithms/grid/model.js';
import { NO_INVALID_PATHS, type Analyzer, type AnalyzerInput, type AnalyzerSpec, type DerivedMessage, type PluginContext, type PluginHealth } from '../../core/plugin.js';
import type { Counters } from '../../core/counters.js';
import { problemSchema } from '../../http/problem.js';
import { ESTIMATOR_SCHEMA, measurementList, type EstimatorConfig, type LiveMeasurementConfig } from './schema.js';

export { ESTIMATOR_SCHEMA, type EstimatorConfig, type LiveMeasurementConfig };

export type SkipReason = 'no_measurement' | 'no_field' | 'invalid' | 'stale' | 'future' | 'implausible';

export interface Skipped {
  /** Position in the configured measurements list (0-based). */
  index: number;
  device: string;
  field: string;
  reason: SkipReason;
}

/** The network as the page draws it: `GET /api/v1/<id>/network`. */
export interface NetworkDrawing {
  name: string;
  baseMVA: number;
  /** diagram: positions from the source (CGMES DiagramLayout); computed: algorithms/grid/layout.ts. */
  layout: 'diagram' | 'computed';
  buses: { bus: number; name?: string; baseKV: number; type: string; x: number; y: number }[];
  /** `branch`: the 1-based row of the branch table (as estimator measurements name it). */
  branches: { branch: number; from: number; to: number; name?: string; status: boolean }[];
}

/** The drawing of a model's network: its own positions when every bus has one, else a computed layout. */
export function networkDrawing(model: GridModel): NetworkDrawing {
  const net = model.net;
  const own = net.buses.length > 0 && net.buses.every((b) => b.x !== undefined && b.y !== undefined);
  const computed = own ? undefined : layoutNetwork(net.buses.map((b) => ({ bus: b.bus, ref: b.type === 'ref' })), net.branches.filter((b) => b.status));
  return {
    name: net.name,
    baseMVA: net.baseMVA,
    layout: own ? 'diagram' : 'computed',
    buses: net.buses.map((b) => {
      const p = computed ? computed.get(b.bus)! : { x: b.x!, y: b.y! };
      return { bus: b.bus, ...(b.name ? { name: b.name } : {}), baseKV: b.baseKV, type: b.type, x: p.x, y: p.y };
    }),
    branches: net.branches.map((b, k) => ({ branch: k + 1, from: b.from, to: b.to, ...(b.name ? { name: b.name } : {}), status: b.status })),
  };
}

/** What the analyzer publishes and serves. */
export interface EstimatorState {
  /** estimated: a new estimate; held: the last one, kept because this run could not estimate; none: no estimate yet. */
  status: 'estimated' | 'held' | 'none';
  /** When this run happened (µs since the epoch). */
  ts: number;
  /** When the estimate shown was made (µs), and its age at `ts` (s). */
  estimated_ts?: number;
  age_s?: number;
  /** Why this run did not estimate (held / none). */
  reason?: string;
  unobservable_buses?: number[];
  converged?: boolean;
  iterations?: number;
  buses?: { bus: number; vm: number; va_deg: number }[];
  J?: number;
  dof?: number;
  chi2_threshold?: number;
  chi2_passed?: boolean;
  /** index: position in the configured measurements list. */
  bad_data?: { index: number; type: string; rn: number; device: string; field: string }[];
  /** Identified as bad data but kept (removing it would leave the set unobservable); used in the estimate. */
  suspect_data?: { index: number; type: string; rn: number; reason: string; device: string; field: string }[];
  used?: number;
  skipped: Skipped[];
}

export const ESTIMATOR_METRICS = {
  estimator_inputs_skipped: { type: 'counter', help: 'Configured estimator inputs left out of a run, by reason (no_measurement, no_field, invalid, stale, future: timestamped ahead of the agent by more than maxAgeS, implausible: beyond ±1e6 per unit)', labels: ['analyzer', 'reason'] },
  estimator_runs: { type: 'counter', help: 'Estimator runs by result (estimated, held: last estimate kept, none: nothing to hold)', labels: ['analyzer', 'result'] },
  estimator_bad_data: { type: 'counter', help: 'Measurements the estimator identified as bad data and removed', labels: ['analyzer'] },
} as const;

interface Input {
  cfg: LiveMeasurementConfig;
  read: FieldReader;
}

export class EstimatorAnalyzer implements Analyzer {
  readonly trigger: { intervalMs: number };
  readonly devices: readonly string[];
  private readonly inputs: Input[];
  private model: GridModel | undefined;
  private counters: Counters | undefined;
  private id: string;
  private last: EstimatorState | undefined;
  private lastGood: EstimatorState | undefined;
  private started = false;
  private runs = 0;
  private drawing: NetworkDrawing | undefined;

  constructor(private readonly cfg: EstimatorConfig) {
    this.id = cfg.id;
    this.trigger = { intervalMs: Math.round(cfg.intervalS * 1000) };
    this.devices = [...new Set(cfg.measurements.map((m) => m.device))];
    this.inputs = cfg.measurements.map((m) => ({ cfg: m, read: compileFieldPath(m.field) }));
  }

  get topic(): string {
    return `bal/processed/${this.id}/state`;
  }

  async start(ctx: PluginContext): Promise<void> {
    this.id = ctx.id;
    this.counters = ctx.counters;
    const model = loadModel(this.cfg);
    this.model = model;
    this.started = true;
    ctx.log.info({ network: this.cfg.network, buses: model.n, branches: model.f.length, measurements: this.inputs.length }, 'estimator: network loaded');
  }

  /** The state document of the last run (undefined before the first). */
  state(): EstimatorState | undefined {
    return this.last;
  }

  analyze({ latest, nowMicros }: AnalyzerInput): readonly DerivedMessage[] {
    const model = this.model;
    if (!model) return [];
    this.runs++;
    const skipped: Skipped[] = [];
    const used: MeasurementInput[] = [];
    const usedIndex: number[] = [];
    const maxAgeMicros = this.cfg.maxAgeS * 1e6;
    this.inputs.forEach(({ cfg, read }, index) => {
      const skip = (reason: SkipReason) => {
        skipped.push({ index, device: cfg.device, field: cfg.field, reason });
        this.counters?.inc('estimator_inputs_skipped', { analyzer: this.id, reason });
      };
      const m = latest.get(cfg.device);
      if (!m) return skip('no_measurement');
      const v = read(m);
      if (!Number.isFinite(v)) return skip('no_field');
      if (qualityOf(m, cfg.field) === 'invalid') return skip('invalid');
      if (typeof m.ts !== 'number' || nowMicros - m.ts > maxAgeMicros) return skip('stale');
      // A timestamp further ahead than maxAgeS cannot be checked for staleness: such a value would be
      // used long after its device fell silent (a device clock ahead of the agent's).
      if (m.ts - nowMicros > maxAgeMicros) return skip('future');
      // A value beyond ±1e6 per unit (a float register decoded in the wrong byte order reads 1e38) is
      // no reading: it would make the whole estimate fail as "unobservable" at every bus.
      if (Math.abs(v / (cfg.base ?? 1)) > MAX_MEASURED_PU) return skip('implausible');
      const one: MeasurementInput = { type: cfg.type, value: v / (cfg.base ?? 1), sigma: cfg.sigma };
      if (cfg.bus !== undefined) one.bus = cfg.bus;
      if (cfg.branch !== undefined) one.branch = cfg.branch;
      if (cfg.end !== undefined) one.end = cfg.end;
      used.push(one);
      usedIndex.push(index);
    });
    let state: EstimatorState;
    try {
      const meas = prepareMeasurements(model, used, model.net.baseMVA);
      const r = estimateState(model, meas, { alpha: this.cfg.alpha, rnThreshold: this.cfg.rnThreshold });
      if (!r.converged) throw new GridInputError('not_converged', `the estimate did not converge after ${r.iterations} iterations`);
      const bad = r.bad_data.map((b) => {
        const k = usedIndex[b.index]!;
        return { index: k, type: b.type, rn: b.rn, device: this.inputs[k]!.cfg.device, field: this.inputs[k]!.cfg.field };
      });
      if (bad.length) this.counters?.inc('estimator_bad_data', { analyzer: this.id }, bad.length);
      const suspect = r.suspect_data.map((b) => {
        const k = usedIndex[b.index]!;
        return { index: k, type: b.type, rn: b.rn, reason: b.reason, device: this.inputs[k]!.cfg.device, field: this.inputs[k]!.cfg.field };
      });
      state = {
        status: 'estimated',
        ts: nowMicros,
        estimated_ts: nowMicros,
        age_s: 0,
        ...estimateSummary(r),
        bad_data: bad,
        suspect_data: suspect,
        skipped,
      };
      this.lastGood = state;
    } catch (e) {
      if (!(e instanceof GridInputError)) throw e;
      const reason = e.message;
      const extra = e instanceof UnobservableError ? { unobservable_buses: [...new Set([...e.result.unobservableAngles, ...e.result.unobservableMagnitudes])] } : {};
      const held = this.lastGood;
      state = held
        ? { ...held, status: 'held', ts: nowMicros, age_s: (nowMicros - held.estimated_ts!) / 1e6, reason, ...extra, skipped }
        : { status: 'none', ts: nowMicros, reason, ...extra, skipped };
    }
    this.counters?.inc('estimator_runs', { analyzer: this.id, result: state.status });
    this.last = state;
    return [{ topic: this.topic, message: state }];
  }

  async stop(): Promise<void> {
    this.started = false;
  }

  health(): PluginHealth {
    const s = this.last;
    const h: PluginHealth = {
      state: !this.started ? (this.model ? 'stopped' : 'starting') : s && s.status !== 'estimated' ? 'degraded' : 'running',
      info: { runs: this.runs, status: s?.status ?? 'none', inputs: this.inputs.length },
    };
    if (s?.reason) h.lastError = s.reason;
    if (s?.J !== undefined) h.info!['J'] = s.J;
    if (s) h.info!['skipped'] = s.skipped.length;
    return h;
  }

  /**
   * GET /api/v1/<id>/state: the last state document; 503 (problem details) before the first run.
   * GET /api/v1/<id>/network: the network's buses (with positions) and branches, for drawing; 503
   * until the network is loaded. The drawing is built on the first request and kept.
   */
  async routes(app: FastifyInstance): Promise<void> {
    const num = { type: 'number' } as const;
    const drawingSchema = {
      type: 'object',
      required: ['name', 'baseMVA', 'layout', 'buses', 'branches'],
      properties: {
        name: { type: 'string' },
        baseMVA: num,
        layout: { type: 'string', enum: ['diagram', 'computed'] },
        buses: {
          type: 'array',
          items: { type: 'object', required: ['bus', 'baseKV', 'type', 'x', 'y'], properties: { bus: num, name: { type: 'string' }, baseKV: num, type: { type: 'string' }, x: num, y: num } },
        },
        branches: {
          type: 'array',
          items: { type: 'object', required: ['branch', 'from', 'to', 'status'], properties: { branch: { type: 'integer' }, from: num, to: num, name: { type: 'string' }, status: { type: 'boolean' } } },
        },
      },
    } as const;
    const schema = {
      summary: 'The estimator network for drawing: buses with positions (CGMES DiagramLayout, else a computed layout) and branches',
      tags: ['estimator'],
      response: { 200: drawingSchema, 503: problemSchema },
    };
    app.get(`/${this.cfg.id}/network`, { schema }, async (_req, reply) => {
      const model = this.model;
      if (!model) {
        reply.code(503).type('application/problem+json');
        return { type: 'about:blank', title: 'Service Unavailable', status: 503, detail: 'the estimator has not loaded its network yet (see the agent log and status)' };
      }
      return (this.drawing ??= networkDrawing(model));
    });
    // The state document as published (EstimatorState); properties not named here are kept as they are.
    const stateSchema = {
      summary: 'The latest state estimate (as published on bal/processed/<id>/state); 503 before the first run',
      tags: ['estimator'],
      response: {
        200: {
          type: 'object',
          description: 'status (estimated, held: the last estimate kept, none), ts (µs), buses { bus, vm, va_deg } when estimated or held, skipped inputs, and the estimator results (converged, iterations, J, bad_data, ...)',
          required: ['status', 'ts', 'skipped'],
          additionalProperties: true,
          properties: { status: { type: 'string', enum: ['estimated', 'held', 'none'] }, ts: num, skipped: { type: 'array', items: { type: 'object', additionalProperties: true } } },
        },
        503: problemSchema,
      },
    };
    app.get(`/${this.cfg.id}/state`, { schema: stateSchema }, async (_req, reply) => {
      const s = this.last;
      if (!this.started || !s) {
        reply.code(503).type('application/problem+json');
        return {
          type: 'about:blank',
          title: 'Service Unavailable',
          status: 503,
          detail: this.started ? 'no state estimate yet: the first run comes after intervalS' : 'the estimator has not started (see the agent log and status)',
        };
      }
      return s;
    });
  }
}

/** Reads the network and checks every configured measurement against it (bus and branch numbers). */
export function loadModel(cfg: Pick<EstimatorConfig, 'network' | 'measurements'>): GridModel {
  const net = loadNetwork(cfg.network.includes(',') ? cfg.network.split(',').map((s) => s.trim()) : cfg.network);
  const model = buildModel(net);
  prepareMeasurements(
    model,
    cfg.measurements.map((m) => ({ ...m, value: 0 })),
    net.baseMVA,
    'measurements',
  );
  return model;
}

/**
 * Why the configured measurements can never make the network observable, or null when they can (every
 * one of them present and fresh). The estimator then never estimates (each run: 'unobservable'); not a
 * config error (the mapping may be completed later), a warning of `gridedge config check`. A network
 * or measurement that does not load gives null: that is an error of the config, named there.
 */
export function observabilityWarning(cfg: Pick<EstimatorConfig, 'network' | 'measurements'>): string | null {
  let model: GridModel;
  let meas: ReturnType<typeof prepareMeasurements>;
  try {
    model = loadModel({ network: cfg.network, measurements: [] });
    meas = prepareMeasurements(model, cfg.measurements.map((m) => ({ ...m, value: 0 })), model.net.baseMVA, 'measurements');
  } catch (e) {
    if (e instanceof GridInputError) return null;
    throw e;
  }
  const r = checkObservability(model, meas);
  if (r.observable) return null;
  const buses = [...new Set([...r.unobservableAngles, ...r.unobservableMagnitudes])].sort((a, b) => a - b);
  const shown = buses.slice(0, 20).join(', ') + (buses.length > 20 ? ` and ${buses.length - 20} more` : '');
  return `the ${cfg.measurements.length} measurement${cfg.measurements.length === 1 ? '' : 's'} cannot make the network observable (buses ${shown} of ${model.n} unobservable even with every measurement present): the estimator will not estimate; map more measurements (${r.reason ?? 'unobservable'})`;
}

export const estimatorAnalyzer: AnalyzerSpec<EstimatorConfig> = {
  type: 'estimator',
  doc: 'WLS state estimation of a network model on live measurements, with bad-data removal; publishes bal/processed/ID/state and serves GET /api/v1/ID/state (ID: the analyzer id, estimator for the estimator section)',
  schema: ESTIMATOR_SCHEMA,
  metrics: ESTIMATOR_METRICS,
  validate(cfg, invalid = NO_INVALID_PATHS) {
    // The measurements are checked against the network when it is good; when some entries are bad by
    // themselves (reported by the schema), the others are still checked, so every problem is named at once.
    if (invalid('network')) return [];
    if (!cfg.network) return ['network: must name the network file (MATPOWER .m, JSON network or CGMES)'];
    const list: unknown[] = Array.isArray(cfg.measurements) ? cfg.measurements : [];
    const wellFormed = invalid('measurements') ? list.map((e) => { try { measurementList([e]); return true; } catch { return false; } }) : list.map(() => true);
    let model: GridModel;
    try {
      model = loadModel({ network: cfg.network, measurements: [] });
    } catch (e) {
      if (!(e instanceof GridInputError)) throw e;
      return e.problems.map((p) => `network: ${p}`);
    }
    const out: string[] = [];
    list.forEach((m, k) => {
      if (!wellFormed[k]) return;
      try {
        prepareMeasurements(model, [{ ...(m as object), value: 0 }], model.net.baseMVA, 'entry');
      } catch (e) {
        if (!(e instanceof GridInputError)) throw e;
        // "entry[0].bus: ..." is "measurements[k].bus: ...".
        out.push(...e.problems.map((p) => p.replace(/^entry\[0\]/, `measurements[${k}]`)));
      }
    });
    return out;
  },
  create: (config) => new EstimatorAnalyzer(config),
};
