/**
 * The modbus driver's config: its convict sub-schema, the element checks of its register lists, the
 * preset maps (YAML files in presets/), and the rules across keys (`validate`): exactly one of `tcp`
 * and `rtu`, no overlapping registers, no field twice, no register past the address space, known
 * presets. `resolveGroups` turns a checked entry into the polling groups the driver runs.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { ListCheckError, intRange, oneOf } from '../../agent/config/formats.js';
import { reconnectProblems, reconnectSchema, type ReconnectDelays } from '../../agent/config/reconnect.js';
import { NO_INVALID_PATHS, type InvalidPaths } from '../../agent/core/plugin.js';
import { anglesWithoutMagnitude, driverFieldError } from '../common/field-path.js';
import { BYTE_ORDERS, FUNCTIONS, REGISTER_TYPES, isBitFunction, registerCount, type ByteOrder, type ModbusFunction, type RegisterType } from './decode.js';

export interface RegisterSpec {
  /** Dotted path of the measurement field it fills (`v.a.mag`, `p.total`, `energy_wh`, `breaker.q1`). */
  field: string;
  function: ModbusFunction;
  /** Zero-based protocol address (register 30001 of a datasheet is input address 0). */
  address: number;
  /** Coils and discrete inputs (one bit, a boolean) leave type, order, scale and offset out; the defaults fill them. */
  type: RegisterType;
  order: ByteOrder;
  scale: number;
  offset: number;
}

export interface RtuConfig {
  /** Empty when the device is on TCP. */
  path: string;
  baud: number;
  parity: 'none' | 'even' | 'odd';
  stopBits: 1 | 2;
  dataBits: 7 | 8;
}

export interface GroupConfig {
  name: string;
  interval: number;
  preset?: string;
  registers?: Partial<RegisterSpec>[];
}

export interface ModbusConfig extends ReconnectDelays {
  id: string;
  /** Empty when the device is on a serial line. */
  tcp: string;
  rtu: RtuConfig;
  unit: number;
  interval: number;
  timeout: number;
  retries: number;
  maxGap: number;
  /** Empty: none. */
  preset: string;
  registers: Partial<RegisterSpec>[];
  groups: GroupConfig[];
}

/** A polling group with its registers complete (defaults and preset entries filled in). */
export interface ResolvedGroup {
  name: string;
  interval: number;
  registers: RegisterSpec[];
  /** Where each register came from, for messages: `registers[2]`, `groups[0].registers[1]`, `preset eastron-sdm630 registers[4]`. */
  origins: string[];
  /** The config path each register is reported at: its own entry, or the key naming its preset. */
  paths: string[];
}

export const REGISTER_DEFAULTS = { function: 'holding', type: 'u16', order: 'ABCD', scale: 1, offset: 0 } as const;

const show = (v: unknown): string => JSON.stringify(v) ?? String(v);

/** Why `field` cannot be filled from a register of `fn`, or null (drivers/common/field-path.ts). */
export function fieldError(field: unknown, fn: ModbusFunction): string | null {
  return driverFieldError(field, isBitFunction(fn) ? fn : undefined);
}

/** The keys of a register entry that only 16-bit registers have: a coil or discrete input is one bit, read as a boolean. */
const WORD_KEYS = ['type', 'order', 'scale', 'offset'] as const;

const BIT_NAMES: Record<string, string> = { coil: 'coil', discrete: 'discrete input' };

/**
 * Shape check of one register entry (defaults not yet applied): every problem, each a
 * "<sub-path> must ..." message (`at` is the entry's sub-path, e.g. `[2]` or `registers[2]`).
 */
