import { Registry } from 'prom-client';
import t from 'tap';
import type { OciEvent } from '../../src/oci/events.js';
import { INITIAL_INTERPRETER_STATE, interpret } from '../../src/oci/interpreter.js';
import { OciMetrics } from '../../src/oci/metrics.js';
import { exchangesByFlow, loadTrace } from './trace-replay.js';

async function value(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = await registry.getSingleMetric(name)?.get();
  const sample = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return sample?.value ?? 0;
}

t.test('counters follow the events of a replayed run, on the registry given', async (t) => {
  const registry = new Registry();
  const metrics = new OciMetrics(registry);
  const events: OciEvent[] = [];
  for (const exchanges of exchangesByFlow(loadTrace()).values()) {
    let state = INITIAL_INTERPRETER_STATE;
    for (const exchange of exchanges) {
      const result = interpret(state, exchange);
      state = result.state;
      events.push(...result.events);
    }
  }
  metrics.observe(events);
  const count = (type: string, extra: (e: OciEvent) => boolean = () => true) =>
    events.filter((e) => e.type === type && extra(e)).length;

  t.equal(
    await value(registry, 'provenance_proxy_oci_manifest_pushes_total', { kind: 'index' }),
    count('manifestPushed', (e) => e.type === 'manifestPushed' && e.kind === 'index'),
  );
  t.equal(await value(registry, 'provenance_proxy_oci_manifest_pushes_total', { kind: 'artifact' }), 1);
  t.equal(
    await value(registry, 'provenance_proxy_oci_blobs_total', { disposition: 'uploaded' }),
    count('blobUploaded'),
  );
  t.equal(
    await value(registry, 'provenance_proxy_oci_blobs_total', { disposition: 'mounted' }),
    count('blobMounted'),
  );
  t.equal(
    await value(registry, 'provenance_proxy_oci_blobs_total', { disposition: 'present' }),
    count('blobPresent'),
  );
  t.equal(
    await value(registry, 'provenance_proxy_oci_pulls_total', { type: 'blob', verification: 'verified' }),
    count('blobPulled'),
  );
  t.equal(
    await value(registry, 'provenance_proxy_oci_pulls_total', { type: 'manifest', verification: 'verified' }),
    count('manifestPulled'),
  );
  t.equal(await value(registry, 'provenance_proxy_oci_digest_mismatches_total', {}), 0);
  t.ok(count('blobUploaded') > 40, 'the run uploads many blobs');

  metrics.observe([
    {
      type: 'digestMismatch',
      exchangeId: 'x',
      at: 0,
      registry: 'r:1',
      repository: 'a',
      context: 'blob-pull',
      source: 'reference',
      expected: 'sha256:a',
      observed: 'sha256:b',
    },
    {
      type: 'artifactDownloaded',
      exchangeId: 'y',
      at: 0,
      url: 'https://x/',
      method: 'GET',
      status: 200,
      size: 1,
      sha256: 'sha256:c',
      contentType: null,
    },
  ]);
  t.equal(
    await value(registry, 'provenance_proxy_oci_digest_mismatches_total', {
      context: 'blob-pull',
      source: 'reference',
    }),
    1,
  );
  t.equal(await value(registry, 'provenance_proxy_generic_artifacts_total', { direction: 'download' }), 1);
});
