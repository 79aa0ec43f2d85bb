import { Counter, Histogram, type Registry } from 'prom-client';

/** Journal metrics, labelled by journal file name so several journals can share one registry. */
export interface JournalMetrics {
  readonly appends: Counter<'journal'>;
  readonly bytes: Counter<'journal'>;
  readonly fsyncSeconds: Histogram<'journal'>;
  readonly tornLines: Counter<'journal'>;
}

/** Creates the metrics on `registry`, or returns the ones a journal opened earlier registered there. */
export function journalMetrics(registry: Registry): JournalMetrics {
  return {
    appends: counter(registry, 'provenance_proxy_journal_appends_total', 'Lines appended and fsynced.'),
    bytes: counter(registry, 'provenance_proxy_journal_bytes_total', 'Bytes appended and fsynced.'),
    fsyncSeconds: histogram(
      registry,
      'provenance_proxy_journal_fsync_seconds',
      'Time one group commit waits for fdatasync.',
    ),
    tornLines: counter(
      registry,
      'provenance_proxy_journal_torn_lines_total',
      'Torn last lines found at open, preserved in a side file and cut off.',
    ),
  };
}

function counter(registry: Registry, name: string, help: string): Counter<'journal'> {
  const existing = registry.getSingleMetric(name);
  if (existing instanceof Counter) return existing as Counter<'journal'>;
  return new Counter({ name, help, labelNames: ['journal'], registers: [registry] });
}

function histogram(registry: Registry, name: string, help: string): Histogram<'journal'> {
  const existing = registry.getSingleMetric(name);
  if (existing instanceof Histogram) return existing as Histogram<'journal'>;
  return new Histogram({
    name,
    help,
    labelNames: ['journal'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
}
