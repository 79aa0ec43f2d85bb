import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Every metric of the hot path, registered once on the given registry. */
export class ProxyMetrics {
  readonly requests: Counter<'method' | 'status_class'>;
  readonly bytes: Counter<'direction' | 'mode'>;
  readonly activeConnections: Gauge<'kind'>;
  readonly tlsHandshakes: Counter<'side' | 'result' | 'cause'>;
  readonly leafCache: Counter<'result'>;
  readonly upstreamErrors: Counter<'cause'>;
  readonly clientErrors: Counter<'cause'>;
  readonly requestDuration: Histogram<'method'>;
  readonly tunnels: Counter<'result'>;
  readonly exchangeSinkErrors: Counter;
  readonly connectionsRefused: Counter<'cause'>;
  readonly egressPolicyDecisions: Counter<'verdict' | 'captured_by'>;
  readonly captureBudgetExceeded: Counter;
  readonly capturedBytesInFlight: Gauge;
  readonly refusals: Counter<'code'>;
  /** What capturedBytesInFlight reports at each scrape (the capture budget sets it). */
  capturedBytesSource: () => number = () => 0;
  readonly destinationsRefused: Counter<'rule'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({
      name: 'provenance_proxy_requests_total',
      help: 'Requests proxied, by method and response status class (1xx..5xx, or "none" when no response was received)',
      labelNames: ['method', 'status_class'],
      registers,
    });
    this.bytes = new Counter({
      name: 'provenance_proxy_bytes_total',
      help: 'Body bytes relayed; direction is "in" (client to upstream) or "out" (upstream to client); mode is intercepted, plain, tunnel (blind CONNECT) or upgrade (switched protocols, e.g. WebSocket)',
      labelNames: ['direction', 'mode'],
      registers,
    });
    this.activeConnections = new Gauge({
      name: 'provenance_proxy_active_connections',
      help: 'Open client connections, by kind (plain, intercepted, tunnel)',
      labelNames: ['kind'],
      registers,
    });
    this.tlsHandshakes = new Counter({
      name: 'provenance_proxy_tls_handshakes_total',
      help: 'TLS handshakes with clients (side=client) and upstreams (side=upstream), by result and failure cause',
      labelNames: ['side', 'result', 'cause'],
      registers,
    });
    this.leafCache = new Counter({
      name: 'provenance_proxy_leaf_cache_lookups_total',
      help: 'Leaf certificate cache lookups by result (hit, miss)',
      labelNames: ['result'],
      registers,
    });
    this.refusals = new Counter({
      name: 'provenance_proxy_refused_requests_total',
      help: "Requests the proxy answered itself by a later stage's decision, never sent upstream, by code (e.g. push_denied)",
      labelNames: ['code'],
      registers,
    });
    this.upstreamErrors = new Counter({
      name: 'provenance_proxy_upstream_errors_total',
      help: 'Upstream failures by cause (dns, refused, tls_untrusted, tls_hostname, reset, timeout, ...)',
      labelNames: ['cause'],
      registers,
    });
    this.clientErrors = new Counter({
      name: 'provenance_proxy_client_errors_total',
      help: 'Client connections or requests rejected, by cause (bad_request, tls_on_plain_port, not_tls_after_connect, header_timeout, ...)',
      labelNames: ['cause'],
      registers,
    });
    this.requestDuration = new Histogram({
      name: 'provenance_proxy_request_duration_seconds',
      help: 'Time from request head to the end of the response, by method',
      labelNames: ['method'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600],
      registers,
    });
    this.tunnels = new Counter({
      name: 'provenance_proxy_tunnels_total',
      help: 'Blind (uninspected) tunnels relayed for --tunnel hosts, by result',
      labelNames: ['result'],
      registers,
    });
    this.exchangeSinkErrors = new Counter({
      name: 'provenance_proxy_exchange_sink_errors_total',
      help: 'Completed exchanges a later stage failed to take (a bug: the exchange is logged and the proxy carries on)',
      registers,
    });
    this.egressPolicyDecisions = new Counter({
      name: 'provenance_proxy_egress_policy_decisions_total',
      help: 'Destinations outside --egress-allow: refused (enforce) or flagged (audit), by capture path',
      labelNames: ['verdict', 'captured_by'],
      registers,
    });
    this.connectionsRefused = new Counter({
      name: 'provenance_proxy_connections_refused_total',
      help: 'Client connections refused before any request was read, by cause (connection_limit: --max-connections were open)',
      labelNames: ['cause'],
      registers,
    });
    this.captureBudgetExceeded = new Counter({
      name: 'provenance_proxy_capture_budget_exceeded_total',
      help: 'Bodies (manifests, token answers) relayed and hashed but not kept for inspection because --max-capture-bytes-total was in use',
      registers,
    });
    const source = () => this.capturedBytesSource();
    this.capturedBytesInFlight = new Gauge({
      name: 'provenance_proxy_captured_bytes_in_flight',
      help: 'Body bytes held in memory for inspection by exchanges in flight (bounded by --max-capture-bytes-total)',
      registers,
      collect() {
        this.set(source());
      },
    });
    this.destinationsRefused = new Counter({
      name: 'provenance_proxy_destinations_refused_total',
      help: 'Connections the destination policy refused, by rule (loopback, link_local, unspecified, own_port)',
      labelNames: ['rule'],
      registers,
    });
  }
}

export function statusClass(status: number | null): string {
  return status === null ? 'none' : `${Math.floor(status / 100)}xx`;
}