function registerProblems(r: unknown, at: string): string[] {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return [`${at} must be an object { field, function, address, type, order, scale, offset }`];
  const out: string[] = [];
  const o = r as Record<string, unknown>;
  const known = new Set(['field', 'function', 'address', 'type', 'order', 'scale', 'offset']);
  for (const k of Object.keys(o)) if (!known.has(k)) out.push(`${at}.${k} unknown key (known: ${[...known].join(', ')})`);
  const fn = o['function'] ?? REGISTER_DEFAULTS.function;
  const fnKnown = (FUNCTIONS as readonly unknown[]).includes(fn);
  if (!fnKnown) out.push(`${at}.function must be one of ${FUNCTIONS.join(', ')}`);
  // With an unknown function the field is checked as for a register (the rules for bits only add to them).
  const fe = fnKnown ? fieldError(o['field'], fn as ModbusFunction) : driverFieldError(o['field']);
  if (fe) out.push(`${at}.field ${fe}`);
  const a = o['address'];
  if (typeof a !== 'number' || !Number.isInteger(a) || a < 0 || a > 65535) out.push(`${at}.address must be an integer between 0 and 65535 (the zero-based protocol address)`);
  if (fnKnown && isBitFunction(fn as ModbusFunction)) {
    for (const k of WORD_KEYS)
      if (o[k] !== undefined) out.push(`${at}.${k} must be left out for a ${BIT_NAMES[fn as string]} (one bit, read as a boolean: no type, byte order or scaling)`);
    return out;
  }
  if (o['type'] !== undefined && !(REGISTER_TYPES as readonly unknown[]).includes(o['type'])) out.push(`${at}.type must be one of ${REGISTER_TYPES.join(', ')}`);
  if (o['order'] !== undefined && !(BYTE_ORDERS as readonly unknown[]).includes(o['order'])) out.push(`${at}.order must be one of ${BYTE_ORDERS.join(', ')}`);
  for (const k of ['scale', 'offset'] as const)
    if (o[k] !== undefined && (typeof o[k] !== 'number' || !Number.isFinite(o[k]))) out.push(`${at}.${k} must be a finite number`);
  return out;
}

const registerList = (v: unknown): void => {
  if (!Array.isArray(v)) throw new Error('must be a list of registers { field, function, address, type, order, scale, offset }');
  const problems = v.flatMap((r, k) => registerProblems(r, `[${k}]`));
  if (problems.length) throw new ListCheckError(problems);
};

/** Shape check of one polling group: every problem, its registers' included, each "[k]... must ...". */
function groupProblems(g: unknown, k: number): string[] {
  if (typeof g !== 'object' || g === null || Array.isArray(g)) return [`[${k}] must be an object { name, interval, preset, registers }`];
  const out: string[] = [];
  const o = g as Record<string, unknown>;
  for (const key of Object.keys(o))
    if (!['name', 'interval', 'preset', 'registers'].includes(key)) out.push(`[${k}].${key} unknown key (known: name, interval, preset, registers)`);
  if (typeof o['name'] !== 'string' || !/^[A-Za-z0-9_-]{1,32}$/.test(o['name'])) out.push(`[${k}].name must be 1-32 letters, digits, "_" or "-"`);
  const iv = o['interval'];
  if (typeof iv !== 'number' || !Number.isInteger(iv) || iv < 10 || iv > 86_400_000) out.push(`[${k}].interval must be an integer between 10 and 86400000 (ms)`);
  if (o['preset'] !== undefined && (typeof o['preset'] !== 'string' || o['preset'] === '')) out.push(`[${k}].preset must be a preset name or a .yaml file`);
  if (o['registers'] !== undefined) {
    if (!Array.isArray(o['registers'])) out.push(`[${k}].registers must be a list of registers`);
    else (o['registers'] as unknown[]).forEach((r, j) => out.push(...registerProblems(r, `[${k}].registers[${j}]`)));
  }
  return out;
}

const groupList = (v: unknown): void => {
  if (!Array.isArray(v)) throw new Error('must be a list of polling groups { name, interval, preset, registers }');
  const problems = v.flatMap((g, k) => groupProblems(g, k));
  if (problems.length) throw new ListCheckError(problems);
};

const serialPath = (v: unknown): void => {
  if (v !== null && v !== undefined && typeof v !== 'string') throw new Error('must be the serial device, e.g. /dev/ttyUSB0 (empty: not on a serial line)');
};

