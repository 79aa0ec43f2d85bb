import type { Registry } from 'prom-client';

/**
 * Reads one sample from a registry the way a scrape would (so collect() callbacks run).
 * `sample` picks a histogram's `_count`/`_sum` series; labels must match exactly those given.
 */
export async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
  sample = name,
): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return undefined;
  const { values } = await metric.get();
  const hit = values.find(
    (v) =>
      ((v as { metricName?: string }).metricName ?? name) === sample &&
      Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want),
  );
  return hit?.value;
}
