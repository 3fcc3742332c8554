/**
 * Which measurement field a driver may fill from a point (a register, an OPC UA node, a JSON path):
 * a dotted path; not a reserved name; electrical names keep their shape (`v.<a|b|c>.<mag|ang>`,
 * `p.<a|b|c|total>`, `freq` ...); `seq` is computed by the agent. Shared by every driver's config check.
 */
const FIELD_RE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$/;
const RESERVED = new Set(['device', 'ts', 'quality', 'reasons', 'field_quality']);
const SCALARS = new Set(['freq', 'rocof', 'v_total', 'i_total']);
const POWER = new Set(['p', 'q', 's', 'pf']);

/** Whether `field` (a dotted path) is one of the electrical quantities, which take finite numbers only. */
export function isElectricalField(field: string): boolean {
  const dot = field.indexOf('.');
  const top = dot < 0 ? field : field.slice(0, dot);
  return top === 'v' || top === 'i' || POWER.has(top) || SCALARS.has(top) || top === 'seq';
}

/**
 * Why `field` cannot be filled by a driver, or null. `bitSource` names the kind of source when it
 * carries one bit (a Modbus coil or discrete input): electrical quantities cannot come from one.
 */
export function driverFieldError(field: unknown, bitSource?: string): string | null {
  if (typeof field !== 'string' || !FIELD_RE.test(field)) return 'must be a dotted field path such as "v.a.mag", "p.total" or "breaker.q1"';
  const parts = field.split('.');
  const top = parts[0]!;
  if (RESERVED.has(top)) return `"${top}" is reserved in measurements`;
  if (parts.some((p) => p === '__proto__' || p === 'constructor' || p === 'prototype')) return 'must not use the names __proto__, constructor or prototype';
  if (isElectricalField(field) && bitSource) return `"${top}" is an electrical quantity and cannot come from a ${bitSource} (a bit)`;
  if (top === 'seq') return '"seq" is computed by the agent, not read';
  if (SCALARS.has(top) && parts.length !== 1) return `"${top}" is a number, not an object`;
  if ((top === 'v' || top === 'i') && !(parts.length === 3 && /^[abc]$/.test(parts[1]!) && /^(mag|ang)$/.test(parts[2]!)))
    return `must be ${top}.<a|b|c>.<mag|ang>`;
  if (POWER.has(top) && !(parts.length === 2 && /^(a|b|c|total)$/.test(parts[1]!))) return `must be ${top}.<a|b|c|total>`;
  return null;
}

/**
 * The phasor angles (`v.a.ang` ...) among `fields` whose magnitude (`v.a.mag`) is not among them: a
 * measurement's phasor needs its `mag`, so such an angle would be read and never published.
 */
export function anglesWithoutMagnitude(fields: Iterable<string>): { angle: string; magnitude: string }[] {
  const have = new Set(fields);
  const out: { angle: string; magnitude: string }[] = [];
  for (const f of have) {
    const m = /^([vi])\.([abc])\.ang$/.exec(f);
    if (m && !have.has(`${m[1]}.${m[2]}.mag`)) out.push({ angle: f, magnitude: `${m[1]}.${m[2]}.mag` });
  }
  return out;
}
