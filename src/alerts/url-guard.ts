import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { ValidationError } from '../shared/errors.ts';

/**
 * Where a tenant owner may point a webhook. Not at the server's own network: loopback, private,
 * link-local (cloud metadata), carrier-grade NAT, multicast and unspecified addresses are refused
 * unless the installation allows them (WEBHOOK_ALLOW_PRIVATE). Checked when a target is saved and
 * again before every delivery, on the addresses the name resolves to then.
 */
const BLOCKED = new net.BlockList();
for (const [addr, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  BLOCKED.addSubnet(addr, prefix, 'ipv4');
for (const [addr, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  BLOCKED.addSubnet(addr, prefix, 'ipv6');

export function isPrivateAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 0) return true;
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return BLOCKED.check(mapped[1]!, 'ipv4');
    return BLOCKED.check(address, 'ipv6');
  }
  return BLOCKED.check(address, 'ipv4');
}

/** The URL as a target may use it: http(s), no credentials in it, at most 2,000 characters. */
export function parseTargetUrl(text: unknown): URL {
  const problem = (message: string) => new ValidationError(message, [{ path: '/url', message }]);
  if (typeof text !== 'string' || text.length === 0 || text.length > 2000)
    throw problem('url must be an http(s) URL of at most 2,000 characters');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw problem('url is not a valid URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw problem('url must use https or http');
  if (url.username || url.password) throw problem('url must not carry a user name or password');
  return url;
}

/** A masked form to show: scheme, host and port, and the path's first segment. */
export function displayUrl(url: URL): string {
  const first = url.pathname.split('/').filter(Boolean)[0];
  const rest = url.pathname.split('/').filter(Boolean).length > 1 || url.search ? '/…' : '';
  return `${url.protocol}//${url.host}${first ? `/${first.slice(0, 40)}` : ''}${rest}`.slice(0, 300);
}

export class BlockedAddressError extends Error {
  code = 'blocked_address';
}

/**
 * Refuses a URL whose host is, or resolves to, a private address (unless allowed). Returns the
 * addresses checked.
 */
export async function checkTargetAddress(url: URL, allowPrivate: boolean): Promise<void> {
  if (allowPrivate) return;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host.endsWith('.localhost'))
    throw new BlockedAddressError('the webhook URL names this machine');
  const addresses = net.isIP(host)
    ? [host]
    : (await lookup(host, { all: true, verbatim: true }).catch(() => [])).map((a) => a.address);
  if (addresses.length === 0) throw new BlockedAddressError(`the webhook host ${host} does not resolve`);
  if (addresses.some(isPrivateAddress))
    throw new BlockedAddressError(`the webhook host ${host} is a loopback or private address`);
}
