import { BlockList, isIP } from 'node:net';

/** Why an address is not on the public internet, or `public`. */
export type AddressKind =
  | 'public'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'shared'
  | 'link-local'
  | 'unique-local'
  | 'multicast'
  | 'reserved';

type Range = readonly [network: string, prefix: number];

// IANA's special-purpose registries (RFC 6890 and successors), grouped by what they mean to a caller.
const IPV4_RANGES: ReadonlyArray<readonly [Exclude<AddressKind, 'public'>, readonly Range[]]> = [
  ['unspecified', [['0.0.0.0', 8]]],
  ['loopback', [['127.0.0.0', 8]]],
  ['private', [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16]]],
  // Carrier-grade NAT (RFC 6598); cloud metadata services live here too (100.100.100.200).
  ['shared', [['100.64.0.0', 10]]],
  // Includes the cloud metadata address 169.254.169.254.
  ['link-local', [['169.254.0.0', 16]]],
  ['multicast', [['224.0.0.0', 4]]],
  [
    'reserved',
    [
      ['192.0.0.0', 24], // IETF protocol assignments
      ['192.0.2.0', 24], // documentation
      ['192.88.99.0', 24], // 6to4 relay anycast
      ['198.18.0.0', 15], // benchmarking
      ['198.51.100.0', 24], // documentation
      ['203.0.113.0', 24], // documentation
      ['240.0.0.0', 4], // future use and 255.255.255.255
    ],
  ],
];

const IPV6_RANGES: ReadonlyArray<readonly [Exclude<AddressKind, 'public'>, readonly Range[]]> = [
  ['unspecified', [['::', 128]]],
  ['loopback', [['::1', 128]]],
  ['unique-local', [['fc00::', 7]]],
  ['link-local', [['fe80::', 10]]],
  ['multicast', [['ff00::', 8]]],
  [
    'reserved',
    [
      ['::', 96], // IPv4-compatible (deprecated)
      ['64:ff9b:1::', 48], // local-use IPv4/IPv6 translation
      ['100::', 64], // discard-only
      ['2001:db8::', 32], // documentation
      ['fec0::', 10], // site-local (deprecated)
    ],
  ],
];

// The well-known NAT64 prefix (RFC 6052): the last 32 bits are an IPv4 address, judged as such.
const NAT64 = blockList([['64:ff9b::', 96]], 'ipv6');

const CLASSES: ReadonlyArray<readonly [Exclude<AddressKind, 'public'>, BlockList, 'ipv4' | 'ipv6']> = [
  ...IPV4_RANGES.map(([kind, ranges]) => [kind, blockList(ranges, 'ipv4'), 'ipv4'] as const),
  ...IPV6_RANGES.map(([kind, ranges]) => [kind, blockList(ranges, 'ipv6'), 'ipv6'] as const),
];

function blockList(ranges: readonly Range[], type: 'ipv4' | 'ipv6'): BlockList {
  const list = new BlockList();
  for (const [network, prefix] of ranges) list.addSubnet(network, prefix, type);
  return list;
}

/**
 * What kind of address `address` (an IPv4 or IPv6 literal) is. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`)
 * and NAT64 ones (`64:ff9b::a.b.c.d`) are judged by the IPv4 address they carry. Throws for a non-address.
 */
export function classifyAddress(address: string): AddressKind {
  const bare = stripZone(address);
  const version = isIP(bare);
  if (version === 0) throw new TypeError(`not an IP address: ${address}`);
  const type = version === 4 ? 'ipv4' : 'ipv6';
  if (type === 'ipv6' && NAT64.check(bare, 'ipv6')) return classifyAddress(embeddedIpv4(bare));
  // BlockList matches IPv4-mapped IPv6 addresses against IPv4 rules, so ::ffff:127.0.0.1 is loopback.
  for (const [kind, list, listType] of CLASSES) {
    if ((listType === type || type === 'ipv6') && list.check(bare, type)) return kind;
  }
  return 'public';
}

/** True for addresses on the public internet (none of the special-purpose ranges). */
export function isPublicAddress(address: string): boolean {
  return classifyAddress(address) === 'public';
}

/** `fe80::1%eth0` -> `fe80::1`: a zone names an interface, not part of the address. */
function stripZone(address: string): string {
  const percent = address.indexOf('%');
  return percent === -1 ? address : address.slice(0, percent);
}

/** The IPv4 address in the last 32 bits of an IPv6 address. */
function embeddedIpv4(address: string): string {
  const groups = ipv6Groups(address);
  const [upper = 0, lower = 0] = groups.slice(6);
  return [upper >> 8, upper & 0xff, lower >> 8, lower & 0xff].join('.');
}

/** The eight 16-bit groups of an IPv6 address. */
function ipv6Groups(address: string): number[] {
  // The URL parser writes an IPv6 address in canonical form: hex groups only, at most one `::`.
  const canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  const [left = '', right] = canonical.split('::');
  const head = left ? left.split(':') : [];
  const tail = right ? right.split(':') : [];
  const zeros = right === undefined ? [] : Array<string>(8 - head.length - tail.length).fill('0');
  return [...head, ...zeros, ...tail].map((group) => Number.parseInt(group, 16));
}
