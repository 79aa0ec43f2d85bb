import type { CompletedExchange, TunnelRecord } from '../http/completed-exchange.js';
import { compareStrings } from '../record/compare.js';

/**
 * Where the build's traffic went, for the statement's byproducts: every intercepted host with
 * its request and byte counts, and every tunnel the proxy relayed without looking inside
 * (unobserved egress: whatever crossed it is not in the record).
 */
export interface EgressSummary {
  readonly hosts: readonly EgressHost[];
  readonly unobservedTunnels: readonly UnobservedTunnel[];
  /** Connections the destination policy refused; each one is journaled as `egress.refused`. */
  readonly blockedRequests: number;
}

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

export const NO_EGRESS: EgressSummary = Object.freeze({
  hosts: [],
  unobservedTunnels: [],
  blockedRequests: 0,
});

/** Running totals, fed by the exchange and tunnel sinks; `summary()` is a sorted snapshot. */
export class EgressTally {
  private readonly hosts = new Map<
    string,
    { requests: number; bytesSent: number; bytesReceived: number; failures: number }
  >();
  private readonly tunnels = new Map<
    string,
    { connections: number; bytesFromClient: number; bytesFromUpstream: number }
  >();
  private blocked = 0;

  addExchange(exchange: Pick<CompletedExchange, 'authority' | 'request' | 'response' | 'failure'>): void {
    const key = exchange.authority.toLowerCase();
    const host = this.hosts.get(key) ?? { requests: 0, bytesSent: 0, bytesReceived: 0, failures: 0 };
    host.requests++;
    host.bytesSent += exchange.request.size;
    host.bytesReceived += exchange.response.size;
    if (exchange.failure !== null) host.failures++;
    this.hosts.set(key, host);
  }

  addTunnel(tunnel: Pick<TunnelRecord, 'authority' | 'bytesFromClient' | 'bytesFromUpstream'>): void {
    const key = tunnel.authority.toLowerCase();
    const entry = this.tunnels.get(key) ?? { connections: 0, bytesFromClient: 0, bytesFromUpstream: 0 };
    entry.connections++;
    entry.bytesFromClient += tunnel.bytesFromClient;
    entry.bytesFromUpstream += tunnel.bytesFromUpstream;
    this.tunnels.set(key, entry);
  }

  addBlocked(): void {
    this.blocked++;
  }

  summary(): EgressSummary {
    return {
      hosts: [...this.hosts.entries()]
        .map(([authority, host]) => ({ authority, ...host }))
        .sort((a, b) => compareStrings(a.authority, b.authority)),
      unobservedTunnels: [...this.tunnels.entries()]
        .map(([authority, tunnel]) => ({ authority, ...tunnel }))
        .sort((a, b) => compareStrings(a.authority, b.authority)),
      blockedRequests: this.blocked,
    };
  }
}
