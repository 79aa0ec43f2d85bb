import type { CompletedExchange, TunnelRecord } from '../http/completed-exchange.js';
import { compareStrings } from '../record/compare.js';

/**
 * Where the build's traffic went, for the statement's byproducts: the intercepted hosts with their
 * request and byte counts, and the tunnels the proxy relayed without looking inside (unobserved
 * egress: whatever crossed it is not in the record).
 *
 * Bounded: a build chooses how many hosts it touches, so the statement lists only the top
 * `EGRESS_TOP_HOSTS` of each by bytes and folds the rest into `otherHosts` / `otherTunnels`
 * (count and sums). Nothing is lost: the full per-host tallies are in the observation journal
 * (`egress.hosts` and `egress.tunnel` lines).
 */
export interface EgressSummary {
  readonly hosts: readonly EgressHost[];
  /** The intercepted hosts not listed in `hosts`, summed; count 0 when every host is listed. */
  readonly otherHosts: EgressRest<Omit<EgressHost, 'authority'>>;
  readonly unobservedTunnels: readonly UnobservedTunnel[];
  readonly otherTunnels: EgressRest<Omit<UnobservedTunnel, 'authority'>>;
  /** Connections the destination policy refused; each one is journaled as `egress.refused`. */
  readonly blockedRequests: number;
}

export type EgressRest<T> = { readonly count: number } & T;

export interface EgressHost {
  /** host:port as addressed. */
  readonly authority: string;
  readonly requests: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  /** Exchanges that ended abnormally (reset, abort, upstream TLS failure...). */
  readonly failures: number;
}

export interface UnobservedTunnel {
  readonly authority: string;
  readonly connections: number;
  readonly bytesFromClient: number;
  readonly bytesFromUpstream: number;
}

/** How many hosts (and, separately, tunnels) a statement names; the rest are summed. */
export const EGRESS_TOP_HOSTS = 50;
/** Hosts per `egress.hosts` journal line, so one line stays far below the journal's line limit. */
export const EGRESS_HOSTS_PER_LINE = 1000;

type HostCounts = Omit<EgressHost, 'authority'>;
type TunnelCounts = Omit<UnobservedTunnel, 'authority'>;

const ZERO_HOST: HostCounts = Object.freeze({ requests: 0, bytesSent: 0, bytesReceived: 0, failures: 0 });
const ZERO_TUNNEL: TunnelCounts = Object.freeze({ connections: 0, bytesFromClient: 0, bytesFromUpstream: 0 });

export const NO_EGRESS: EgressSummary = Object.freeze({
  hosts: [],
  otherHosts: { count: 0, ...ZERO_HOST },
  unobservedTunnels: [],
  otherTunnels: { count: 0, ...ZERO_TUNNEL },
  blockedRequests: 0,
});

/**
 * Running totals, fed by the exchange and tunnel sinks (and by the journal at start);
 * `summary()` is a bounded snapshot. Host tallies not yet journaled are handed out by
 * `takeUnjournaledHosts()`, one entry per host that changed: the journal grows with hosts and
 * flushes, not with requests.
 */
export class EgressTally {
  private readonly hosts = new Map<string, HostCounts>();
  private readonly tunnels = new Map<string, TunnelCounts>();
  /** Per host, what changed since the last `takeUnjournaledHosts()`. */
  private readonly unjournaled = new Map<string, HostCounts>();
  private blocked = 0;

  addExchange(exchange: Pick<CompletedExchange, 'authority' | 'request' | 'response' | 'failure'>): void {
    const delta: HostCounts = {
      requests: 1,
      bytesSent: exchange.request.size,
      bytesReceived: exchange.response.size,
      failures: exchange.failure !== null ? 1 : 0,
    };
    const key = exchange.authority.toLowerCase();
    addHost(this.hosts, key, delta);
    addHost(this.unjournaled, key, delta);
  }

  /** Replays an `egress.hosts` journal line: tallies already journaled. */
  addJournaledHosts(hosts: readonly EgressHost[]): void {
    for (const host of hosts) {
      if (typeof host?.authority !== 'string') continue;
      addHost(this.hosts, host.authority.toLowerCase(), {
        requests: count(host.requests),
        bytesSent: count(host.bytesSent),
        bytesReceived: count(host.bytesReceived),
        failures: count(host.failures),
      });
    }
  }

