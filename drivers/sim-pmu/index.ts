/**
 * sim-pmu: N simulated three-phase PMUs at a configurable rate. The embedded default's source and
 * the benchmarks' source. See README.md.
 */
import type { Driver, DriverSpec, Emit, PluginContext, PluginHealth } from '../../agent/core/plugin.js';
import { intRange, numberRange } from '../../agent/config/formats.js';
import { PmuSignal, type SignalParams } from './signal.js';

export interface SimPmuConfig extends SignalParams {
  id: string;
  /** Measurements per second per device. */
  rate: number;
  /** Number of devices; > 1 publishes as `<id>-1` ... `<id>-N`. */
  count: number;
}

const schema = {
  rate: { doc: 'Measurements per second per device', format: numberRange(0.01, 100_000), default: 50 },
  count: { doc: 'Number of simulated devices; with count > 1 they are named <id>-1 ... <id>-N', format: intRange(1, 10_000), default: 1 },
  nominalVoltage: { doc: 'Phase-to-neutral RMS voltage in V', format: numberRange(0.001, 1e7), default: 230 },
  current: { doc: 'Load current per phase in A RMS (each device scales it by 0.8-1.2)', format: numberRange(0, 1e6), default: 100 },
  powerFactor: { doc: 'Displacement power factor of the load (lagging)', format: numberRange(0, 1), default: 0.95 },
  unbalancePct: { doc: 'Voltage unbalance: phase b lower and c higher by this percentage', format: numberRange(0, 50), default: 1 },
  currentUnbalancePct: { doc: 'Current unbalance in percent', format: numberRange(0, 90), default: 5 },
  noisePct: { doc: 'Noise on magnitudes, 1 sigma, in percent of the value', format: numberRange(0, 50), default: 0.1 },
  frequency: { doc: 'Nominal frequency in Hz', format: numberRange(1, 1000), default: 50 },
  frequencyDrift: { doc: 'Peak slow frequency drift in Hz (one cycle per minute)', format: numberRange(0, 10), default: 0.02 },
  seed: { doc: 'PRNG seed: the same seed gives the same values', format: intRange(0, 2 ** 31 - 1), default: 1 },
};

/** At most this much simulated time is caught up after the event loop stalled. */
const MAX_CATCH_UP_US = 1_000_000;

class SimPmu implements Driver {
  private timer: NodeJS.Timeout | undefined;
  private state: PluginHealth['state'] = 'starting';
  private emitted = 0;
  private readonly devices: { name: string; signal: PmuSignal }[];
  private readonly periodUs: number;
  private nextTs = 0;

  constructor(private readonly cfg: SimPmuConfig) {
    this.devices = [];
    for (let k = 0; k < cfg.count; k++) {
      const name = cfg.count > 1 ? `${cfg.id}-${k + 1}` : cfg.id;
      this.devices.push({ name, signal: new PmuSignal(cfg, k) });
    }
    this.periodUs = Math.round(1e6 / cfg.rate);
  }

  async start(ctx: PluginContext, emit: Emit): Promise<void> {
    const now = Date.now() * 1000;
    // Align sample times to the period, as a PMU reporting at `rate` frames/s does.
    this.nextTs = Math.ceil(now / this.periodUs) * this.periodUs;
    const tickMs = Math.max(1, Math.min(100, this.periodUs / 1000));
    this.timer = setInterval(() => this.tick(emit), tickMs);
    this.state = 'running';
    ctx.signal.addEventListener('abort', () => void this.stop(), { once: true });
  }

  private tick(emit: Emit): void {
    const now = Date.now() * 1000;
    if (now - this.nextTs > MAX_CATCH_UP_US) {
      // The process was stalled (or the clock jumped forward): skip ahead rather than flood.
      this.nextTs = Math.ceil((now - MAX_CATCH_UP_US) / this.periodUs) * this.periodUs;
    } else if (this.nextTs - now > MAX_CATCH_UP_US) {
      // The clock jumped back: restart the sample clock from now.
      this.nextTs = Math.ceil(now / this.periodUs) * this.periodUs;
    }
    while (this.nextTs <= now) {
      for (const d of this.devices) {
        emit(d.signal.sample(d.name, this.nextTs));
        this.emitted++;
      }
      this.nextTs += this.periodUs;
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.state = 'stopped';
  }

  health(): PluginHealth {
    return {
      state: this.state,
      devices: this.devices.map((d) => d.name),
      info: { emitted: this.emitted, rate: this.cfg.rate },
      expectedIntervalMs: 1000 / this.cfg.rate,
    };
  }
}

export const simPmuDriver: DriverSpec<SimPmuConfig> = {
  type: 'sim-pmu',
  doc: 'Simulated three-phase PMUs (no hardware): realistic voltages, currents, frequency drift, noise',
  schema,
  create: (config) => new SimPmu(config),
};
