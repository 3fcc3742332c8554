/**
 * Request planning: which Modbus read requests cover the points of one polling group. Pure.
 *
 * Points of the same function are sorted by address and packed greedily into requests: the next point
 * joins the current request when the request stays within the protocol limit (125 registers for
 * holding/input, 2000 bits for coils/discrete inputs) and the gap between them is at most `maxGap`
 * registers (`maxGap` × 16 bits for coils and discrete inputs, the same bytes on the wire). Reading a
 * short gap costs a few bytes; a separate request costs a request/response header and a round trip,
 * so short gaps are cheaper read. `maxGap: 0` merges only adjacent points (devices that refuse a read
 * spanning an unmapped register answer exception 2).
 */
import { isBitFunction, type ModbusFunction } from './decode.js';

/** Protocol limits per request (Modbus Application Protocol v1.1b3, 6.1-6.4). */
export const MAX_REGISTERS = 125;
export const MAX_BITS = 2000;

export interface PlanPoint {
  function: ModbusFunction;
  address: number;
  /** Registers (holding/input) or bits (coil/discrete) the point occupies. */
  count: number;
}

export interface PlannedRequest {
  function: ModbusFunction;
  address: number;
  /** Registers or bits to read. */
  count: number;
  /** Indexes into the points passed in, with each point's position within the response. */
  points: { index: number; at: number }[];
}

export function requestLimit(f: ModbusFunction): number {
  return isBitFunction(f) ? MAX_BITS : MAX_REGISTERS;
}

/**
 * The requests that read every point, grouped by function in the order holding, input, coil,
 * discrete, each by ascending address. A point larger than the limit gets a request of its own
 * (config validation refuses those before they get here).
 */
export function planRequests(points: readonly PlanPoint[], maxGap: number): PlannedRequest[] {
  const order: ModbusFunction[] = ['holding', 'input', 'coil', 'discrete'];
  const out: PlannedRequest[] = [];
  for (const f of order) {
    const idx = points
      .map((p, index) => ({ p, index }))
      .filter((x) => x.p.function === f)
      .sort((x, y) => x.p.address - y.p.address || y.p.count - x.p.count);
    const limit = requestLimit(f);
    const gap = isBitFunction(f) ? maxGap * 16 : maxGap;
    let cur: PlannedRequest | undefined;
    let end = 0;
    for (const { p, index } of idx) {
      const pEnd = p.address + p.count;
      if (cur && p.address - end <= gap && Math.max(end, pEnd) - cur.address <= limit) {
        end = Math.max(end, pEnd);
        cur.count = end - cur.address;
        cur.points.push({ index, at: p.address - cur.address });
        continue;
      }
      cur = { function: f, address: p.address, count: p.count, points: [{ index, at: 0 }] };
      end = pEnd;
      out.push(cur);
    }
  }
  return out;
}
