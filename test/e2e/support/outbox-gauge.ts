import type { RunningProxy } from '../../support/proxy.js';

/**
 * One labelled sample of a Prometheus text exposition, e.g.
 * `provenance_proxy_outbox_depth{sink="grafeas"} 2`; undefined when the series is absent.
 */
export function metricSample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const match = /^([a-z_:]+)(?:\{([^}]*)\})?\s+(\S+)/i.exec(line);
    if (match === null || match[1] !== name) continue;
    const present = new Map(
      [...(match[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([key, value]) => present.get(key) === value)) return Number(match[3]);
  }
  return undefined;
}

/** Reports the proxy's outbox still holds for one sink (waiting or in delivery). */
export async function outboxDepth(proxy: RunningProxy, sink: string): Promise<number> {
  const depth = metricSample(await proxy.metrics(), 'provenance_proxy_outbox_depth', { sink });
  if (depth === undefined) throw new Error(`no provenance_proxy_outbox_depth series for sink ${sink}`);
  return depth;
}

/** Deliveries to a sink that failed and were scheduled again, over every cause. */
export async function retriedDeliveries(proxy: RunningProxy, sink: string): Promise<number> {
  const text = await proxy.metrics();
  let total = 0;
  for (const line of text.split('\n')) {
    if (
      line.startsWith('provenance_proxy_reports_total{') &&
      line.includes(`sink="${sink}"`) &&
      line.includes('result="retried"')
    ) {
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}
