/**
 * IP address text as the agent reads it, shared by the broker's bind rules (broker/users.ts) and
 * the HTTP server's per-address limits (http/address.ts): loopback is 127.0.0.0/8 and ::1, each
 * also as an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`), in any IPv6 spelling.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** `::ffff:a.b.c.d` as `a.b.c.d`; any other address as it is. */
export function unmapped(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}

/** Whether an IP address is this machine's loopback. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const a = unmapped(address);
  if (isIPv4(a)) return a.startsWith('127.');
  return isIPv6(a) && expandIPv6(a)?.every((g, k) => g === (k === 7 ? 1 : 0)) === true;
}

/** The eight 16-bit groups of an IPv6 address (a zone `%eth0` and an embedded IPv4 tail taken), or undefined. */
export function expandIPv6(address: string): number[] | undefined {
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
