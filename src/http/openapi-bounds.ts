/**
 * Completes the OpenAPI document for what every operation shares but no route declares: the
 * rate-limit headers and the 429 and 500 answers every route can give, and bounds on response
 * values (request schemas carry their own bounds, which validation enforces).
 */

type Json = Record<string, any>;

const RATE_LIMIT_HEADERS = {
  'X-RateLimit-Limit': {
    description: 'Requests allowed per window for this caller',
    schema: { type: 'integer', format: 'int32', minimum: 0, maximum: 1_000_000 },
  },
  'X-RateLimit-Remaining': {
    description: 'Requests left in the current window',
    schema: { type: 'integer', format: 'int32', minimum: 0, maximum: 1_000_000 },
  },
  'X-RateLimit-Reset': {
    description: 'Seconds until the window resets',
    schema: { type: 'integer', format: 'int32', minimum: 0, maximum: 86_400 },
  },
};

const RETRY_AFTER = {
  'Retry-After': {
    description: 'Seconds to wait before retrying',
    schema: { type: 'integer', format: 'int32', minimum: 0, maximum: 86_400 },
  },
};

const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});

/** Bounds for response values that have none: all of them are bounded in practice. */
function bound(schema: unknown): void {
  if (Array.isArray(schema)) {
    for (const s of schema) bound(s);
    return;
  }
  if (!schema || typeof schema !== 'object') return;
  const s = schema as Json;
  const type = s.type;
  if (type === 'string' && s.maxLength === undefined && s.enum === undefined && s.const === undefined) {
    s.maxLength = s.format === 'uuid' ? 36 : s.format === 'date-time' ? 64 : 10_000_000;
  }
  if (type === 'array' && s.maxItems === undefined) s.maxItems = 10_000;
  if (type === 'integer') {
    s.format ??= 'int64';
    s.minimum ??= 0;
    s.maximum ??= Number.MAX_SAFE_INTEGER;
  }
  for (const value of Object.values(s)) if (value && typeof value === 'object') bound(value);
}

export function completeOpenApi(doc: Json): Json {
  for (const schema of Object.values((doc.components?.schemas ?? {}) as Json)) bound(schema);
  for (const item of Object.values((doc.paths ?? {}) as Json)) {
    for (const op of Object.values(item as Json)) {
      if (!op || typeof op !== 'object' || !op.responses) continue;
      op.responses['429'] ??= problemResponse('Too many requests; retry after the Retry-After header');
      op.responses['500'] ??= problemResponse('An internal error (details are logged, never returned)');
      for (const [code, response] of Object.entries(op.responses as Json)) {
        bound(response.content);
        if (/^[24]/.test(code)) response.headers = { ...RATE_LIMIT_HEADERS, ...response.headers };
        if (code === '429') response.headers = { ...RETRY_AFTER, ...response.headers };
      }
    }
  }
  return doc;
}
