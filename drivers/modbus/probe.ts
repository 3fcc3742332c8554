/**
 * The technician's probe (`gridedge modbus read`): one read request, its raw registers or bits and
 * the values decoded from them, and errors that say what to check. Used by agent/cli/commands/modbus.ts.
 */
import { statSync } from 'node:fs';
import { BYTE_ORDERS, FUNCTIONS, REGISTER_TYPES, decodeRaw, isBitFunction, registerCount, type ByteOrder, type ModbusFunction, type RegisterType } from './decode.js';
import { MAX_BITS, MAX_REGISTERS } from './plan.js';
import { parseHostPort } from './config.js';
import { EXCEPTION_NAMES, ModbusFailure, ModbusLine, hostPort, type Endpoint } from './line.js';

export interface ProbeRequest {
  endpoint: Endpoint;
  unit: number;
  function: ModbusFunction;
  address: number;
  count: number;
  type?: RegisterType;
  order: ByteOrder;
  timeoutMs: number;
}

export interface ProbeResult {
  endpoint: string;
  unit: number;
  function: ModbusFunction;
  address: number;
  count: number;
  /** The words read (holding/input) or the bits (coil/discrete). */
  raw: number[] | boolean[];
  /** Decoded values by address: with `type`, one per value of that type; without, each register as u16. */
  values: { address: number; value: number | boolean }[];
  type?: RegisterType;
  order?: ByteOrder;
}

export type ProbeOutcome = { ok: true; result: ProbeResult } | { ok: false; exit: 1 | 2; message: string };

const int = (v: string): number | null => {
  const s = v.trim();
  const n = /^0x[0-9a-f]+$/i.test(s) ? parseInt(s, 16) : /^\d+$/.test(s) ? Number(s) : NaN;
  return Number.isSafeInteger(n) ? n : null;
};

