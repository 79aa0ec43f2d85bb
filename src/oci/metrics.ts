import { Counter, type Registry } from 'prom-client';
import type { OciEvent } from './events.js';

/**
 * Counters of what the interpreter observed. Fed with events *after* they are journaled, so a
 * counter never shows something the record does not hold.
 */
export class OciMetrics {
  readonly manifestPushes: Counter<'kind'>;
  readonly blobs: Counter<'disposition'>;
  readonly pulls: Counter<'type' | 'verification'>;
  readonly digestMismatches: Counter<'context' | 'source'>;
  readonly genericArtifacts: Counter<'direction'>;
  readonly anomalies: Counter<'code'>;
  readonly pushRefusals: Counter<'route'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.manifestPushes = new Counter({
      name: 'provenance_proxy_oci_manifest_pushes_total',
      help: 'Manifest pushes the registry acknowledged, by kind (image, index, artifact)',
      labelNames: ['kind'],
      registers,
    });
    this.blobs = new Counter({
      name: 'provenance_proxy_oci_blobs_total',
      help: 'Blobs by disposition: uploaded (digest verified), upload_mismatch, upload_unverifiable, mounted, present',
      labelNames: ['disposition'],
      registers,
    });
    this.pulls = new Counter({
      name: 'provenance_proxy_oci_pulls_total',
      help: 'Manifests and blobs pulled, by type and verification (verified, mismatch, unchecked, unverifiable)',
      labelNames: ['type', 'verification'],
      registers,
    });
    this.digestMismatches = new Counter({
      name: 'provenance_proxy_oci_digest_mismatches_total',
      help: 'Digests the proxy computed that disagree with a stated one, by context and by who stated it',
      labelNames: ['context', 'source'],
      registers,
    });
    this.genericArtifacts = new Counter({
      name: 'provenance_proxy_generic_artifacts_total',
      help: 'Non-OCI bodies recorded, by direction (download, upload)',
      labelNames: ['direction'],
      registers,
    });
    this.pushRefusals = new Counter({
      name: 'provenance_proxy_push_refusals_total',
      help: 'Registry writes refused by --push-allow (answered 403, never sent upstream), by route',
      labelNames: ['route'],
      registers,
    });
    this.anomalies = new Counter({
      name: 'provenance_proxy_oci_anomalies_total',
      help: 'OCI exchanges too odd to become facts, by code',
      labelNames: ['code'],
      registers,
    });
  }

  observe(events: readonly OciEvent[]): void {
    for (const event of events) {
      switch (event.type) {
        case 'manifestPushed':
          this.manifestPushes.inc({ kind: event.kind });
          break;
        case 'blobUploaded':
          this.blobs.inc({
            disposition: event.verification === 'verified' ? 'uploaded' : `upload_${event.verification}`,
          });
          break;
        case 'blobMounted':
          this.blobs.inc({ disposition: 'mounted' });
          break;
        case 'blobPresent':
          this.blobs.inc({ disposition: 'present' });
          break;
        case 'manifestPulled':
          this.pulls.inc({ type: 'manifest', verification: event.verification });
          break;
        case 'blobPulled':
          this.pulls.inc({ type: 'blob', verification: event.verification });
          break;
        case 'digestMismatch':
          this.digestMismatches.inc({ context: event.context, source: event.source });
          break;
        case 'artifactDownloaded':
          this.genericArtifacts.inc({ direction: 'download' });
          break;
        case 'artifactUploaded':
          this.genericArtifacts.inc({ direction: 'upload' });
          break;
        case 'ociAnomaly':
          this.anomalies.inc({ code: event.code });
          break;
        case 'pushRefused':
          this.pushRefusals.inc({ route: event.route });
          break;
        default:
          break;
      }
    }
  }
}
