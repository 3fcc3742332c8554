/** Number and time formatting for the status page (plain text; the page escapes it). */
import { formatDuration } from '../../core/duration-text.js';
import { unsent } from '../../core/buffer-unsent.js';
import type { AgentStatus } from '../../core/status-types.js';

const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
export const DASH = '—';

/** About four significant digits, at most three decimals: 230.0, 10.00, 1.500, 132000. */
export function fmtNum(x: unknown): string {
  if (!isNum(x)) return x === undefined || x === null ? DASH : String(x);
  if (x === 0) return '0';
  const mag = Math.floor(Math.log10(Math.abs(x)));
  return x.toFixed(Math.max(0, Math.min(3, 3 - mag)));
}

/** A phasor as `mag∠ang°` (or the magnitude alone when the device reports no angle). */
export function fmtPhasor(p: unknown): string {
  if (typeof p !== 'object' || p === null) return DASH;
  const { mag, ang } = p as { mag?: unknown; ang?: unknown };
  if (mag === undefined) return DASH;
  return isNum(ang) ? `${fmtNum(mag)}∠${ang.toFixed(1)}°` : fmtNum(mag);
}

/** W, var, VA with SI prefixes: 1.992 kW. */
export function fmtPower(x: unknown, unit: string): string {
  if (!isNum(x)) return x === undefined || x === null ? DASH : String(x);
  const a = Math.abs(x);
  if (a >= 1e9) return `${fmtNum(x / 1e9)} G${unit}`;
  if (a >= 1e6) return `${fmtNum(x / 1e6)} M${unit}`;
  if (a >= 1e3) return `${fmtNum(x / 1e3)} k${unit}`;
  return `${fmtNum(x)} ${unit}`;
}

export function fmtFixed(x: unknown, decimals: number): string {
  if (!isNum(x)) return x === undefined || x === null ? DASH : String(x);
  return x.toFixed(decimals);
}

export function fmtBytes(n: unknown): string {
  if (!isNum(n)) return DASH;
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(2)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

/** 0.4 s, 12 s, 3 min 5 s, 2 h 10 min, 3 d 4 h (the agent's one formatter); a dash when not a number. */
export function fmtDuration(seconds: unknown): string {
  return isNum(seconds) ? formatDuration(seconds) : DASH;
}

/** Wall-clock ms as ISO time plus "… ago". */
export function fmtWhen(ms: unknown, nowMs: number): string {
  if (!isNum(ms)) return DASH;
  return `${new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z')} (${fmtDuration((nowMs - ms) / 1000)} ago)`;
}

/** The buffer's rows not yet sent by every forwarder, with the oldest one's age ("—" without forwarders). */
export function fmtUnsent(b: { cursors: readonly { lag: number; lagSeconds: number }[] }): string {
  const u = unsent(b);
  if (!u) return DASH;
  return u.rows === 0 ? '0' : `${u.rows} (${formatDuration(u.ageSeconds)})`;
}

/** The broker's listeners: plain, and the TLS one with its certificate's end date when it runs. */
export function fmtListeners(b: AgentStatus['broker']): string {
  const plain = `${b.host}:${b.port}`;
  if (!b.tls) return plain;
  return `${plain}; TLS ${b.tls.host}:${b.tls.port}${b.tls.clientCertificates ? ' (client certificates)' : ''}, certificate until ${b.tls.certificateExpires.slice(0, 10)}${b.tls.crlNextUpdate ? `, CRL until ${b.tls.crlNextUpdate.slice(0, 10)}` : ''}`;
}

/** Persistent sessions with how many are offline ("—" from an agent that does not count them). */
export function fmtSessions(b: AgentStatus['broker']): string {
  if (typeof b.sessions !== 'number') return DASH;
  return b.sessions > 0 && typeof b.offlineSessions === 'number' ? `${b.sessions} (${b.offlineSessions} offline)` : String(b.sessions);
}

/** The SI prefixes the plots' y-axes use for a unit (only upwards: 0.05 Hz/s stays 0.05, not 50 mHz/s). */
const SI_PREFIXES: readonly [number, string][] = [
  [1e12, 'T'],
  [1e9, 'G'],
  [1e6, 'M'],
  [1e3, 'k'],
];

/**
 * A plot axis's tick labels with one SI prefix for the whole axis, chosen by its largest tick:
 * `[11500000, 12000000, 12500000]` in W reads `11.5 MW`, `12.0 MW`, `12.5 MW`. Each label has as
 * many decimals as the ticks need to differ (uPlot's ticks are round numbers), at most 6. Without a
 * unit (pf, soc, any other value) the numbers are plain, with the same decimals. A missing tick
 * (null, not finite) is an empty label.
 */
export function siTicks(ticks: readonly (number | null | undefined)[], unit: string): string[] {
  const finite = ticks.filter((v): v is number => isNum(v));
  const largest = finite.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const [factor, prefix] = (unit && SI_PREFIXES.find(([f]) => largest >= f)) || [1, ''];
  const scaled = finite.map((v) => v / factor);
  // The fewest decimals that write every tick exactly (to a millionth of its last digit).
  let decimals = 0;
  while (decimals < 6 && !scaled.every((x) => Math.abs(x * 10 ** decimals - Math.round(x * 10 ** decimals)) < 1e-6)) decimals++;
  const suffix = unit ? ` ${prefix}${unit}` : '';
  return ticks.map((v) => (isNum(v) ? `${(Math.abs(v / factor) < 0.5 * 10 ** -decimals ? 0 : v / factor).toFixed(decimals)}${suffix}` : ''));
}
