/**
 * The plots' y-axis labels (`siTicks` in agent/http/page/format.ts, what uPlot's axis calls): one SI
 * prefix for the whole axis, from its largest tick, and the unit, so a 12 MW feeder reads "12 MW",
 * not 12000000; the fewest decimals that tell the ticks apart; no prefix below 1 and none without a unit.
 */
import t from 'tap';
import { siTicks } from '../../agent/http/page/format.js';

t.test('ticks of a feeder in W, var and VA read in kW, Mvar, GVA', async (t) => {
  t.same(siTicks([11_500_000, 12_000_000, 12_500_000], 'W'), ['11.5 MW', '12.0 MW', '12.5 MW'], 'a 12 MW feeder');
  t.same(siTicks([10_000_000, 12_000_000, 14_000_000], 'W'), ['10 MW', '12 MW', '14 MW'], 'whole megawatts without decimals');
  t.same(siTicks([0, 250, 500, 750, 1000], 'var'), ['0.00 kvar', '0.25 kvar', '0.50 kvar', '0.75 kvar', '1.00 kvar'], 'one prefix for every tick (the largest tick\'s)');
  t.same(siTicks([-2_000_000, -1_000_000, 0, 1_000_000], 'W'), ['-2 MW', '-1 MW', '0 MW', '1 MW'], 'export (negative power) scaled the same way');
  t.same(siTicks([1.2e9, 1.4e9], 'VA'), ['1.2 GVA', '1.4 GVA']);
  t.same(siTicks([0.1 + 0.2, 0.4], 'W'), ['0.3 W', '0.4 W'], 'floating-point noise does not add decimals');
  t.same(siTicks([11_999_999.999999998, 12_000_000.000000002], 'W'), ['12 MW', '12 MW'], 'nor at a megawatt');
});

t.test('volts, amperes, hertz: prefixes only from a thousand up', async (t) => {
  t.same(siTicks([229, 230, 231], 'V'), ['229 V', '230 V', '231 V']);
  t.same(siTicks([19_800, 20_000, 20_200], 'V'), ['19.8 kV', '20.0 kV', '20.2 kV'], 'a 20 kV bus');
  t.same(siTicks([49.95, 50, 50.05], 'Hz'), ['49.95 Hz', '50.00 Hz', '50.05 Hz']);
  t.same(siTicks([-0.05, 0, 0.05], 'Hz/s'), ['-0.05 Hz/s', '0.00 Hz/s', '0.05 Hz/s'], 'small values stay in the unit (no milli)');
});

t.test('no unit: plain numbers; missing ticks: empty labels', async (t) => {
  t.same(siTicks([0.9, 0.95, 1], ''), ['0.90', '0.95', '1.00'], 'a power factor');
  t.same(siTicks([10_000, 20_000], ''), ['10000', '20000'], 'no prefix without a unit');
  t.same(siTicks([null, 1000, 2000], 'W'), ['', '1 kW', '2 kW'], 'a null tick');
  t.same(siTicks([], 'W'), [], 'no ticks');
});