  /** Host tallies gained since the last call, in lines of at most EGRESS_HOSTS_PER_LINE hosts; resets them. */
  takeUnjournaledHosts(): EgressHost[][] {
    const hosts = [...this.unjournaled.entries()]
      .map(([authority, counts]) => ({ authority, ...counts }))
      .sort((a, b) => compareStrings(a.authority, b.authority));
    this.unjournaled.clear();
    const lines: EgressHost[][] = [];
    for (let i = 0; i < hosts.length; i += EGRESS_HOSTS_PER_LINE) {
      lines.push(hosts.slice(i, i + EGRESS_HOSTS_PER_LINE));
    }
    return lines;
  }

  /** Gives back tallies whose journal line could not be written, so the next flush retries them. */
  restoreUnjournaledHosts(hosts: readonly EgressHost[]): void {
    for (const { authority, ...counts } of hosts) addHost(this.unjournaled, authority, counts);
  }

  addTunnel(tunnel: Pick<TunnelRecord, 'authority' | 'bytesFromClient' | 'bytesFromUpstream'>): void {
    const key = tunnel.authority.toLowerCase();
    const entry = this.tunnels.get(key) ?? { ...ZERO_TUNNEL };
    this.tunnels.set(key, {
      connections: entry.connections + 1,
      bytesFromClient: entry.bytesFromClient + count(tunnel.bytesFromClient),
      bytesFromUpstream: entry.bytesFromUpstream + count(tunnel.bytesFromUpstream),
    });
  }

  addBlocked(): void {
    this.blocked++;
  }

  /** Every intercepted host, sorted by authority: the full list the statement summarises. */
  allHosts(): EgressHost[] {
    return [...this.hosts.entries()]
      .map(([authority, host]) => ({ authority, ...host }))
      .sort((a, b) => compareStrings(a.authority, b.authority));
  }

  summary(top = EGRESS_TOP_HOSTS): EgressSummary {
    const hosts = topByBytes(this.hosts, top, hostBytes, ZERO_HOST);
    const tunnels = topByBytes(this.tunnels, top, tunnelBytes, ZERO_TUNNEL);
    return {
      hosts: hosts.listed,
      otherHosts: hosts.rest,
      unobservedTunnels: tunnels.listed,
      otherTunnels: tunnels.rest,
      blockedRequests: this.blocked,
    };
  }
}

export const hostBytes = (h: HostCounts): number => h.bytesSent + h.bytesReceived;
export const tunnelBytes = (t: TunnelCounts): number => t.bytesFromClient + t.bytesFromUpstream;

/** `sum` plus each numeric member of `entry` that `sum` has (other members, like authority, are not summed). */
export function addCounts<T extends object>(sum: T, entry: object): T {
  const out = { ...sum } as Record<string, unknown>;
  for (const [key, value] of Object.entries(sum)) {
    const add = (entry as Record<string, unknown>)[key];
    out[key] = (value as number) + (typeof add === 'number' ? add : 0);
  }
  return out as T;
}

function addHost(map: Map<string, HostCounts>, key: string, delta: HostCounts): void {
  map.set(key, addCounts(map.get(key) ?? ZERO_HOST, delta));
}

/**
 * The `top` entries by bytes (ties by authority, so the choice is deterministic), listed sorted by
 * authority as before; the others summed.
 */
function topByBytes<T extends object>(
  map: ReadonlyMap<string, T>,
  top: number,
  bytes: (entry: T) => number,
  zero: T,
): { listed: Array<{ authority: string } & T>; rest: EgressRest<T> } {
  const all = [...map.entries()].map(([authority, entry]) => ({ authority, ...entry }));
  all.sort((a, b) => bytes(b) - bytes(a) || compareStrings(a.authority, b.authority));
  const listed = all.slice(0, top).sort((a, b) => compareStrings(a.authority, b.authority));
  let rest: EgressRest<T> = { count: 0, ...zero };
  for (const entry of all.slice(top)) rest = addCounts(rest, { count: 1, ...entry });
  return { listed, rest };
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 0;
}
