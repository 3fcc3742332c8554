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
import { expandIPv6, isLoopback, unmapped } from '../core/ip-address.js';

export { isLoopback };

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