const tcp = (v: unknown): void => {
  if (v === null || v === undefined || v === '') return;
  if (typeof v !== 'string' || parseHostPort(v) === null) throw new Error('must be "HOST:PORT", e.g. "10.0.0.5:502" (port 1-65535)');
};

const optionalPreset = (v: unknown): void => {
  if (v !== null && v !== undefined && typeof v !== 'string') throw new Error('must be a preset name or a .yaml file (empty: none)');
};

export const schema = {
  tcp: { doc: 'Modbus TCP server as "HOST:PORT" (e.g. "10.0.0.5:502"; empty: none); set this or rtu.path', format: tcp, default: '' },
  rtu: {
    path: {
      doc: 'Modbus RTU serial device (e.g. /dev/ttyUSB0; empty: none); set this or tcp. Devices on the same path share the line, one request at a time, and need the same settings',
      format: serialPath,
      default: '',
    },
    baud: { doc: 'Serial line speed', format: intRange(300, 921_600), default: 9600 },
    parity: { doc: 'Serial parity: none, even or odd', format: oneOf('none', 'even', 'odd'), default: 'none' },
    stopBits: { doc: 'Serial stop bits: 1 or 2', format: intRange(1, 2), default: 1 },
    dataBits: { doc: 'Serial data bits: 7 or 8', format: intRange(7, 8), default: 8 },
  },
  unit: { doc: 'Modbus unit (slave) id: 1-247 on RTU, 0-255 on TCP (gateways route by it)', format: intRange(0, 255), default: 1 },
  interval: { doc: 'Poll period of the default group (registers and preset) in ms', format: intRange(10, 86_400_000), default: 1000 },
  timeout: { doc: 'Time to wait for each response in ms', format: intRange(10, 60_000), default: 1000 },
  retries: { doc: 'Extra attempts after a timeout or a garbled response (not after a Modbus exception)', format: intRange(0, 10), default: 1 },
  maxGap: { doc: 'Unmapped registers (x16 bits for coils) read through to merge two requests into one; 0 merges only adjacent registers', format: intRange(0, 124), default: 8 },
  preset: { doc: 'Register map of a known meter (file name in drivers/modbus/presets without .yaml, or a path to a .yaml map; empty: none), polled at interval', format: optionalPreset, default: '' },
  registers: {
    doc: 'Register map of the default group: { field, function (holding|input|coil|discrete), address (zero-based), type (u16|i16|u32|i32|f32|f64), order (ABCD|CDAB|BADC|DCBA), scale, offset }; value = raw x scale + offset; coil and discrete give a boolean and take no type, order, scale or offset',
    format: registerList,
    default: [] as Partial<RegisterSpec>[],
  },
  groups: { doc: 'More polling groups, each { name, interval (ms), preset, registers } with its own period', format: groupList, default: [] as GroupConfig[] },
  ...reconnectSchema('doubling'),
};

/** `"HOST:PORT"` → parts, or null. IPv6 hosts go in brackets: `"[::1]:502"`. */
export function parseHostPort(s: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:\s/]+)):(\d{1,5})$/.exec(s);
  if (!m) return null;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return null;
  return { host: (m[1] ?? m[2])!, port };
}

// --- presets ---------------------------------------------------------------------------------------

export interface Preset {
  name: string;
  manufacturer: string;
  model: string;
  datasheet: string;
  registers: RegisterSpec[];
}

/** The presets folder: next to this module in the source tree, or the source folder from dist/. */
export function presetDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const beside = join(here, 'presets');
  if (existsSync(beside)) return beside;
  return resolve(here, '..', '..', '..', 'drivers', 'modbus', 'presets');
}

const presetCache = new Map<string, Preset>();

/**
 * Load a preset by name (a file `<name>.yaml` in the presets folder) or by path (ending in .yaml or
 * .yml). Throws an Error naming the preset and what is wrong with it.
 */
