/**
 * A diagram layout of a network that has no positions of its own (no CGMES DiagramLayout): computed
 * once, deterministic (the same network always gives the same drawing), no randomness.
 *
 * Each connected part is drawn as the breadth-first spanning tree from its root (the reference bus
 * when the part has one, else its lowest bus number): x is the distance from the root in branches,
 * y places every leaf of the tree on its own row (in depth-first order, children by bus number) and
 * every other bus at the mean row of its children, so a radial feeder comes out as a tidy tree.
 * Branches that close a mesh are drawn but do not move buses. Parts follow each other downwards,
 * the part holding the first bus in the list first.
 */

export interface LayoutBus {
  bus: number;
  /** The reference (slack) bus roots its part when present. */
  ref?: boolean;
}

export interface Point {
  x: number;
  y: number;
}

/** Positions by bus number, in abstract units (one branch = 1 in x, one row = 1 in y), y growing downwards. */
export function layoutNetwork(buses: readonly LayoutBus[], branches: readonly { from: number; to: number }[]): Map<number, Point> {
  const adj = new Map<number, number[]>();
  for (const b of buses) adj.set(b.bus, []);
  for (const br of branches) {
    if (br.from === br.to || !adj.has(br.from) || !adj.has(br.to)) continue;
    adj.get(br.from)!.push(br.to);
    adj.get(br.to)!.push(br.from);
  }
  for (const list of adj.values()) list.sort((a, b) => a - b);

  const out = new Map<number, Point>();
  const seen = new Set<number>();
  let row = 0;
  // Roots: reference buses first (in list order), then every bus not reached yet.
  const roots = [...buses.filter((b) => b.ref), ...buses].map((b) => b.bus);
  for (const root of roots) {
    if (seen.has(root)) continue;
    // Breadth-first spanning tree of this part.
    const children = new Map<number, number[]>();
    const depth = new Map<number, number>([[root, 0]]);
    seen.add(root);
    const queue = [root];
    for (let k = 0; k < queue.length; k++) {
      const u = queue[k]!;
      const kids: number[] = [];
      for (const v of adj.get(u)!) {
        if (seen.has(v)) continue;
        seen.add(v);
        depth.set(v, depth.get(u)! + 1);
        kids.push(v);
        queue.push(v);
      }
      children.set(u, kids);
    }
    // Rows: leaves in depth-first order, parents at the mean of their children (iterative post-order).
    const y = new Map<number, number>();
    const stack: { bus: number; next: number }[] = [{ bus: root, next: 0 }];
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const kids = children.get(top.bus)!;
      if (top.next < kids.length) {
        stack.push({ bus: kids[top.next++]!, next: 0 });
        continue;
      }
      stack.pop();
      y.set(top.bus, kids.length ? kids.reduce((s, c) => s + y.get(c)!, 0) / kids.length : row++);
    }
    for (const [bus, d] of depth) out.set(bus, { x: d, y: y.get(bus)! });
  }
  return out;
}
