/**
 * The cap on the HTTP server's open connections (`http.maxConnections`): every TCP connection counts
 * while it is open (keep-alive connections between requests, event streams, MQTT over WebSocket
 * after its upgrade, TLS ones from before their handshake). A connection from another machine that
 * finds `max` open is closed at once, before anything is read (counted in `http_connections_refused`;
 * the first of a run of refusals is logged as a warning, the next one only after the count fell below
 * the cap again). Connections from this machine (loopback: the CLI, a local proxy, address.ts) may take
 * {@link LOOPBACK_EXTRA} more, so `gridedge status` still answers while the network holds them all.
 * `http_connections` is the number open now.
 */
import type { Server } from 'node:net';
import type { Counters } from '../core/counters.js';
import type { Logger } from '../core/plugin.js';
import { isLoopback } from './address.js';

/** Connections from loopback allowed beyond the cap. */
export const LOOPBACK_EXTRA = 16;

export function limitConnections(server: Server, max: number, counters: Counters, log: Logger): void {
  let open = 0;
  let warned = false;
  counters.set('http_connections', 0);
  // Node's own HTTP (or TLS) listener of the event ran first; destroying the socket here ends it before
  // its first read.
  server.on('connection', (socket) => {
    const local = isLoopback(socket.remoteAddress);
    if (open >= max + (local ? LOOPBACK_EXTRA : 0)) {
      counters.inc('http_connections_refused');
      if (!warned) {
        warned = true;
        log.warn({ open, max, address: socket.remoteAddress }, `http: ${open} connections open, the most http.maxConnections allows: new ones are closed until some end`);
      }
      socket.destroy();
      return;
    }
    open++;
    counters.set('http_connections', open);
    socket.once('close', () => {
      open--;
      if (open < max) warned = false;
      counters.set('http_connections', open);
    });
  });
}
