/** `x` rounded to `digits` decimal places, as the benches report their figures. */
export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
