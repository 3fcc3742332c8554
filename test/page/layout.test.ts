/**
 * The computed network layout (algorithms/grid/layout.ts) and the estimator's network route:
 * positions for every bus, deterministic, a radial feeder drawn as a tree (depth across, leaves on
 * rows of their own, parents between their children), separate parts stacked; the route serves the
 * CGMES DiagramLayout positions of the CIGRE MV case as they are and a computed layout for a
 * MATPOWER case, which has none.
 */
import t, { type Test } from 'tap';
import { fastify } from 'fastify';
import { join } from 'node:path';
import { layoutNetwork } from '../../algorithms/grid/layout.js';
import { loadNetwork } from '../../algorithms/grid/load.js';
import { estimatorAnalyzer, type NetworkDrawing } from '../../agent/analyzers/estimator/index.js';
import { Counters } from '../../agent/core/counters.js';
import type { PluginContext } from '../../agent/core/plugin.js';
import { repoRoot } from '../helpers/agent-process.js';
import pino from 'pino';

const FIXTURES = join(repoRoot(), 'test', 'gridstate', 'fixtures');
const CIGRE = join(FIXTURES, 'cigre-mv');

t.test('a radial feeder is drawn as a tree from the reference bus', async (t) => {
  // 1 (ref) ─ 2 ─ 3 ─ 4, and 2 ─ 5 ─ 6, 5 ─ 7
  const buses = [1, 2, 3, 4, 5, 6, 7].map((bus) => ({ bus, ref: bus === 1 }));
  const branches = [
    { from: 1, to: 2 },
    { from: 2, to: 3 },
    { from: 3, to: 4 },
    { from: 2, to: 5 },
    { from: 5, to: 6 },
    { from: 7, to: 5 },
  ];
  const p = layoutNetwork(buses, branches);
  t.same(
    [...p.keys()].sort((a, b) => a - b),
    [1, 2, 3, 4, 5, 6, 7],
    'every bus placed',
  );
  t.same(
    [1, 2, 3, 4, 5, 6, 7].map((b) => p.get(b)!.x),
    [0, 1, 2, 3, 2, 3, 3],
    'x: branches from the reference bus',
  );
  // Leaves in depth-first order (children by bus number): 4, 6, 7 on rows 0, 1, 2.
  t.same([4, 6, 7].map((b) => p.get(b)!.y), [0, 1, 2], 'each leaf on its own row');
  t.equal(p.get(3)!.y, 0, 'a chain stays on its leaf row');
  t.equal(p.get(5)!.y, 1.5, 'a parent between its children');
  t.equal(p.get(2)!.y, (0 + 1.5) / 2, 'and so on up');
  t.equal(p.get(1)!.y, p.get(2)!.y, 'the root over its one child');
  t.same(layoutNetwork(buses, [...branches].reverse()), p, 'the same network in another branch order: the same drawing');
});

t.test('a mesh does not move buses; separate parts are stacked; the root is the reference bus', async (t) => {
  const buses = [{ bus: 10 }, { bus: 11, ref: true }, { bus: 12 }, { bus: 20 }, { bus: 21 }, { bus: 30 }];
  const branches = [
    { from: 11, to: 10 },
    { from: 11, to: 12 },
    { from: 10, to: 12 }, // closes a mesh
    { from: 20, to: 21 },
    { from: 30, to: 30 }, // a loop on one bus is ignored
    { from: 10, to: 99 }, // an unknown bus is ignored
  ];
  const p = layoutNetwork(buses, branches);
  t.same(p.get(11), { x: 0, y: 0.5 }, 'the reference bus roots its part');
  t.same([p.get(10), p.get(12)], [{ x: 1, y: 0 }, { x: 1, y: 1 }], 'its neighbours one step across');
  t.same([p.get(20), p.get(21)], [{ x: 0, y: 2 }, { x: 1, y: 2 }], 'the next part below');
  t.same(p.get(30), { x: 0, y: 3 }, 'a lone bus on a row of its own');
});

t.test('the CIGRE MV case without its diagram: every bus at its own point', async (t) => {
  const net = loadNetwork(CIGRE);
  const p = layoutNetwork(net.buses.map((b) => ({ bus: b.bus, ref: b.type === 'ref' })), net.branches.filter((b) => b.status));
  t.equal(p.size, net.buses.length, `${net.buses.length} buses placed`);
  const keys = new Set([...p.values()].map((q) => `${q.x},${q.y}`));
  t.equal(keys.size, net.buses.length, 'no two buses at the same point');
  const ref = net.buses.find((b) => b.type === 'ref')!;
  t.equal(p.get(ref.bus)!.x, 0, 'the reference bus at the left');
});

async function drawingOf(t: Test, network: string): Promise<{ status: number; body: NetworkDrawing }> {
  const a = estimatorAnalyzer.create({ id: 'estimator', network, intervalS: 5, maxAgeS: 15, alpha: 0.01, rnThreshold: 3, measurements: [] });
  const app = fastify();
  t.teardown(() => app.close());
  await app.register(async (scope) => a.routes!(scope), { prefix: '/api/v1' });
  const before = await app.inject({ method: 'GET', url: '/api/v1/estimator/network' });
  t.equal(before.statusCode, 503, 'before start: 503');
  t.match(before.headers['content-type'], /^application\/problem\+json/);
  await a.start!({ id: 'estimator', counters: new Counters(), log: pino({ level: 'silent' }), signal: new AbortController().signal } as unknown as PluginContext);
  const r = await app.inject({ method: 'GET', url: '/api/v1/estimator/network' });
  return { status: r.statusCode, body: r.json() as NetworkDrawing };
}

t.test('GET /api/v1/estimator/network: the diagram layout of CGMES, a computed one for MATPOWER', async (t) => {
  const cigre = await drawingOf(t, CIGRE);
  const net = loadNetwork(CIGRE);
  t.equal(cigre.status, 200);
  t.equal(cigre.body.layout, 'diagram', 'CGMES with a DiagramLayout profile: its positions');
  t.same(
    cigre.body.buses.map((b) => [b.bus, b.name, b.x, b.y]),
    net.buses.map((b) => [b.bus, b.name, b.x, b.y]),
    'every bus with its name and diagram position',
  );
  t.same(
    cigre.body.branches.map((b) => [b.branch, b.from, b.to]),
    net.branches.map((b, k) => [k + 1, b.from, b.to]),
    'every branch by its row',
  );

  const case14 = await drawingOf(t, join(FIXTURES, 'case14.m'));
  const net14 = loadNetwork(join(FIXTURES, 'case14.m'));
  t.equal(case14.body.layout, 'computed', 'MATPOWER has no positions: computed');
  const expected = layoutNetwork(net14.buses.map((b) => ({ bus: b.bus, ref: b.type === 'ref' })), net14.branches.filter((b) => b.status));
  t.same(
    case14.body.buses.map((b) => [b.bus, b.x, b.y]),
    net14.buses.map((b) => [b.bus, expected.get(b.bus)!.x, expected.get(b.bus)!.y]),
    'the positions of layoutNetwork',
  );
});
