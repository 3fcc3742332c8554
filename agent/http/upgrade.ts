/**
 * HTTP upgrades on the one HTTP server: `wsPath` goes to the broker (MQTT over WebSocket),
 * every other path is answered 404 and closed. Sockets handed to the broker are tracked so that
 * closing the HTTP server also ends them (an upgraded socket would otherwise keep it open).
 */
import type { Server, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HttpDeps } from './deps.js';

function refuse(socket: Duplex, status: string): void {
  const body = JSON.stringify({ statusCode: Number(status.slice(0, 3)), error: status.slice(4), message: 'no WebSocket endpoint here' });
  socket.end(
    `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

function pathOf(req: IncomingMessage): string | null {
  try {
    return new URL(req.url ?? '/', 'http://localhost').pathname;
  } catch {
    return null;
  }
}

/** Install the upgrade router; returns a function that destroys the upgraded sockets still open. */
export function routeUpgrades(server: Server, deps: Pick<HttpDeps, 'broker' | 'wsPath' | 'counters'>): () => void {
  const upgraded = new Set<Duplex>();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const path = pathOf(req);
    if (path === null) return refuse(socket, '400 Bad Request');
    if (!deps.broker || path !== deps.wsPath) {
      deps.counters.inc('http_upgrades_refused');
      return refuse(socket, '404 Not Found');
    }
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
    deps.broker.handleUpgrade(req, socket, head);
  });
  return () => {
    for (const s of upgraded) s.destroy();
    upgraded.clear();
  };
}
