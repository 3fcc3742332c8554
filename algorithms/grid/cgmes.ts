/**
 * CIM / CGMES 2.4.15 importer for the bus-branch model (RDF/XML profiles EQ, TP, SSH, SV and
 * DiagramLayout, given together; each object may be described in several profiles, by `rdf:ID` in
 * one and `rdf:about` in the others). Buses are the TopologicalNodes (joined where a closed switch
 * connects two of them), numbered 1..N in the natural order of their names (`N0`, `N1`, ..., `N10`).
 *
 * Read: BaseVoltage, TopologicalNode, Terminal (ConductingEquipment, TopologicalNode either way
 * round, `connected`), ACLineSegment (r, x, bch in Ω and S), PowerTransformer with two
 * PowerTransformerEnds (r, x, b on their ends, ratedU; RatioTapChanger steps), EnergyConsumer /
 * ConformLoad / NonConformLoad (SSH p, q; without them the SV SvPowerFlow of the load's terminal, with
 * a warning), ExternalNetworkInjection and SynchronousMachine (SSH p, q in load sign convention; the
 * highest referencePriority, else the first external injection, is the reference bus; a regulating
 * machine holds its RegulatingControl target), LinearShuntCompensator, switches (Switch, Breaker,
 * Disconnector, LoadBreakSwitch, Fuse) open or closed, SvVoltage (the buses' starting voltage), and
 * DiagramLayout points (bus positions for the page).
 * Not applied: the transformer vector group clock (phaseAngleClock), line conductance gch.
 * Errors name the file, the object and what is wrong: a missing reference, an unsupported class that
 * changes the electrical model, a transformer with three windings, a load without p and q.
 */
import { GridInputError } from './errors.js';
import { checkNetwork, type Branch, type Bus, type Gen, type Network } from './network.js';

interface CimObject {
  id: string;
  cls: string;
  file: string;
  line: number;
  props: Map<string, string[]>;
  refs: Map<string, string[]>;
  /** Where each reference was read ("file:line"), for messages about it. */
  refAt: Map<string, string>;
}

const UNSUPPORTED = new Set([
  'SeriesCompensator',
  'EquivalentBranch',
  'EquivalentInjection',
  'EquivalentShunt',
  'StaticVarCompensator',
  'AsynchronousMachine',
  'NonlinearShuntCompensator',
  'PhaseTapChangerLinear',
  'PhaseTapChangerSymmetrical',
  'PhaseTapChangerAsymmetrical',
  'PhaseTapChangerTabular',
  'ACDCConverter',
  'CsConverter',
  'VsConverter',
  'DCLineSegment',
  'EnergySource',
  'PetersenCoil',
  'ExternalNetworkInjection3W',
]);
const SWITCHES = new Set(['Switch', 'Breaker', 'Disconnector', 'LoadBreakSwitch', 'Fuse', 'GroundDisconnector']);
const LOADS = new Set(['EnergyConsumer', 'ConformLoad', 'NonConformLoad', 'StationSupply']);

const decode = (s: string): string =>
  s.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, e: string) =>
    e === 'lt' ? '<' : e === 'gt' ? '>' : e === 'amp' ? '&' : e === 'quot' ? '"' : e === 'apos' ? "'" : String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)),
  );

