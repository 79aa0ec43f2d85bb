import { Counter, Gauge, type Registry } from 'prom-client';
import { InvalidOptionError } from '../errors.js';

/** What the gauges read when Prometheus scrapes. */
export interface OutboxGaugeSource {
  /** Per sink: deliveries waiting or in flight, and when the oldest of them was enqueued (ms since epoch). */
  snapshot(): Iterable<{ sink: string; depth: number; oldestEnqueuedAt: number | null }>;
  now(): number;
}

export interface OutboxMetrics {
  /** `cause` is the SinkError's label (`http_503`, `network`...), `max_age`, or `none` on success. */
  readonly reports: Counter<'sink' | 'result' | 'cause'>;
  /** A sink refused the credentials (401/403); `status` is the HTTP status. */
  readonly authFailures: Counter<'sink' | 'status'>;
  /** Reports written to the dead-letter file, by sink and cause. */
  readonly deadLetters: Counter<'sink' | 'cause'>;
  /** Outbox journal compactions, by outcome (done, failed). */
  readonly compactions: Counter<'result'>;
  /** Takes the metrics off the registry, so a closed outbox stops reporting and a new one can register. */
  unregister(): void;
}

const METRIC_NAMES = [
  'provenance_proxy_reports_total',
  'provenance_proxy_outbox_depth',
  'provenance_proxy_outbox_oldest_age_seconds',
  'provenance_proxy_report_auth_failures_total',
  'provenance_proxy_report_dead_letters_total',
  'provenance_proxy_outbox_compactions_total',
] as const;

/**
 * Registers the outbox metrics. The gauges are computed on collect from `source`, so they are
 * exact at scrape time without bookkeeping on every change. One outbox per registry.
 */
export function registerOutboxMetrics(registry: Registry, source: OutboxGaugeSource): OutboxMetrics {
  if (METRIC_NAMES.some((name) => registry.getSingleMetric(name) !== undefined)) {
    throw new InvalidOptionError('outbox.registry', 'already holds outbox metrics: one outbox per registry');
  }
  const reports = new Counter({
    name: 'provenance_proxy_reports_total',
    help: 'Report deliveries by sink and result (succeeded, failed for good, retried) and cause.',
    labelNames: ['sink', 'result', 'cause'],
    registers: [registry],
  });
  new Gauge({
    name: 'provenance_proxy_outbox_depth',
    help: 'Reports waiting for or in delivery, by sink.',
    labelNames: ['sink'],
    registers: [registry],
    collect() {
      this.reset();
      for (const lane of source.snapshot()) this.set({ sink: lane.sink }, lane.depth);
    },
  });
  new Gauge({
    name: 'provenance_proxy_outbox_oldest_age_seconds',
    help: 'Age of the oldest report not yet delivered, by sink (0 when none).',
    labelNames: ['sink'],
    registers: [registry],
    collect() {
      this.reset();
      const now = source.now();
      for (const lane of source.snapshot()) {
        const age = lane.oldestEnqueuedAt === null ? 0 : Math.max(0, now - lane.oldestEnqueuedAt) / 1000;
        this.set({ sink: lane.sink }, age);
      }
    },
  });
  const authFailures = new Counter({
    name: 'provenance_proxy_report_auth_failures_total',
    help: 'Report deliveries a sink refused for its credentials (401, 403), by sink and status; retried.',
    labelNames: ['sink', 'status'],
    registers: [registry],
  });
  const deadLetters = new Counter({
    name: 'provenance_proxy_report_dead_letters_total',
    help: 'Reports parked in the dead-letter file (payload refused as malformed or too large, or past max age), by sink and cause.',
    labelNames: ['sink', 'cause'],
    registers: [registry],
  });
  const compactions = new Counter({
    name: 'provenance_proxy_outbox_compactions_total',
    help: 'Outbox journal compactions, by result.',
    labelNames: ['result'],
    registers: [registry],
  });
  return {
    reports,
    authFailures,
    deadLetters,
    compactions,
    unregister: () => {
      for (const name of METRIC_NAMES) registry.removeSingleMetric(name);
    },
  };
}
