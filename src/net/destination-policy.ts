import dns, { type LookupAddress } from 'node:dns';
import { BlockList, type LookupFunction } from 'node:net';
import { networkInterfaces } from 'node:os';
import { type Cidr, type IpFamily as Family, ipFamily as familyOf } from '../config/cidr.js';
import { DestinationRefusedError, type DestinationRule } from '../errors.js';
import { rawFailureAnswer } from '../http/upstream-failure.js';

/**
 * Where the proxy refuses to connect on a build's behalf, judged on the address it actually
 * connects to: names are resolved through `lookupFor` (the lookup every upstream socket uses),
 * so what was checked is what is connected to; numeric spellings (`0x7f.1`, `2130706433`,
 * `017700000001`) resolve to their address first, and IPv4-mapped / NAT64 / IPv4-compatible IPv6
 * forms are judged as the IPv4 address they carry.
 *
 * Refused by default: loopback, link-local (cloud metadata at 169.254.169.254, fe80::/10),
 * unspecified (0.0.0.0/8, ::), and the proxy's own ports on any local address. `--allow-destination`
 * re-opens ranges (never the proxy's own ports). Private ranges (RFC 1918, ULA) are open:
 * docs/decisions.md "Destination policy" says why.
 */

export interface DestinationRefusal {
  readonly rule: DestinationRule;
  readonly address: string;
  readonly port: number;
}

const RULES: readonly [DestinationRule, string, number, Family][] = [
  ['loopback', '127.0.0.0', 8, 'ipv4'],
  ['loopback', '::1', 128, 'ipv6'],
  ['unspecified', '0.0.0.0', 8, 'ipv4'],
  ['unspecified', '::', 128, 'ipv6'],
  ['link_local', '169.254.0.0', 16, 'ipv4'],
  ['link_local', 'fe80::', 10, 'ipv6'],
];

/** IPv6 prefixes that carry an IPv4 address in their last 32 bits. */
const EMBEDDING_V4 = new BlockList();
EMBEDDING_V4.addSubnet('::ffff:0:0', 96, 'ipv6'); // IPv4-mapped
EMBEDDING_V4.addSubnet('64:ff9b::', 96, 'ipv6'); // NAT64 well-known prefix
EMBEDDING_V4.addSubnet('::', 96, 'ipv6'); // IPv4-compatible (deprecated)

