import type { CredentialBroker } from '../broker/credential-broker.js';
import type { OwnClient, OwnResponse } from '../broker/own-client.js';
import { isRetryable } from '../errors.js';
import type { ProvenanceSink, SignedReport } from '../reporters/sink.js';
import { SinkError } from '../reporters/sink.js';
import {
  attestationImage,
  attestationTag,
  type Blob,
  envelopeLayer,
  OCI_MANIFEST_MEDIA_TYPE,
} from './attestation-layout.js';

export const ATTESTATION_SINK_NAME = 'registry-attestations';

/** What the journal keeps of one attachment (digests and names only). */
export interface AttachedAttestation {
  readonly reportId: string;
  readonly registry: string;
  readonly repository: string;
  /** The image the attestation is about. */
  readonly subject: string;
  readonly tag: string;
  readonly manifestDigest: string;
  readonly layerDigest: string;
  /** The tag already held this envelope: nothing was written. */
  readonly alreadyPresent: boolean;
}

/**
 * Stores each signed per-image statement in the image's own repository, where
 * `cosign verify-attestation` and admission controllers look: cosign's legacy layout
 * (`sha256-<hex>.att`, layers that are DSSE envelopes with a `predicateType` annotation).
 * The proxy's own client talks to the registry directly, so this never shows up as the build's
 * output; the outbox retries it like any sink, and re-delivery adds nothing (idempotent).
 */
export class AttestationSink implements ProvenanceSink {
  readonly name = ATTESTATION_SINK_NAME;
  readonly #client: OwnClient;
  readonly #broker: CredentialBroker | null;
  readonly #recorded: (attached: AttachedAttestation) => Promise<void>;

  constructor(
    client: OwnClient,
    broker: CredentialBroker | null,
    recorded: (attached: AttachedAttestation) => Promise<void>,
  ) {
    this.#client = client;
    this.#broker = broker;
    this.#recorded = recorded;
  }

  async deliver(report: SignedReport): Promise<void> {
    const image = report.image;
    // Build statements have many subjects and no one place to live; images carry theirs.
    if (report.kind !== 'image' || image === undefined) return;
    const { registry, repository, digest } = image;
    const tag = attestationTag(digest);
    const layer = envelopeLayer(report.envelope);
    const manifestPath = `/v2/${repository}/manifests/${tag}`;
    const current = await this.#send(registry, 'GET', manifestPath, { accept: OCI_MANIFEST_MEDIA_TYPE });
    if (current.status !== 200 && current.status !== 404) throw failure(registry, 'reading', current);
    if (current.truncated)
      throw new SinkError('ERR_SINK', `${registry}/${repository}:${tag} is too large to extend`, {
        retryable: false,
        reason: 'too_large',
      });
    const next = attestationImage(
      current.status === 200 ? current.body : null,
      layer,
      report.statement.predicateType,
    );
    if (!next.present) {
      await this.#ensureBlob(registry, repository, layer);
      await this.#ensureBlob(registry, repository, next.config);
      const put = await this.#send(
        registry,
        'PUT',
        manifestPath,
        { 'content-type': OCI_MANIFEST_MEDIA_TYPE },
        next.manifest,
      );
      if (put.status !== 201 && put.status !== 200)
        throw failure(registry, 'storing the attestation manifest', put);
    }
    await this.#recorded({
      reportId: report.reportId,
      registry,
      repository,
      subject: digest,
      tag,
      manifestDigest: next.manifestDigest,
      layerDigest: layer.digest,
      alreadyPresent: next.present,
    });
  }

  async #ensureBlob(registry: string, repository: string, blob: Blob): Promise<void> {
    const head = await this.#send(registry, 'HEAD', `/v2/${repository}/blobs/${blob.digest}`, {});
    if (head.status === 200) return;
    const start = await this.#send(registry, 'POST', `/v2/${repository}/blobs/uploads/`, {});
    const location = start.headers.location;
    if (start.status !== 202 || typeof location !== 'string')
      throw failure(registry, 'starting an upload', start);
    const url = new URL(location, `https://${registry}`);
    if (url.host.toLowerCase() !== registry || url.protocol !== 'https:')
      throw new SinkError('ERR_SINK', `${registry} sent the upload elsewhere`, {
        retryable: false,
        reason: 'upload_elsewhere',
      });
    url.searchParams.set('digest', blob.digest);
    const put = await this.#send(
      registry,
      'PUT',
      `${url.pathname}${url.search}`,
      { 'content-type': 'application/octet-stream' },
      blob.bytes,
    );
    if (put.status !== 201) throw failure(registry, 'uploading a blob', put);
  }

  async #send(
    registry: string,
    method: 'GET' | 'HEAD' | 'POST' | 'PUT',
    target: string,
    headers: Record<string, string>,
    body?: Buffer,
  ): Promise<OwnResponse> {
    const authorization = await this.#broker
      ?.authorization(registry, method, target)
      ?.catch((error: Error) => {
        throw new SinkError('ERR_SINK', error.message, {
          retryable: isRetryable(error),
          reason: 'credentials',
          auth: true,
          cause: error,
        });
      });
    try {
      return await this.#client.send(
        new URL(`https://${registry}${target}`),
        method,
        authorization === undefined ? headers : { ...headers, authorization },
        body,
      );
    } catch (error) {
      throw new SinkError('ERR_SINK', `${registry} did not answer: ${(error as Error).message}`, {
        retryable: true,
        reason: 'network',
        cause: error,
      });
    }
  }
}

/** The registry's status only: its body may echo what was sent. */
function failure(registry: string, doing: string, response: OwnResponse): SinkError {
  const status = response.status;
  const retryable =
    status >= 500 || status === 401 || status === 403 || status === 404 || status === 408 || status === 429;
  return new SinkError('ERR_SINK', `${registry} answered ${status} while ${doing}`, {
    retryable,
    reason: `http_${status}`,
    auth: status === 401 || status === 403,
  });
}
