/**
 * Remote addresses as the HTTP server's per-address limits see them (the event streams one device may
 * hold, routes/events.ts; the connections kept for this machine, connections.ts):
 *
 * - loopback (127.0.0.0/8, ::1, and those as IPv4-mapped IPv6 addresses) is this machine: the CLI,
 *   a local proxy; the limits for other machines do not apply to it;
 * - an IPv4 address is one device; an IPv6 address counts by its /64 network, as one device (a
 *   phone or a laptop with privacy addresses) may take any number of addresses of its /64.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** `::ffff:a.b.c.d` as `a.b.c.d`; any other address as it is. */
function unmapped(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}

/** Whether a remote address is this machine's loopback. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const a = unmapped(address);
  if (isIPv4(a)) return a.startsWith('127.');
  return isIPv6(a) && expandIPv6(a)?.every((g, k) => g === (k === 7 ? 1 : 0)) === true;
}

/** The eight 16-bit groups of an IPv6 address (a zone `%eth0` and an embedded IPv4 tail taken), or undefined. */
function expandIPv6(address: string): number[] | undefined {
  let a = address.replace(/%.*$/, '');
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a);
  if (v4) {
    const [b0, b1, b2, b3] = v4.slice(1).map(Number) as [number, number, number, number];
    a = `${a.slice(0, v4.index)}${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  const halves = a.split('::');
  if (halves.length > 2) return undefined;
  const part = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const head = part(halves[0]!);
  const tail = halves.length === 2 ? part(halves[1]!) : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  if (fill < 0) return undefined;
  const groups = [...head, ...new Array<number>(fill).fill(0), ...tail];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

/**
 * The key a per-address limit counts a remote address under: an IPv4 address itself (`192.0.2.7`),
 * an IPv6 address its /64 (`2001:db8:1:2::/64`); anything else (unknown, unparsable) as it is.
 */
export function addressKey(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  const a = unmapped(address);
  if (isIPv4(a) || !isIPv6(a)) return a;
  const groups = expandIPv6(a);
  return groups ? `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64` : a;
}
