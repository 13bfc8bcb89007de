// HTTP plumbing for the Graph simulator: JSON responses in Graph's error
// shape, bounded body reading, and the opaque paging token.

import type { IncomingMessage, ServerResponse } from 'node:http';

const MAX_BODY_BYTES = 1 << 20;

export class HttpFailure extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body?: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...(text ? { 'content-type': 'application/json' } : {}),
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function graphError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers = {},
): void {
  sendJson(res, status, { error: { code, message } }, headers);
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpFailure(413, 'RequestEntityTooLarge', 'Request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function readJsonObject(req: IncomingMessage): Promise<Record<string, unknown>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readBody(req));
  } catch (err) {
    if (err instanceof HttpFailure) throw err;
    throw new HttpFailure(400, 'BadRequest', 'Request body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new HttpFailure(400, 'BadRequest', 'Request body must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

// Opaque to clients; internally "<pageIndex>.<lastSeq>" so faults can target page N.
export const encodeSkipToken = (page: number, lastSeq: number) =>
  Buffer.from(`${page}.${lastSeq}`).toString('base64url');

export function decodeSkipToken(token: string): { page: number; lastSeq: number } {
  const m = /^(\d{1,9})\.(\d{1,15})$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
  if (!m) throw new HttpFailure(400, 'BadRequest', 'Invalid $skiptoken');
  return { page: Number(m[1]), lastSeq: Number(m[2]) };
}
