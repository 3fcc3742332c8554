/**
 * What aggregators are given of a measurement processed in an ingest worker, when every aggregator
 * says which fields it reads (Aggregator.reads): a view holding the header fields (`device`, `ts`,
 * `quality`, `field_quality`, `reasons`) and, at each of those dotted paths, the sample a field reader
 * takes from the measurement (algorithms/stats/field-path.ts: a finite number, a boolean as 1 or 0,
 * NaN for anything else). The worker reads the samples into a Float64Array, which crosses to the main
 * thread with the header far cheaper than the whole measurement would as a structured clone; the main
 * thread builds the view from them. A field reader reads the same sample from the view as from the
 * measurement.
 *
 * No plan is made (the aggregators get the whole measurement) when one path is a prefix of another
 * ("v.a" and "v.a.mag": the view could not hold both) or a segment is `__proto__`.
 */
import type { Measurement } from '../../algorithms/common/measurement.js';
import { compileFieldPath, type FieldReader } from '../../algorithms/stats/field-path.js';

/** The header fields every aggregator may read, copied as they are (a structured clone). */
export interface ViewHead {
  device: string;
  ts: number;
  quality?: unknown;
  field_quality?: unknown;
  reasons?: unknown;
}

type Obj = Record<string, unknown>;
const hasOwn = Object.prototype.hasOwnProperty;
/** The header fields besides `device` and `ts`, copied when the measurement has them. */
const OPTIONAL_HEAD = ['quality', 'field_quality', 'reasons'] as const;

/** A path tree: a leaf holds the index of its sample. */
type Node = { leaf: number } | { kids: [string, Node][] };

export interface ViewPlan {
  /** Samples per measurement. */
  readonly width: number;
  /** The header of a processed measurement. */
  head(m: Measurement): ViewHead;
  /** Write the measurement's samples at `out[at .. at + width)`. */
  read(m: Measurement, out: Float64Array, at: number): void;
  /** The view of a measurement from its header and its samples at `values[at ..]`. */
  build(head: ViewHead, values: Float64Array, at: number): Measurement;
}

/** The plan for these paths (duplicates ignored), or null when they cannot form a view (see above). */
export function viewPlan(paths: readonly string[]): ViewPlan | null {
  const unique = [...new Set(paths)];
  const split = unique.map((p) => p.split('.'));
  if (split.some((s) => s.includes('__proto__'))) return null;
  for (const a of unique) for (const b of unique) if (b.startsWith(`${a}.`)) return null;
  const readers: FieldReader[] = unique.map((p) => compileFieldPath(p));
  const root = tree(split);
  const width = readers.length;
  return {
    width,
    head(m) {
      const h: ViewHead = { device: m.device, ts: m.ts };
      const o = m as unknown as Obj;
      for (const k of OPTIONAL_HEAD) if (hasOwn.call(o, k)) h[k] = o[k];
      return h;
    },
    read(m, out, at) {
      for (let k = 0; k < width; k++) out[at + k] = readers[k]!(m);
    },
    build(head, values, at) {
      // After the samples: a path naming a header field ("ts") reads the header's value either way.
      const view = fill(root, values, at) as Obj;
      view['device'] = head.device;
      view['ts'] = head.ts;
      for (const k of OPTIONAL_HEAD) if (hasOwn.call(head, k)) view[k] = head[k];
      return view as unknown as Measurement;
    },
  };
}

function tree(split: readonly string[][]): Node {
  const root: { kids: [string, Node][] } = { kids: [] };
  split.forEach((segs, index) => {
    let node = root;
    segs.forEach((s, k) => {
      if (k === segs.length - 1) {
        node.kids.push([s, { leaf: index }]);
        return;
      }
      let next = node.kids.find(([name]) => name === s)?.[1] as { kids: [string, Node][] } | undefined;
      if (!next) node.kids.push([s, (next = { kids: [] })]);
      node = next;
    });
  });
  return root;
}

/** Missing samples (NaN) are left out; a reader finds NaN either way. */
function fill(node: Node, values: Float64Array, at: number): unknown {
  if ('leaf' in node) return values[at + node.leaf];
  const o: Obj = {};
  for (const [name, kid] of node.kids) {
    const v = fill(kid, values, at);
    if (v !== v) continue;
    o[name] = v;
  }
  return o;
}
