import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { problem, SECURITY_HEADERS } from './problem.ts';

/**
 * The responses Node's HTTP parser makes Fastify send before any request exists (headers over the
 * size limit, a malformed request line, a request that took too long to arrive): no hook runs for
 * them, so they are written here, raw, with the same security headers, a request id of ours and
 * a problem body like every other 4xx.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  // A reset connection is gone: there is nobody to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const status =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? 408
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? 431
        : err.code === 'HPE_URI_TOO_LONG'
          ? 414
          : 400;
  const detail =
    status === 408
      ? 'the request did not arrive in time'
      : status === 431
        ? 'the request headers are too large'
        : status === 414
          ? 'the request URL is too long'
          : 'the request could not be parsed';
  const body = JSON.stringify({ ...problem(status, detail), title: STATUS_CODES[status] ?? 'Bad Request' });
  if (socket.writable) {
    const headers = {
      ...SECURITY_HEADERS,
      'x-request-id': randomUUID(),
      'content-type': 'application/problem+json; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      connection: 'close',
    };
    const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}`);
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${lines.join('\r\n')}\r\n\r\n${body}`);
  }
  socket.destroy(err);
}
