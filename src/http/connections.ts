import type { Server } from 'node:http';
import type { Socket } from 'node:net';

export type ConnectionLimits = {
  /** Open connections at most; each holds a file descriptor. */
  max: number;
  /** A connection must send its request headers within this time (Node's headersTimeout). */
  headersTimeoutMs: number;
  /** …and its whole request within this time (Node's requestTimeout). */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this time. */
  keepAliveTimeoutMs: number;
  /** A connection with no traffic either way for this long is closed (event streams send heartbeats). */
  idleTimeoutMs: number;
  /** How often Node checks connections for the header and request timeouts. */
  checkIntervalMs: number;
};

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  max: 1000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 60_000,
  checkIntervalMs: 1_000,
};

/**
 * Caps open connections without letting idle ones shut out real requests. Node's own
 * `maxConnections` refuses the newest connection when full, so sockets that connect and send
 * nothing would keep `/healthz` (and everyone) out until they time out. Here, a connection past
 * the cap closes the oldest connection with no request in progress (one that has sent nothing yet,
 * or an idle keep-alive) instead; only when every connection is busy is the newcomer refused.
 * Open connections stay at the cap whatever the process's descriptor limit.
 */
export function guardConnections(
  server: Server,
  limits: { max: number; idleMs: number; checkIntervalMs: number },
): { readonly open: number } {
  const { max } = limits;
  const sockets = new Set<Socket>(); // in order of arrival: the first idle one is the oldest
  const busy = new Map<Socket, number>();
  // When each connection last had a request in progress (or connected): a connection that sends
  // nothing for `idleMs` (no headers yet, or an idle keep-alive) is closed here, so the bound
  // does not depend on the HTTP parser's own timers.
  const idleSince = new Map<Socket, number>();
  const sweep = setInterval(() => {
    const cutoff = Date.now() - limits.idleMs;
    for (const [s, since] of idleSince) if (since < cutoff && !busy.has(s)) s.destroy();
  }, limits.checkIntervalMs);
  sweep.unref();
  server.once('close', () => clearInterval(sweep));
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    idleSince.set(socket, Date.now());
    socket.once('close', () => {
      sockets.delete(socket);
      busy.delete(socket);
      idleSince.delete(socket);
    });
    if (sockets.size <= max) return;
    for (const s of sockets) {
      if (s !== socket && !busy.has(s)) {
        s.destroy();
        sockets.delete(s);
        return;
      }
    }
    socket.destroy();
    sockets.delete(socket);
  });
  server.on('request', (req, res) => {
    const socket = req.socket;
    busy.set(socket, (busy.get(socket) ?? 0) + 1);
    res.once('close', () => {
      const n = (busy.get(socket) ?? 1) - 1;
      if (n <= 0) busy.delete(socket);
      else busy.set(socket, n);
      if (idleSince.has(socket)) idleSince.set(socket, Date.now());
    });
  });
  return {
    get open() {
      return sockets.size;
    },
  };
}