export class DestinationPolicy {
  readonly #rules = RULES.map(([rule, address, prefix, family]) => {
    const list = new BlockList();
    list.addSubnet(address, prefix, family);
    return { rule, list };
  });
  readonly #allowed = new BlockList();
  readonly #onRefused: (refusal: DestinationRefusal) => void;
  readonly #resolve: typeof dns.lookup;
  #ownPorts = new Set<number>();
  #localAddresses = new BlockList();

  constructor(opts: {
    allow: readonly Cidr[];
    onRefused?: (refusal: DestinationRefusal) => void;
    /** Name resolution; dns.lookup (getaddrinfo, /etc/hosts) unless a test supplies another. */
    lookup?: typeof dns.lookup;
  }) {
    for (const cidr of opts.allow) this.#allowed.addSubnet(cidr.address, cidr.prefix, cidr.family);
    this.#onRefused = opts.onRefused ?? (() => {});
    this.#resolve = opts.lookup ?? dns.lookup;
  }

  /** Once listening: these ports, on any address of this host, are the proxy itself. */
  protectOwnPorts(ports: readonly number[], listenHosts: readonly string[] = []): void {
    this.#ownPorts = new Set(ports.filter((p) => p > 0));
    const local = new BlockList();
    const add = (address: string) => {
      const family = familyOf(address);
      if (family !== null) local.addAddress(address, family);
    };
    for (const host of listenHosts) add(host);
    for (const entries of Object.values(networkInterfaces()))
      for (const entry of entries ?? []) add(entry.address);
    this.#localAddresses = local;
  }

  /** The refusal for connecting to `address` (an IP literal) on `port`, or null when allowed. Not counted. */
  judge(address: string, port: number): DestinationRefusal | null {
    const family = familyOf(address);
    if (family === null) return null;
    const v4 = family === 'ipv6' && EMBEDDING_V4.check(address, 'ipv6') ? lastIpv4(address) : null;
    const rule = this.#ruleOf(address, family) ?? (v4 === null ? null : this.#ruleOf(v4, 'ipv4'));
    if (this.#ownPorts.has(port)) {
      const local =
        rule === 'loopback' ||
        rule === 'unspecified' ||
        this.#localAddresses.check(address, family) ||
        (v4 !== null && this.#localAddresses.check(v4, 'ipv4'));
      if (local) return { rule: 'own_port', address, port };
    }
    if (rule === null) return null;
    if (this.#allowed.check(address, family) || (v4 !== null && this.#allowed.check(v4, 'ipv4'))) return null;
    return { rule, address, port };
  }

  /**
   * Checks a destination before anything is said to the client (a CONNECT's answer): an IP
   * literal is judged as it is, a name (including numeric spellings) by what it resolves to.
   * A name that does not resolve is not refused here: connecting reports it as usual.
   */
  async check(hostname: string, port: number): Promise<DestinationRefusal | null> {
    const refusal =
      familyOf(hostname) !== null ? this.judge(hostname, port) : await this.#judgeName(hostname, port);
    if (refusal !== null) this.#onRefused(refusal);
    return refusal;
  }

  /** The same check, synchronous, for IP literals only (null for names): plain requests need no resolution for them. */
  checkLiteral(hostname: string, port: number): DestinationRefusal | null {
    if (familyOf(hostname) === null) return null;
    const refusal = this.judge(hostname, port);
    if (refusal !== null) this.#onRefused(refusal);
    return refusal;
  }

  /**
   * The `lookup` for sockets to `port`: resolves, drops refused addresses, and fails with
   * DestinationRefusedError when none is left. IP literals never reach a lookup (Node connects
   * to them directly), which is why listeners check them first with `check`/`checkLiteral`.
   */
  lookupFor(port: number): LookupFunction {
    return (hostname, options, callback) => {
      this.#resolve(hostname, { ...options, all: true }, (error, addresses) => {
        if (error) {
          callback(error, '', 0);
          return;
        }
        const list = addresses as LookupAddress[];
        const verdicts = list.map((a) => this.judge(a.address, port));
        const allowed = list.filter((_a, i) => verdicts[i] === null);
        const first = allowed[0];
        const refusal = verdicts[0];
        if (first === undefined && refusal) {
          this.#onRefused(refusal);
          callback(new DestinationRefusedError(refusal.rule, refusal.address, refusal.port), '', 0);
        } else if (first === undefined) {
          callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
        } else if (options.all) callback(null, allowed);
        else callback(null, first.address, first.family);
      });
    };
  }

  #ruleOf(address: string, family: Family): DestinationRule | null {
    for (const { rule, list } of this.#rules) if (list.check(address, family)) return rule;
    return null;
  }

  #judgeName(hostname: string, port: number): Promise<DestinationRefusal | null> {
    return new Promise((resolve) => {
      this.#resolve(hostname, { all: true }, (error, addresses) => {
        const list = error ? [] : (addresses as LookupAddress[]);
        const verdicts = list.map((a) => this.judge(a.address, port));
        resolve(verdicts.length > 0 && verdicts.every((v) => v !== null) ? verdicts[0]! : null);
      });
    });
  }
}

/** What a refused client reads: the rule and the address the destination resolved to. */
export function refusalBody(refusal: DestinationRefusal): string {
  return `provenance-proxy: ${new DestinationRefusedError(refusal.rule, refusal.address, refusal.port).message}\n`;
}

/** The raw 403 for a CONNECT or an upgrade. */
export function refusalAnswer(refusal: DestinationRefusal): Buffer {
  return rawFailureAnswer('destination_refused', refusalBody(refusal));
}

/** The IPv4 address in the last 32 bits of an IPv6 address (`::ffff:7f00:1`, `::ffff:127.0.0.1`). */
function lastIpv4(address: string): string {
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (dotted) return dotted[1]!;
  const groups = address.split(':');
  const low = Number.parseInt(groups.at(-1) || '0', 16);
  const high = Number.parseInt(groups.at(-2) || '0', 16);
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}