/** Check the probe's options; an error names the option. */
export function parseProbe(o: Record<string, string | boolean | undefined>): ProbeRequest | string {
  const str = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
  const tcp = str('tcp');
  const rtu = str('rtu');
  if ((tcp === undefined) === (rtu === undefined)) return 'give exactly one of --tcp HOST:PORT and --rtu DEVICE';
  let endpoint: Endpoint;
  if (tcp !== undefined) {
    const hp = parseHostPort(tcp.includes(':') || tcp.startsWith('[') ? tcp : `${tcp}:502`);
    if (!hp) return `--tcp: must be HOST:PORT (e.g. 10.0.0.5:502), got ${JSON.stringify(tcp)}`;
    const serialOnly = ['baud', 'parity', 'stop-bits'].filter((k) => str(k) !== undefined);
    if (serialOnly.length) return `--${serialOnly[0]}: applies to --rtu (a serial line), not to --tcp`;
    endpoint = { kind: 'tcp', ...hp };
  } else {
    const baud = str('baud') === undefined ? 9600 : int(str('baud')!);
    if (baud === null || baud < 300 || baud > 921600) return `--baud: must be an integer between 300 and 921600, got ${JSON.stringify(str('baud'))}`;
    const parity = str('parity') ?? 'none';
    if (!['none', 'even', 'odd'].includes(parity)) return `--parity: must be none, even or odd, got ${JSON.stringify(parity)}`;
    const stopBits = str('stop-bits') === undefined ? 1 : int(str('stop-bits')!);
    if (stopBits !== 1 && stopBits !== 2) return `--stop-bits: must be 1 or 2, got ${JSON.stringify(str('stop-bits'))}`;
    const kind = fileKind(rtu!);
    if (kind !== 'missing' && kind !== 'char')
      return `--rtu: must be a serial device (a character device such as /dev/ttyUSB0), and ${rtu} is ${kind === 'dir' ? 'a folder' : 'not one'}`;
    endpoint = { kind: 'rtu', path: rtu!, baud, parity: parity as 'none' | 'even' | 'odd', stopBits, dataBits: 8 };
  }
  const unit = int(str('unit') ?? '1');
  const maxUnit = endpoint.kind === 'rtu' ? 247 : 255;
  if (unit === null || unit < (endpoint.kind === 'rtu' ? 1 : 0) || unit > maxUnit)
    return `--unit: must be an integer between ${endpoint.kind === 'rtu' ? 1 : 0} and ${maxUnit}, got ${JSON.stringify(str('unit'))}`;
  const fn = str('function') ?? 'holding';
  if (!(FUNCTIONS as readonly string[]).includes(fn)) return `--function: must be one of ${FUNCTIONS.join(', ')}, got ${JSON.stringify(fn)}`;
  if (str('address') === undefined) return '--address: is required (a zero-based address between 0 and 65535, decimal or 0x hex)';
  const address = int(str('address')!);
  if (address === null || address < 0 || address > 65535) return `--address: must be a zero-based address between 0 and 65535 (decimal or 0x hex), got ${JSON.stringify(str('address'))}`;
  const type = str('type');
  if (type !== undefined && !(REGISTER_TYPES as readonly string[]).includes(type)) return `--type: must be one of ${REGISTER_TYPES.join(', ')}, got ${JSON.stringify(type)}`;
  if (type !== undefined && isBitFunction(fn as ModbusFunction)) return `--type: ${fn} reads bits; --type applies to holding and input registers`;
  const order = str('order') ?? 'ABCD';
  if (!(BYTE_ORDERS as readonly string[]).includes(order)) return `--order: must be one of ${BYTE_ORDERS.join(', ')}, got ${JSON.stringify(order)}`;
  const width = type ? registerCount(type as RegisterType) : 1;
  const count = str('count') === undefined ? width : int(str('count')!);
  const limit = isBitFunction(fn as ModbusFunction) ? MAX_BITS : MAX_REGISTERS;
  if (count === null || count < 1 || count > limit) return `--count: must be an integer between 1 and ${limit} for ${fn}, got ${JSON.stringify(str('count'))}`;
  if (count % width !== 0) return `--count: ${count} registers do not hold whole ${type} values (${width} registers each)`;
  if (address + count - 1 > 65535) return `--count: address ${address} + ${count} runs past the last address 65535`;
  const timeoutMs = str('timeout') === undefined ? 1000 : int(str('timeout')!);
  if (timeoutMs === null || timeoutMs < 10 || timeoutMs > 60000) return `--timeout: must be milliseconds between 10 and 60000, got ${JSON.stringify(str('timeout'))}`;
  return { endpoint, unit, function: fn as ModbusFunction, address, count, type: type as RegisterType | undefined, order: order as ByteOrder, timeoutMs };
}

const NAMES: Record<ModbusFunction, string> = { holding: 'holding register', input: 'input register', coil: 'coil', discrete: 'discrete input' };

/** Run one read. Never throws: a failure comes back with its exit code and a message saying what to check. */
export async function probe(req: ProbeRequest): Promise<ProbeOutcome> {
  const line = new ModbusLine(req.endpoint, { reconnectMinMs: 10, reconnectMaxMs: 10, connectTimeoutMs: Math.max(3000, req.timeoutMs) });
  const where = line.where;
  try {
    const raw = await line.read(req.unit, req.function, req.address, req.count, req.timeoutMs);
    const values: ProbeResult['values'] = [];
    if (isBitFunction(req.function)) (raw as boolean[]).forEach((b, k) => values.push({ address: req.address + k, value: b }));
    else {
      const type = req.type ?? 'u16';
      const w = registerCount(type);
      for (let k = 0; k + w <= raw.length; k += w) values.push({ address: req.address + k, value: decodeRaw(raw as number[], k, type, req.order) });
    }
    const result: ProbeResult = { endpoint: where, unit: req.unit, function: req.function, address: req.address, count: req.count, raw, values };
    if (req.type) {
      result.type = req.type;
      result.order = req.order;
    }
    return { ok: true, result };
  } catch (e) {
    const f = e instanceof ModbusFailure ? e : new ModbusFailure('disconnected', String(e));
    const what = `${NAMES[req.function]} ${req.address}${req.count > 1 ? `..${req.address + req.count - 1}` : ''}`;
    switch (f.kind) {
      case 'exception':
        return {
          ok: false,
          exit: 1,
          message: `exception ${f.code} (${EXCEPTION_NAMES[f.code!] ?? 'unknown'}) at ${what} of unit ${req.unit} — ${exceptionHint(f.code!)}`,
        };
      case 'timeout':
        return {
          ok: false,
          exit: 2,
          message:
            req.endpoint.kind === 'tcp'
              ? `no answer from unit ${req.unit} at ${where} within ${req.timeoutMs} ms — is the unit id right (gateways route by it), and is the device behind the gateway powered and wired?`
              : `no answer from unit ${req.unit} on ${where} within ${req.timeoutMs} ms — check the unit id, the baud rate, parity and stop bits, and the A/B wiring and termination`,
        };
      case 'bad_response':
        return { ok: false, exit: 2, message: `garbled answer from unit ${req.unit} at ${where} (${f.message}) — check for two masters on the line, baud rate and parity, or noise on the wiring` };
      case 'disconnected':
        return { ok: false, exit: 2, message: connectHint(f.message, req.endpoint) };
    }
  } finally {
    line.close();
  }
}