const localId = (ref: string): string => ref.replace(/^.*#/, '').replace(/^urn:uuid:/, '');

/** Reads the objects of one RDF/XML document into `store` (merging descriptions of the same id). */
function readRdf(text: string, file: string, store: Map<string, CimObject>): void {
  const tag = /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!\[CDATA\[[\s\S]*?\]\]>|<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[\w.:-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/g;
  const stack: { name: string; line: number; obj?: CimObject; textFrom: number }[] = [];
  let line = 1;
  let lastPos = 0;
  const lineAt = (pos: number): number => {
    for (let i = lastPos; i < pos; i++) if (text.charCodeAt(i) === 10) line++;
    lastPos = pos;
    return line;
  };
  let m: RegExpExecArray | null;
  let expectNext = 0;
  while ((m = tag.exec(text))) {
    const between = text.slice(expectNext, m.index);
    if (/</.test(between)) throw new GridInputError('syntax', `${file}:${lineAt(expectNext + between.indexOf('<'))}: malformed XML tag`);
    expectNext = tag.lastIndex;
    if (!m[2]) continue; // comment, declaration, CDATA
    const at = lineAt(m.index);
    const [, close, name, attrText, selfClose] = m as unknown as [string, string, string, string, string];
    if (close) {
      const open = stack.pop();
      if (!open || open.name !== name) throw new GridInputError('syntax', `${file}:${at}: </${name}> does not close ${open ? `<${open.name}> of line ${open.line}` : 'any open element'}`);
      // A property with text: depth 3 (rdf:RDF > object > property).
      if (stack.length === 2) {
        const obj = stack[1]!.obj;
        if (obj) {
          const value = decode(text.slice(open.textFrom, m.index).trim());
          const key = name.replace(/^[^:]*:/, '');
          const list = obj.props.get(key);
          if (list) list.push(value);
          else obj.props.set(key, [value]);
        }
      }
      continue;
    }
    const attrs = new Map<string, string>();
    for (const a of attrText.matchAll(/([\w.:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) attrs.set(a[1]!, decode(a[2] ?? a[3] ?? ''));
    const depth = stack.length;
    if (depth === 0 && name !== 'rdf:RDF') throw new GridInputError('syntax', `${file}:${at}: not an RDF/XML document (root <${name}>, expected <rdf:RDF>)`);
    let obj: CimObject | undefined;
    if (depth === 1 && name.startsWith('cim:')) {
      const rawId = attrs.get('rdf:ID') ?? attrs.get('rdf:about');
      if (!rawId) throw new GridInputError('format', `${file}:${at}: <${name}> has neither rdf:ID nor rdf:about`);
      const id = localId(rawId);
      const cls = name.slice(4);
      obj = store.get(id);
      if (!obj) {
        obj = { id, cls, file, line: at, props: new Map(), refs: new Map(), refAt: new Map() };
        store.set(id, obj);
      } else if (attrs.has('rdf:ID') && obj.cls !== cls) {
        throw new GridInputError('format', `${file}:${at}: ${id} is a ${cls} here and a ${obj.cls} in ${obj.file}:${obj.line}`);
      }
      if (attrs.has('rdf:ID')) {
        obj.file = file;
        obj.line = at;
      }
    }
    if (depth === 2 && stack[1]!.obj && attrs.has('rdf:resource')) {
      const o = stack[1]!.obj;
      const key = name.replace(/^[^:]*:/, '');
      const list = o.refs.get(key);
      if (list) list.push(localId(attrs.get('rdf:resource')!));
      else o.refs.set(key, [localId(attrs.get('rdf:resource')!)]);
      o.refAt.set(key, `${file}:${at}`);
    }
    if (!selfClose) stack.push({ name, line: at, ...(obj ? { obj } : {}), textFrom: tag.lastIndex });
  }
  if (stack.length) throw new GridInputError('syntax', `${file}:${stack.at(-1)!.line}: <${stack.at(-1)!.name}> is never closed`);
}

const naturalCompare = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });

export interface CgmesOptions {
  baseMVA?: number;
}

/** Imports CGMES profiles (all of one model) into a Network. */
export function parseCgmes(files: readonly { file: string; text: string }[], opts: CgmesOptions = {}): Network {
  const store = new Map<string, CimObject>();
  for (const f of files) readRdf(f.text, f.file, store);
  const baseMVA = opts.baseMVA ?? 100;
  const errs: string[] = [];
  const warnings: string[] = [];
  const where = (o: CimObject, key?: string) => `${(key && o.refAt.get(key)) ?? `${o.file}:${o.line}`}: ${o.cls} ${o.props.get('IdentifiedObject.name')?.[0] ?? o.id}`;
  const ofClass = (cls: string | Set<string>) => [...store.values()].filter((o) => (typeof cls === 'string' ? o.cls === cls : cls.has(o.cls)));
  const num = (o: CimObject, key: string, def?: number): number => {
    const v = o.props.get(key)?.[0];
    if (v === undefined) {
      if (def !== undefined) return def;
      errs.push(`${where(o)}: ${key} is missing`);
      return NaN;
    }
    const n = Number(v);
    if (!Number.isFinite(n)) errs.push(`${where(o)}: ${key} must be a number, got ${JSON.stringify(v)}`);
    return n;
  };
  const bool = (o: CimObject, key: string, def: boolean): boolean => {
    const v = o.props.get(key)?.[0];
    return v === undefined ? def : /^true$/i.test(v);
  };
  const ref = (o: CimObject, key: string, cls?: string | Set<string>, required = true): CimObject | undefined => {
    const id = o.refs.get(key)?.[0];
    if (id === undefined) {
      if (required) errs.push(`${where(o)}: ${key} is missing`);
      return undefined;
    }
    const t = store.get(id);
    if (!t || t.props.size + t.refs.size === 0) {
      errs.push(`${where(o, key)}: ${key} refers to #${id}, which no profile describes`);
      return undefined;
    }
    if (cls && !(typeof cls === 'string' ? t.cls === cls : cls.has(t.cls))) {
      errs.push(`${where(o, key)}: ${key} refers to #${id}, a ${t.cls}`);
      return undefined;
    }
    return t;
  };

  for (const o of store.values()) if (UNSUPPORTED.has(o.cls)) errs.push(`${where(o)}: unsupported class ${o.cls} (it changes the electrical model and is not imported)`);

  // Topological nodes and their base voltages.
  const tns = ofClass('TopologicalNode').sort((a, b) => naturalCompare(a.props.get('IdentifiedObject.name')?.[0] ?? a.id, b.props.get('IdentifiedObject.name')?.[0] ?? b.id));
  if (!tns.length) throw new GridInputError('format', `${files.map((f) => f.file).join(', ')}: no TopologicalNode (is the TP profile among the files?)`);
  const vBase = new Map<string, number>();
  for (const tn of tns) {
    let bv = ref(tn, 'TopologicalNode.BaseVoltage', 'BaseVoltage', false);
    if (!bv) {
      const vl = ref(tn, 'TopologicalNode.ConnectivityNodeContainer', undefined, false);
      bv = vl ? ref(vl, 'VoltageLevel.BaseVoltage', 'BaseVoltage', false) : undefined;
    }
    if (!bv) errs.push(`${where(tn)}: no BaseVoltage (neither TopologicalNode.BaseVoltage nor its VoltageLevel's)`);
    else vBase.set(tn.id, num(bv, 'BaseVoltage.nominalVoltage'));
  }

  // Terminals: equipment, node (Terminal.TopologicalNode or TopologicalNode.Terminal), connected.
  const termNode = new Map<string, string>();
  for (const tn of tns) for (const t of tn.refs.get('TopologicalNode.Terminal') ?? []) termNode.set(t, tn.id);
  const terminalsOf = new Map<string, CimObject[]>();
  for (const t of ofClass('Terminal')) {
    const tnId = t.refs.get('Terminal.TopologicalNode')?.[0];
    if (tnId !== undefined) {
      if (!store.get(tnId) || store.get(tnId)!.cls !== 'TopologicalNode') errs.push(`${where(t, 'Terminal.TopologicalNode')}: Terminal.TopologicalNode refers to #${tnId}, which is not a described TopologicalNode`);
      else termNode.set(t.id, tnId);
    }
    const eq = t.refs.get('Terminal.ConductingEquipment')?.[0];
    if (eq === undefined) {
      errs.push(`${where(t)}: Terminal.ConductingEquipment is missing`);
      continue;
    }
    if (!store.has(eq)) {
      errs.push(`${where(t, 'Terminal.ConductingEquipment')}: Terminal.ConductingEquipment refers to #${eq}, which no profile describes`);
      continue;
    }
    const list = terminalsOf.get(eq);
    if (list) list.push(t);
    else terminalsOf.set(eq, [t]);
  }
  for (const list of terminalsOf.values()) list.sort((a, b) => num(a, 'ACDCTerminal.sequenceNumber', 1) - num(b, 'ACDCTerminal.sequenceNumber', 1));
  const connected = (t: CimObject) => bool(t, 'ACDCTerminal.connected', true);
  const nodeOf = (t: CimObject, eq: CimObject): string | undefined => {
    const n = termNode.get(t.id);
    if (n === undefined && connected(t)) errs.push(`${where(eq)}: its terminal ${t.id} has no TopologicalNode (is the TP profile among the files?)`);
    return n;
  };
  const terms = (eq: CimObject, n: number): CimObject[] | undefined => {
    const list = terminalsOf.get(eq.id) ?? [];
    if (list.length !== n) {
      errs.push(`${where(eq)}: has ${list.length} terminals, expected ${n}`);
      return undefined;
    }
    return list;
  };

  // Buses: nodes joined by closed switches.
  const parent = new Map<string, string>(tns.map((t) => [t.id, t.id]));
  const find = (a: string): string => {
    while (parent.get(a) !== a) a = parent.get(a)!;
    return a;
  };
  for (const sw of ofClass(SWITCHES)) {
    const ts = terms(sw, 2);
    if (!ts || bool(sw, 'Switch.open', false) || !ts.every(connected)) continue;
    const [a, b] = ts.map((t) => nodeOf(t, sw));
    if (a && b) {
      const ra = find(a);
      const rb = find(b);
      if (ra !== rb) parent.set(tns.findIndex((t) => t.id === rb) < tns.findIndex((t) => t.id === ra) ? ra : rb, tns.findIndex((t) => t.id === rb) < tns.findIndex((t) => t.id === ra) ? rb : ra);
    }
  }
  const busOf = new Map<string, Bus>();
  const buses: Bus[] = [];
  for (const tn of tns) {
    const root = find(tn.id);
    if (root !== tn.id) continue;
    const vb = vBase.get(tn.id) ?? NaN;
    const b: Bus = { bus: buses.length + 1, type: 'pq', pd: 0, qd: 0, gs: 0, bs: 0, vm: 1, va_deg: 0, baseKV: vb, name: tn.props.get('IdentifiedObject.name')?.[0] ?? tn.id };
    const sv = ofClass('SvVoltage').find((s) => s.refs.get('SvVoltage.TopologicalNode')?.[0] === tn.id);
    if (sv && vb > 0) {
      const v = num(sv, 'SvVoltage.v', NaN);
      if (v > 0) b.vm = v / vb;
      b.va_deg = num(sv, 'SvVoltage.angle', 0);
    }
    buses.push(b);
    busOf.set(tn.id, b);
  }
  for (const tn of tns) if (!busOf.has(tn.id)) busOf.set(tn.id, busOf.get(find(tn.id))!);
  const busAt = (t: CimObject, eq: CimObject): Bus | undefined => {
    const n = nodeOf(t, eq);
    return n === undefined ? undefined : busOf.get(n);
  };

  const branches: Branch[] = [];
  const zBase = (kv: number) => (kv * kv) / baseMVA;
  for (const l of ofClass('ACLineSegment')) {
    const ts = terms(l, 2);
    if (!ts) continue;
    const [a, b] = ts.map((t) => busAt(t, l));
    if (!a || !b) continue;
    const bvRef = ref(l, 'ConductingEquipment.BaseVoltage', 'BaseVoltage', false);
    const kv = bvRef ? num(bvRef, 'BaseVoltage.nominalVoltage') : a.baseKV;
    const zb = zBase(kv);
    if (num(l, 'ACLineSegment.gch', 0) !== 0) warnings.push(`${where(l)}: line conductance gch is not modelled`);
    branches.push({ from: a.bus, to: b.bus, r: num(l, 'ACLineSegment.r') / zb, x: num(l, 'ACLineSegment.x') / zb, b: num(l, 'ACLineSegment.bch', 0) * zb, ratio: 0, angle_deg: 0, status: ts.every(connected) && a !== b, name: l.props.get('IdentifiedObject.name')?.[0] ?? l.id });
  }
  const endsOf = new Map<string, CimObject[]>();
  for (const e of ofClass('PowerTransformerEnd')) {
    const pt = ref(e, 'PowerTransformerEnd.PowerTransformer', 'PowerTransformer');
    if (!pt) continue;
    const list = endsOf.get(pt.id);
    if (list) list.push(e);
    else endsOf.set(pt.id, [e]);
  }
  const tapOf = new Map<string, CimObject>();
  for (const tc of ofClass('RatioTapChanger')) {
    const end = ref(tc, 'RatioTapChanger.TransformerEnd', 'PowerTransformerEnd');
    if (end) tapOf.set(end.id, tc);
  }
  for (const pt of ofClass('PowerTransformer')) {
    const ends = (endsOf.get(pt.id) ?? []).sort((a, b) => num(a, 'TransformerEnd.endNumber', 1) - num(b, 'TransformerEnd.endNumber', 1));
    if (ends.length !== 2) {
      errs.push(`${where(pt)}: has ${ends.length} PowerTransformerEnds; only two-winding transformers are imported`);
      continue;
    }
    const side = ends.map((e) => {
      const t = ref(e, 'TransformerEnd.Terminal', 'Terminal');
      const bus = t ? busAt(t, pt) : undefined;
      const kv = bus?.baseKV ?? NaN;
      const ratedU = num(e, 'PowerTransformerEnd.ratedU');
      const tc = tapOf.get(e.id);
      const tap = tc ? 1 + ((num(tc, 'TapChanger.step', num(tc, 'TapChanger.normalStep', 0)) - num(tc, 'TapChanger.neutralStep', 0)) * num(tc, 'RatioTapChanger.stepVoltageIncrement', 0)) / 100 : 1;
      return { e, t, bus, kv, ratedU, tap, r: num(e, 'PowerTransformerEnd.r', 0), x: num(e, 'PowerTransformerEnd.x', 0), b: num(e, 'PowerTransformerEnd.b', 0) };
    });
    const [s1, s2] = side as [(typeof side)[0], (typeof side)[0]];
    if (!s1.bus || !s2.bus) continue;
    // Impedances in Ω at each end's rated voltage, referred to the end-2 side and put in pu there.
    const refer = (s1.ratedU === 0 ? 1 : s2.ratedU / s1.ratedU) ** 2;
    const zb2 = zBase(s2.kv);
    const r = (s1.r * refer + s2.r) / zb2;
    const x = (s1.x * refer + s2.x) / zb2;
    const b = s1.b * zBase(s1.kv) + s2.b * zb2;
    const ratio = ((s1.ratedU / s1.kv) * s1.tap) / ((s2.ratedU / s2.kv) * s2.tap);
    if (side.some((s) => num(s.e, 'PowerTransformerEnd.phaseAngleClock', 0) !== 0))
      warnings.push(`${where(pt)}: the vector group phase shift (phaseAngleClock) is not applied`);
    branches.push({ from: s1.bus.bus, to: s2.bus.bus, r, x, b, ratio: Math.abs(ratio - 1) < 1e-12 ? 0 : ratio, angle_deg: 0, status: side.every((s) => !s.t || connected(s.t)), name: pt.props.get('IdentifiedObject.name')?.[0] ?? pt.id });
  }

  // Loads: SSH p, q; else the SV flow at their terminal.
  const svFlow = new Map<string, CimObject>();
  for (const f of ofClass('SvPowerFlow')) {
    const t = f.refs.get('SvPowerFlow.Terminal')?.[0];
    if (t) svFlow.set(t, f);
  }
  for (const ld of ofClass(LOADS)) {
    const ts = terms(ld, 1);
    if (!ts || !connected(ts[0]!)) continue;
    const bus = busAt(ts[0]!, ld);
    if (!bus) continue;
    let p = ld.props.get('EnergyConsumer.p')?.[0];
    let q = ld.props.get('EnergyConsumer.q')?.[0];
    if (p === undefined || q === undefined) {
      const f = svFlow.get(ts[0]!.id);
      if (!f) {
        errs.push(`${where(ld)}: no p and q (SSH EnergyConsumer.p/q), and no SvPowerFlow at its terminal`);
        continue;
      }
      p = f.props.get('SvPowerFlow.p')?.[0];
      q = f.props.get('SvPowerFlow.q')?.[0];
      warnings.push(`${where(ld)}: p and q taken from the SV profile (the SSH profile gives none)`);
    }
    bus.pd += Number(p);
    bus.qd += Number(q);
    if (!Number.isFinite(Number(p)) || !Number.isFinite(Number(q))) errs.push(`${where(ld)}: p and q must be numbers`);
  }
  for (const sh of ofClass('LinearShuntCompensator')) {
    const ts = terms(sh, 1);
    if (!ts || !connected(ts[0]!)) continue;
    const bus = busAt(ts[0]!, sh);
    if (!bus) continue;
    const n = num(sh, 'ShuntCompensator.sections', num(sh, 'ShuntCompensator.normalSections', 1));
    bus.bs += num(sh, 'LinearShuntCompensator.bPerSection', 0) * n * bus.baseKV * bus.baseKV;
    bus.gs += num(sh, 'LinearShuntCompensator.gPerSection', 0) * n * bus.baseKV * bus.baseKV;
  }

  // Sources: external injections and synchronous machines.
  const gens: Gen[] = [];
  const sources = [...ofClass('ExternalNetworkInjection'), ...ofClass('SynchronousMachine')];
  const prio = (o: CimObject) => (o.cls === 'ExternalNetworkInjection' ? num(o, 'ExternalNetworkInjection.referencePriority', 0) : num(o, 'SynchronousMachine.referencePriority', 0));
  const ranked = sources.filter((o) => prio(o) > 0).sort((a, b) => prio(a) - prio(b));
  const refSource = ranked[0] ?? sources.find((o) => o.cls === 'ExternalNetworkInjection') ?? sources[0];
  for (const s of sources) {
    const ts = terms(s, 1);
    if (!ts || !connected(ts[0]!)) continue;
    const bus = busAt(ts[0]!, s);
    if (!bus) continue;
    const p = s.cls === 'ExternalNetworkInjection' ? num(s, 'ExternalNetworkInjection.p', 0) : num(s, 'RotatingMachine.p', 0);
    const q = s.cls === 'ExternalNetworkInjection' ? num(s, 'ExternalNetworkInjection.q', 0) : num(s, 'RotatingMachine.q', 0);
    const rc = ref(s, 'RegulatingCondEq.RegulatingControl', 'RegulatingControl', false);
    const regulating = rc !== undefined && bool(s, 'RegulatingCondEq.controlEnabled', true) && bool(rc, 'RegulatingControl.enabled', true);
    const vg = regulating ? num(rc, 'RegulatingControl.targetValue') / bus.baseKV : bus.vm;
    gens.push({ bus: bus.bus, pg: -p, qg: -q, qmax: Infinity, qmin: -Infinity, vg, status: true, name: s.props.get('IdentifiedObject.name')?.[0] ?? s.id });
    if (s === refSource) bus.type = 'ref';
    else if (regulating && bus.type === 'pq') bus.type = 'pv';
  }

  // Diagram positions: a DiagramObject of the node itself, else the mean first point of its terminals'.
  const points = new Map<string, { x: number; y: number; seq: number }>();
  for (const p of ofClass('DiagramObjectPoint')) {
    const d = p.refs.get('DiagramObjectPoint.DiagramObject')?.[0];
    if (!d) continue;
    const seq = num(p, 'DiagramObjectPoint.sequenceNumber', 1);
    const prev = points.get(d);
    if (!prev || seq < prev.seq) points.set(d, { x: num(p, 'DiagramObjectPoint.xPosition', 0), y: num(p, 'DiagramObjectPoint.yPosition', 0), seq });
  }
  const posSum = new Map<Bus, { x: number; y: number; n: number; own: boolean }>();
  for (const d of ofClass('DiagramObject')) {
    const target = d.refs.get('DiagramObject.IdentifiedObject')?.[0];
    const pt = points.get(d.id);
    if (!target || !pt) continue;
    const own = busOf.get(target);
    const bus = own ?? (termNode.has(target) ? busOf.get(termNode.get(target)!) : undefined);
    if (!bus) continue;
    const s = posSum.get(bus);
    if (own && (!s || !s.own)) posSum.set(bus, { x: pt.x, y: pt.y, n: 1, own: true });
    else if (!own && (!s || !s.own)) posSum.set(bus, s ? { x: s.x + pt.x, y: s.y + pt.y, n: s.n + 1, own: false } : { x: pt.x, y: pt.y, n: 1, own: false });
  }
  for (const [bus, s] of posSum) {
    bus.x = s.x / s.n;
    bus.y = s.y / s.n;
  }

  if (!refSource) errs.push(`${files[0]!.file}: no ExternalNetworkInjection or SynchronousMachine to be the reference bus`);
  if (errs.length) throw new GridInputError(errs.some((e) => /unsupported class/.test(e)) ? 'unsupported' : 'reference', errs);
  const net: Network = { name: 'cgmes', baseMVA, buses, gens, branches, warnings };
  checkNetwork(net, files.map((f) => f.file).join(', '));
  return net;
}
