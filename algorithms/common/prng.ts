/**
 * A seeded pseudo-random generator shared by the simulator and the tests, so a run is reproduced
 * from its seed.
 */

/** mulberry32: a small, fast, seedable PRNG (public domain). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
