/** Durations as the config writes them: "500ms", "10s", "1m", "10min", "1h", "1d". */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration such as "500ms", "10s", "1m", "10min", "1h" in milliseconds; null when not one or not positive. */
export function parseDuration(s: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)$/.exec(s.trim());
  if (!m) return null;
  const out = Number(m[1]) * UNIT_MS[m[2]!]!;
  return out > 0 ? out : null;
}
