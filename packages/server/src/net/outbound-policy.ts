import { BlockList, isIP } from 'node:net';
import { classifyAddress } from './addresses.js';

// A host name as the allow-list may name it: labels of letters, digits and dashes, `*.` for any subdomain.
const HOST_NAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Which addresses calls to tenant-configured URLs may reach: public ones, and whatever the operator's
 * allow-list names (addresses, CIDR ranges, host names, `*.suffix` names). Everything else (loopback, private,
 * link-local, unique-local, metadata services...) is refused, so that a tenant cannot make the server call
 * into its own network.
 */
export class OutboundPolicy {
  private readonly ranges = new BlockList();
  private readonly names = new Set<string>();
  private readonly suffixes: string[] = [];

  /** Builds a policy from allow-list entries; throws a TypeError naming the first malformed one. */
  constructor(allowed: readonly string[] = []) {
    for (const entry of allowed) this.add(entry.trim());
  }

  /** The problem with one allow-list entry, or null when it is an address, a CIDR range or a host name. */
  static entryProblem(entry: string): string | null {
    try {
      new OutboundPolicy([entry]);
      return null;
    } catch (error) {
      return (error as Error).message;
    }
  }

  /** Why a connection to `address` (resolved from `hostname`) is refused, or null when it is allowed. */
  refusal(hostname: string, address: string): string | null {
    const kind = classifyAddress(address);
    if (kind === 'public' || this.allowsName(hostname) || this.ranges.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4')) return null;
    return `${hostname === address ? address : `${hostname} (${address})`} is a ${kind} address; the operator's allow-list (PARLEY_OUTBOUND_ALLOW) does not name it`;
  }

  private allowsName(hostname: string): boolean {
    const name = normalizeName(hostname);
    return this.names.has(name) || this.suffixes.some((suffix) => name.endsWith(suffix));
  }

  private add(entry: string): void {
    const [network = '', prefixText, extra] = entry.split('/');
    const version = isIP(network);
    if (version !== 0) {
      const type = version === 4 ? 'ipv4' : 'ipv6';
      const prefix = prefixText === undefined ? (version === 4 ? 32 : 128) : Number(prefixText);
      if (extra !== undefined || !/^\d{1,3}$/.test(prefixText ?? '0') || prefix > (version === 4 ? 32 : 128)) throw new TypeError(`bad CIDR range in the allow-list: ${entry}`);
      this.ranges.addSubnet(network, prefix, type);
      return;
    }
    const name = normalizeName(entry);
    if (prefixText !== undefined || name.length > 253 || !HOST_NAME.test(name)) throw new TypeError(`not an address, CIDR range or host name: ${JSON.stringify(entry)}`);
    if (name.startsWith('*.')) this.suffixes.push(name.slice(1));
    else this.names.add(name);
  }
}

function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}
