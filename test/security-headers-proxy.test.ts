import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { trustProxyWarnings } from '../src/http/proxy-trust.ts';
import { loadConfig } from '../src/main/config.ts';
import { createHttpServer } from '../src/main/http.ts';
import { type ApiHarness, startApiHarness } from './helpers/api-app.ts';
import { testTaskType } from './helpers/test-types.ts';

// Issue 19: a 431 (headers over the limit) answered without the security headers; a client-sent
// x-request-id became the request's log id; a trusted CIDR holding clients went unremarked.
let h: ApiHarness;
let port: number;

beforeAll(async () => {
  h = await startApiHarness({ definitions: [testTaskType({ started: [], aborted: [] })], worker: false });
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  port = (h.app.server.address() as net.AddressInfo).port;
});
afterAll(async () => {
  await h?.stop();
});

/** Sends raw bytes and reads what comes back until the server closes (or a budget runs out). */
function raw(payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer; got ${JSON.stringify(data.slice(0, 200))}`));
    }, 10_000);
    socket.on('data', (d) => {
      data += d.toString('latin1');
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(data);
    });
    socket.on('error', () => {});
    socket.write(payload);
  });
}

function parse(response: string) {
  const [head = '', body = ''] = response.split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

describe('headers on what the parser refuses', () => {
  it('answers headers over the limit (431) and a malformed request (400) with the security headers and problem JSON', async () => {
    const reference = await h.app.inject({ url: '/healthz' });
    const securityHeaders = Object.keys(reference.headers).filter(
      (k) =>
        !['content-type', 'content-length', 'date', 'connection', 'x-request-id'].includes(k) &&
        !k.startsWith('x-ratelimit-') &&
        !k.startsWith('keep-alive'),
    );
    expect(securityHeaders.length).toBeGreaterThanOrEqual(10);
    const cases = [
      {
        status: 431,
        payload: `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`,
      },
      { status: 400, payload: 'GARBAGE\x01 / HTTP/9.9\r\n\r\n' },
      { status: 400, payload: 'GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n' },
    ];
    for (const c of cases) {
      const res = parse(await raw(c.payload));
      expect(res.status, c.payload.slice(0, 30)).toBe(c.status);
      for (const k of securityHeaders)
        expect(res.headers[k], `${k} on ${c.status}`).toBe(reference.headers[k]);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(JSON.parse(res.body)).toMatchObject({ status: c.status, type: 'about:blank' });
    }
  });

  it('keeps the request id its own and logs a client-sent one only beside it', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, {
      headers: { 'x-request-id': 'other-request-42' },
    });
    expect(res.status).toBe(200);
    const ours = res.headers.get('x-request-id');
    expect(ours).toMatch(/^[0-9a-f-]{36}$/);
    expect(ours).not.toBe('other-request-42');
    const line = h.ledger.logs.find((l) => l.reqId === ours && l.msg === 'request completed');
    expect(line).toMatchObject({ clientRequestId: 'other-request-42', path: '/healthz' });
    // Nothing is logged under the id the client chose.
    expect(h.ledger.logs.some((l) => l.reqId === 'other-request-42')).toBe(false);
    // A client id that is not harmless is not logged at all.
    const evil = await h.app.inject({ url: '/healthz', headers: { 'x-request-id': 'a\u001b[2Jb c' } });
    const evilLine = h.ledger.logs.find((l) => l.reqId === evil.headers['x-request-id']);
    expect(evilLine).toBeDefined();
    expect(evilLine!.clientRequestId).toBeUndefined();
  });
});

describe('TRUST_PROXY pitfalls', () => {
  it('warns of a trusted range that holds private client addresses, and of nothing else', () => {
    expect(trustProxyWarnings(['10.0.0.0/8'])[0]).toContain('10.0.0.0/8');
    expect(trustProxyWarnings(['10.244.0.0/16'])[0]).toMatch(
      /TRUST_PROXY trusts the range 10\.244\.0\.0\/16/,
    );
    expect(trustProxyWarnings(['172.20.0.0/16'])[0]).toContain('172.16.0.0/12');
    expect(trustProxyWarnings(['192.168.1.0/24'])[0]).toContain('192.168.0.0/16');
    expect(trustProxyWarnings(['0.0.0.0/0'])[0]).toContain('10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16');
    expect(trustProxyWarnings(['fd00:1::/64'])[0]).toContain('fc00::/7');
    expect(trustProxyWarnings(['::/0'])[0]).toContain('fc00::/7');
    expect(trustProxyWarnings(['10.0.0.0/8', '127.0.0.1', '192.168.0.0/16'])).toHaveLength(2);
    // One proxy's own address, a public range and hop counts are not ranges of clients.
    for (const ok of [['10.0.0.5'], ['10.0.0.5/32'], ['fd00::1'], ['203.0.113.0/24'], ['8.0.0.0/7']]) {
      expect(trustProxyWarnings(ok), ok.join()).toEqual([]);
    }
    expect(trustProxyWarnings(1)).toEqual([]);
    expect(trustProxyWarnings(false)).toEqual([]);
  });

  it('logs the warning at start-up, naming the range', async () => {
    const config = loadConfig({ ...process.env, TRUST_PROXY: '127.0.0.1, 10.0.0.0/8' });
    const before = h.ledger.logs.length;
    const ledger = Object.create(h.ledger, { config: { value: config } }) as typeof h.ledger;
    const app = await createHttpServer(ledger, { suite: false });
    onTestFinished(() => app.close());
    const warned = h.ledger.logs.slice(before).filter((l) => l.level === 40 || l.level === 'warn');
    expect(warned.map((l) => l.msg)).toEqual([
      expect.stringContaining('TRUST_PROXY trusts the range 10.0.0.0/8'),
    ]);
  });
});