function exceptionHint(code: number): string {
  switch (code) {
    case 1:
      return 'the device does not support this function: try --function input instead of holding (or the other way round)';
    case 2:
      return 'check the register map for this meter model (zero-based addresses: register 30001 is input address 0) and --count';
    case 3:
      return 'the device refuses this count here: read fewer registers, or start at the first register of a value';
    case 10:
    case 11:
      return 'the gateway cannot reach the device: check the unit id and the serial side of the gateway';
    default:
      return 'the device answered with an error: check its manual for this exception';
  }
}

function connectHint(message: string, ep: Endpoint): string {
  if (ep.kind === 'tcp') {
    const where = hostPort(ep.host, ep.port);
    if (/refused/.test(message)) return `connection refused at ${where} — is Modbus TCP enabled on the meter, and is port ${ep.port} open?`;
    if (/no connection within|unreachable|EHOSTUNREACH|ETIMEDOUT/.test(message))
      return `no connection to ${where} — is the address right, is the device on this network, and does a firewall let port ${ep.port} through?`;
    if (/unknown host/.test(message)) return `${message} — check the host name`;
    return `${message} — check that ${where} is a Modbus TCP server`;
  }
  if (/does not exist/.test(message)) return `${message} — is the USB adapter plugged in? (ls /dev/ttyUSB* /dev/serial/by-id/)`;
  if (/permission/.test(message)) return `${message} — add the user to the dialout group, or run as the gridedge service user`;
  return `${message} — check the serial device ${ep.path}`;
}

/** The human text of a result. */
export function renderProbe(r: ProbeResult): string {
  const lines = [`unit ${r.unit} at ${r.endpoint}: ${r.count} ${NAMES[r.function]}${r.count > 1 ? 's' : ''} from ${r.address}${r.type ? ` as ${r.type} ${r.order}` : ''}`];
  if (isBitFunction(r.function)) {
    for (const v of r.values) lines.push(`  ${String(v.address).padStart(5)}  ${v.value ? '1 (on)' : '0 (off)'}`);
  } else {
    const words = r.raw as number[];
    const w = r.type ? registerCount(r.type) : 1;
    for (const v of r.values) {
      const k = v.address - r.address;
      const hex = words.slice(k, k + w).map((x) => x.toString(16).padStart(4, '0')).join(' ');
      const extra = r.type ? '' : `  (i16 ${(words[k]! << 16) >> 16})`;
      lines.push(`  ${String(v.address).padStart(5)}  ${hex.padEnd(20)}  ${String(v.value)}${extra}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** What a path names, for the --rtu check: a missing device is for the read to report (unplugged: exit 2). */
function fileKind(path: string): 'missing' | 'char' | 'dir' | 'other' {
  try {
    const st = statSync(path);
    return st.isCharacterDevice() ? 'char' : st.isDirectory() ? 'dir' : 'other';
  } catch {
    return 'missing';
  }
}