export function loadPreset(ref: string): Preset {
  const byPath = /\.ya?ml$/i.test(ref);
  if (!byPath && !/^[A-Za-z0-9_-]+$/.test(ref)) throw new Error(`unknown preset ${show(ref)} (names are letters, digits, "_" and "-"; or give a .yaml file)`);
  const file = byPath ? (isAbsolute(ref) ? ref : resolve(ref)) : join(presetDir(), `${ref}.yaml`);
  const cached = presetCache.get(file);
  if (cached) return cached;
  if (!existsSync(file)) {
    if (byPath) throw new Error(`preset file ${file} does not exist`);
    throw new Error(`unknown preset ${show(ref)} (known: ${listPresets().join(', ')})`);
  }
  let doc: unknown;
  try {
    doc = yaml.load(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`preset ${show(ref)} is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new Error(`preset ${show(ref)} must be a YAML mapping of ${[...PRESET_KEYS].join(', ')}, got ${Array.isArray(doc) ? 'a list' : doc === null || doc === undefined ? 'an empty file' : show(doc)}`);
  const o = doc as Record<string, unknown>;
  // A misspelt key (`defualts`) would otherwise be ignored, and its registers read with other defaults.
  const unknown = Object.keys(o).filter((k) => !PRESET_KEYS.has(k));
  if (unknown.length) throw new Error(`preset ${show(ref)}: ${unknown.map((k) => `${k} unknown key`).join('; ')} (known: ${[...PRESET_KEYS].join(', ')})`);
  for (const k of ['manufacturer', 'model', 'datasheet'])
    if (typeof o[k] !== 'string' || o[k] === '') throw new Error(`preset ${show(ref)}: ${k} must be a non-empty string`);
  const problems: string[] = [];
  const defaults = presetDefaults(o['defaults'], problems);
  const list = o['registers'];
  if (!Array.isArray(list) || list.length === 0) problems.push('registers must be a non-empty list');
  const regs: RegisterSpec[] = [];
  (Array.isArray(list) ? (list as unknown[]) : []).forEach((r, k) => {
    const own = typeof r === 'object' && r !== null && !Array.isArray(r) ? (r as Record<string, unknown>) : {};
    // The defaults' type, order, scale and offset are not applied to a coil or discrete input.
    const fn = own['function'] ?? defaults['function'];
    const inherited = { ...defaults };
    if (fn === 'coil' || fn === 'discrete') for (const key of WORD_KEYS) delete inherited[key];
    const merged = typeof r === 'object' && r !== null && !Array.isArray(r) ? { ...inherited, ...own } : r;
    const found = registerProblems(merged, `registers[${k}]`);
    problems.push(...found);
    if (found.length === 0) regs.push(complete(merged as Record<string, unknown>));
  });
  if (problems.length) throw new Error(`preset ${show(ref)}: ${problems.join('; ')}`);
  const p: Preset = { name: ref, manufacturer: o['manufacturer'] as string, model: o['model'] as string, datasheet: o['datasheet'] as string, registers: regs };
  presetCache.set(file, p);
  return p;
}

/** The keys of a preset file. */
const PRESET_KEYS = new Set(['manufacturer', 'model', 'datasheet', 'defaults', 'registers']);
/** The keys a preset's `defaults` may set (every register key but its own field and address). */
const DEFAULT_KEYS = ['function', 'type', 'order', 'scale', 'offset'] as const;

/**
 * A preset's `defaults`, checked on their own: each problem is pushed as `defaults.<key> ...` (once,
 * where it is, rather than on every register that inherits it), and only the good keys are returned
 * to be merged into the registers.
 */
function presetDefaults(v: unknown, problems: string[]): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) {
    problems.push(`defaults must be a mapping of ${DEFAULT_KEYS.join(', ')}, got ${show(v)}`);
    return {};
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    let bad: string | undefined;
    if (!(DEFAULT_KEYS as readonly string[]).includes(k)) bad = `unknown key (known: ${DEFAULT_KEYS.join(', ')}; field and address belong to each register)`;
    else if (k === 'function' && !(FUNCTIONS as readonly unknown[]).includes(x)) bad = `must be one of ${FUNCTIONS.join(', ')}`;
    else if (k === 'type' && !(REGISTER_TYPES as readonly unknown[]).includes(x)) bad = `must be one of ${REGISTER_TYPES.join(', ')}`;
    else if (k === 'order' && !(BYTE_ORDERS as readonly unknown[]).includes(x)) bad = `must be one of ${BYTE_ORDERS.join(', ')}`;
    else if ((k === 'scale' || k === 'offset') && (typeof x !== 'number' || !Number.isFinite(x))) bad = 'must be a finite number';
    if (bad) problems.push(`defaults.${k} ${bad}, got ${show(x)}`);
    else out[k] = x;
  }
  return out;
}

/** The preset names in the presets folder. */
export function listPresets(): string[] {
  try {
    return readdirSync(presetDir())
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => f.slice(0, -5))
      .sort();
  } catch {
    return [];
  }
}

function complete(r: Partial<RegisterSpec> | Record<string, unknown>): RegisterSpec {
  const o = r as Partial<RegisterSpec>;
  return {
    field: o.field!,
    function: o.function ?? REGISTER_DEFAULTS.function,
    address: o.address!,
    type: o.type ?? REGISTER_DEFAULTS.type,
    order: o.order ?? REGISTER_DEFAULTS.order,
    scale: o.scale ?? REGISTER_DEFAULTS.scale,
    offset: o.offset ?? REGISTER_DEFAULTS.offset,
  };
}

/** Registers (or bits) a register entry occupies. */
export function width(r: RegisterSpec): number {
  return isBitFunction(r.function) ? 1 : registerCount(r.type);
}

/**
 * The polling groups of an entry, and every problem across its keys as "path: message". The default
 * group ("default", at `interval`) holds `preset` and `registers`; each entry of `groups` adds one.
 * Registers, presets, groups and group names that are `invalid` by themselves are left out.
 */
export function resolveGroups(cfg: ModbusConfig, invalid: InvalidPaths = NO_INVALID_PATHS): { groups: ResolvedGroup[]; problems: string[] } {
  const problems: string[] = [];
  const groups: ResolvedGroup[] = [];
  const add = (name: string, interval: number, preset: string | null | undefined, regs: readonly Partial<RegisterSpec>[], at: string, presetAt: string) => {
    const g: ResolvedGroup = { name, interval, registers: [], origins: [], paths: [] };
    if (preset && !invalid(presetAt)) {
      try {
        const p = loadPreset(preset);
        p.registers.forEach((r, k) => {
          g.registers.push(r);
          g.origins.push(`preset ${p.name} registers[${k}]`);
          g.paths.push(presetAt);
        });
      } catch (e) {
        problems.push(`${presetAt}: ${(e as Error).message}`);
      }
    }
    regs.forEach((r, k) => {
      if (invalid(`${at}[${k}]`)) return;
      g.registers.push(complete(r));
      g.origins.push(`${at}[${k}]`);
      g.paths.push(`${at}[${k}]`);
    });
    groups.push(g);
  };
  const listOf = <T>(v: T[] | undefined): T[] => (Array.isArray(v) ? v : []);
  add('default', cfg.interval, cfg.preset, listOf(cfg.registers), 'registers', 'preset');
  const names = new Set(['default']);
  listOf(cfg.groups).forEach((g, k) => {
    if (typeof g !== 'object' || g === null || Array.isArray(g)) return; // reported by the groups check
    if (!invalid(`groups[${k}].name`)) {
      if (names.has(g.name)) problems.push(`groups[${k}].name: ${show(g.name)} is used twice (the registers and preset at the top level are group "default")`);
      names.add(g.name);
    }
    add(g.name, g.interval, g.preset, listOf(g.registers), `groups[${k}].registers`, `groups[${k}].preset`);
  });

  // Across every group of the device: addresses inside the address space, no overlaps, fields once
  // and not one inside another.
  type Placed = { r: RegisterSpec; origin: string; path: string };
  const all: Placed[] = groups.flatMap((g) => g.registers.map((r, k) => ({ r, origin: g.origins[k]!, path: g.paths[k]! })));
  const pathOf = new Map(all.map((p) => [p.origin, p.path]));
  const originPath = (origin: string) => pathOf.get(origin) ?? origin;
  for (const p of all) {
    const end = p.r.address + width(p.r) - 1;
    if (end > 65535) problems.push(`${originPath(p.origin)}: ${p.r.type} at address ${p.r.address} runs past the last address 65535 (${p.origin})`);
  }
  for (const f of FUNCTIONS) {
    const sorted = all.filter((p) => p.r.function === f).sort((a, b) => a.r.address - b.r.address);
    for (let k = 1; k < sorted.length; k++) {
      const prev = sorted[k - 1]!;
      const cur = sorted[k]!;
      const prevEnd = prev.r.address + width(prev.r) - 1;
      if (cur.r.address <= prevEnd)
        problems.push(
          `${originPath(cur.origin)}: ${f} ${cur.r.address}..${cur.r.address + width(cur.r) - 1} (${cur.r.field}) overlaps ${f} ${prev.r.address}..${prevEnd} (${prev.r.field}, ${prev.origin})`,
        );
    }
  }
  const seen = new Map<string, string>();
  for (const p of all) {
    const first = seen.get(p.r.field);
    if (first !== undefined) problems.push(`${originPath(p.origin)}.field: ${show(p.r.field)} is filled twice (also by ${first})`);
    else seen.set(p.r.field, p.origin);
  }
  const fields = [...seen.keys()].sort();
  for (let k = 1; k < fields.length; k++) {
    const outer = fields[k - 1]!;
    const inner = fields[k]!;
    if (inner.startsWith(`${outer}.`))
      problems.push(`${originPath(seen.get(inner)!)}.field: ${show(inner)} lies inside ${show(outer)}, which is a value (${seen.get(outer)})`);
  }
  // A phasor is published with its magnitude (a measurement's `v.a` needs `mag`), and each poll
  // publishes its own group's fields: an angle without its magnitude in the same group would be
  // read at every poll and never published.
  for (const g of groups)
    for (const { angle, magnitude } of anglesWithoutMagnitude(g.registers.map((r) => r.field))) {
      const k = g.registers.findIndex((r) => r.field === angle);
      problems.push(
        `${originPath(g.origins[k]!)}.field: ${show(angle)} has no ${show(magnitude)} in its polling group ${show(g.name)}: a phasor is published with its magnitude, so the angle alone would never be published; read the magnitude in the same group`,
      );
    }
  return { groups: groups.filter((g) => g.registers.length > 0), problems };
}

/**
 * Rules across keys: "path: message" each (the loader prefixes the entry's own path). A rule that
 * reads a key `invalid` by itself is left out; bad registers are left out of the register rules.
 */
export function validate(cfg: ModbusConfig, invalid: InvalidPaths = NO_INVALID_PATHS): string[] {
  const problems: string[] = [];
  const hasTcp = typeof cfg.tcp === 'string' && cfg.tcp !== '';
  const hasRtu = typeof cfg.rtu?.path === 'string' && cfg.rtu.path !== '';
  const endpointValid = !invalid('tcp') && !invalid('rtu.path');
  if (endpointValid && hasTcp === hasRtu) problems.push(`tcp: set exactly one of tcp ("HOST:PORT") and rtu.path (a serial device), ${hasTcp ? 'got both' : 'got neither'}`);
  if (endpointValid && !invalid('unit') && hasRtu && (cfg.unit < 1 || cfg.unit > 247)) problems.push(`unit: must be between 1 and 247 on a serial line, got ${cfg.unit}`);
  problems.push(...reconnectProblems(cfg, invalid));
  const { groups, problems: more } = resolveGroups(cfg, invalid);
  problems.push(...more);
  const mapValid = !invalid('registers') && !invalid('preset') && !invalid('groups');
  if (mapValid && more.length === 0 && groups.length === 0) problems.push('registers: no registers to read: give registers, a preset, or groups with registers');
  return problems;
}
