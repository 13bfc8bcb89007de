import net from 'node:net';

/** A hop count trusts that many proxies nearest to us; the rest of the chain is the client's to write. */
export function trustProxyOption(setting: false | number | string[]) {
  if (typeof setting === 'number') return (_address: string, hop: number) => hop < setting;
  return setting;
}

/** Where clients usually are: the private (unique-local) ranges of RFC 1918 and RFC 4193. */
const PRIVATE_RANGES: { net: string; bits: number; family: 'ipv4' | 'ipv6' }[] = [
  { net: '10.0.0.0', bits: 8, family: 'ipv4' },
  { net: '172.16.0.0', bits: 12, family: 'ipv4' },
  { net: '192.168.0.0', bits: 16, family: 'ipv4' },
  { net: 'fc00::', bits: 7, family: 'ipv6' },
];

/**
 * The trusted ranges that take in private client addresses. A proxy trusted by range vouches for
 * every address in it: a client (another pod, an office machine, a VPN user) inside such a range
 * is taken for a proxy, so the X-Forwarded-For it writes itself names the client address it
 * chooses. One address (a /32 or /128) is a proxy, not a range, and is not reported.
 */
export function trustProxyWarnings(setting: false | number | string[]): string[] {
  if (!Array.isArray(setting)) return [];
  const warnings: string[] = [];
  for (const entry of setting) {
    const [addr = '', bitsText] = entry.split('/');
    const family = net.isIP(addr) === 6 ? 'ipv6' : 'ipv4';
    const max = family === 'ipv6' ? 128 : 32;
    const bits = bitsText === undefined ? max : Number(bitsText);
    if (bits >= max) continue;
    const trusted = new net.BlockList();
    trusted.addSubnet(addr, bits, family);
    const hit = PRIVATE_RANGES.filter((r) => {
      if (r.family !== family) return false;
      // Two ranges overlap exactly when one holds the other's first address.
      const range = new net.BlockList();
      range.addSubnet(r.net, r.bits, r.family);
      return trusted.check(r.net, family) || range.check(addr, family);
    });
    if (hit.length > 0) {
      warnings.push(
        `TRUST_PROXY trusts the range ${entry}, which holds private client addresses (${hit
          .map((r) => `${r.net}/${r.bits}`)
          .join(
            ', ',
          )}): a client inside it counts as a proxy and can choose its own address with X-Forwarded-For; list your proxies' own addresses instead`,
      );
    }
  }
  return warnings;
}
