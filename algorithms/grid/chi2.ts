/**
 * The chi-square distribution: its CDF through the regularized lower incomplete gamma function
 * (series below a + 1, Lentz continued fraction above), and its quantile by bisection on the CDF.
 * Used by the estimator's bad-data test: J is compared with the (1 − alpha) quantile for m − n
 * degrees of freedom.
 */

/**
 * ln Γ(x), x > 0: the recurrence Γ(x) = Γ(x + k) / (x (x+1) ... (x+k−1)) lifts x to at least 10, where
 * Stirling's series with five correction terms is accurate to about 1e-15.
 */
export function lnGamma(x: number): number {
  let shift = 0;
  while (x < 10) {
    shift += Math.log(x);
    x += 1;
  }
  const z2 = 1 / (x * x);
  const series = (1 / x) * (1 / 12 - z2 * (1 / 360 - z2 * (1 / 1260 - z2 * (1 / 1680 - z2 / 1188))));
  return (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + series - shift;
}

/** Regularized lower incomplete gamma P(a, x). */
export function gammaP(a: number, x: number): number {
  if (x <= 0) return 0;
  const lnPre = a * Math.log(x) - x - lnGamma(a);
  if (x < a + 1) {
    let term = 1 / a;
    let sum = term;
    for (let k = 1; k < 10000; k++) {
      term *= x / (a + k);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-16) break;
    }
    return Math.exp(lnPre) * sum;
  }
  // Continued fraction for Q(a, x) (modified Lentz).
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return 1 - Math.exp(lnPre) * h;
}

export function chi2Cdf(x: number, dof: number): number {
  return gammaP(dof / 2, x / 2);
}

/** The p-quantile of the chi-square distribution with `dof` degrees of freedom. */
export function chi2Inv(p: number, dof: number): number {
  let lo = 0;
  let hi = dof + 20 * Math.sqrt(2 * dof) + 50;
  while (chi2Cdf(hi, dof) < p) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (chi2Cdf(mid, dof) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}
