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
import {
  isOciIndex,
  OCI_INDEX_MEDIA_TYPE,
  referrerArtifact,
  referrerDigests,
  SIGSTORE_BUNDLE_MEDIA_TYPE,
  type SubjectDescriptor,
} from './referrer-layout.js';

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
  /** The OCI 1.1 referrer, stored only where the registry's referrers API answers. */
  readonly referrer: ReferrerOutcome;
}

export type ReferrerOutcome =
  | {
      readonly outcome: 'attached' | 'already-present';
      readonly manifestDigest: string;
      readonly artifactType: string;
    }
  /** The registry answered the referrers probe with something other than an OCI index. */
  | { readonly outcome: 'referrers-api-absent'; readonly status: number };

/** Any manifest an image can be pushed as: what the subject's HEAD accepts. */
const MANIFEST_ACCEPT = [
  OCI_MANIFEST_MEDIA_TYPE,
  OCI_INDEX_MEDIA_TYPE,
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/**
 * Stores each signed per-image statement in the image's own repository, where
 * `cosign verify-attestation` and admission controllers look: cosign's legacy layout
 * (`sha256-<hex>.att`, layers that are DSSE envelopes with a `predicateType` annotation) always,
 * and an OCI 1.1 referrer (a Sigstore bundle, referrer-layout.ts) where the registry's referrers
 * API answers.
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
    const referrer = await this.#attachReferrer(report, image);
    await this.#recorded({
      reportId: report.reportId,
      registry,
      repository,
      subject: digest,
      tag,
      manifestDigest: next.manifestDigest,
      layerDigest: layer.digest,
      alreadyPresent: next.present,
      referrer,
    });
  }

  /**
   * After the legacy tag: the referrer, if the registry lists referrers. The probe decides; the
   * index it returns says whether this exact manifest is already there (same envelope, same
   * digest), so a retry or a re-delivery adds nothing.
   */
  async #attachReferrer(
    report: SignedReport,
    image: NonNullable<SignedReport['image']>,
  ): Promise<ReferrerOutcome> {
    const { registry, repository, digest } = image;
    const probe = await this.#send(registry, 'GET', `/v2/${repository}/referrers/${digest}`, {
      accept: OCI_INDEX_MEDIA_TYPE,
    });
    if (isPassing(probe.status)) throw failure(registry, 'listing referrers', probe);
    const listed = probe.status === 200 ? listedReferrers(probe) : null;
    if (listed === null) return { outcome: 'referrers-api-absent', status: probe.status };
    const artifact = referrerArtifact(
      await this.#subject(registry, repository, digest),
      report.envelope,
      report.statement.predicateType,
    );
    const recorded = { manifestDigest: artifact.manifestDigest, artifactType: SIGSTORE_BUNDLE_MEDIA_TYPE };
    if (listed.includes(artifact.manifestDigest)) return { outcome: 'already-present', ...recorded };
    await this.#ensureBlob(registry, repository, artifact.config);
    await this.#ensureBlob(registry, repository, artifact.bundle);
    const put = await this.#send(
      registry,
      'PUT',
      `/v2/${repository}/manifests/${artifact.manifestDigest}`,
      { 'content-type': OCI_MANIFEST_MEDIA_TYPE },
      artifact.manifest,
    );
    if (put.status !== 201 && put.status !== 200) throw failure(registry, 'storing the referrer', put);
    return { outcome: 'attached', ...recorded };
  }

  /** The image's manifest as the registry serves it (media type and size go into `subject`). */
  async #subject(registry: string, repository: string, digest: string): Promise<SubjectDescriptor> {
    const head = await this.#send(registry, 'HEAD', `/v2/${repository}/manifests/${digest}`, {
      accept: MANIFEST_ACCEPT,
    });
    if (head.status !== 200) throw failure(registry, 'reading the image manifest', head);
    const mediaType = contentType(head);
    const size = Number(head.headers['content-length']);
    if (mediaType === undefined || !Number.isSafeInteger(size) || size <= 0)
      throw new SinkError(
        'ERR_SINK',
        `${registry} did not say the type and size of ${repository}@${digest}`,
        {
          retryable: false,
          reason: 'subject_unknown',
        },
      );
    return { mediaType: mediaType.split(';')[0]!.trim(), digest, size };
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

/**
 * The digests the referrers answer lists; null when it is no referrers index. An index too long
 * to read whole (hundreds of referrers) still says the API is there: then the manifest is put
 * anyway, which a registry takes as a no-op when it already holds that digest.
 */
function listedReferrers(probe: OwnResponse): string[] | null {
  if (probe.truncated) return isOciIndex(contentType(probe)) ? [] : null;
  return referrerDigests(contentType(probe), probe.body);
}

function contentType(response: OwnResponse): string | undefined {
  const value = response.headers['content-type'];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Answers to the referrers probe that may pass: not a sign the API is absent. A 401/403 is not
 * among them: the same credentials just read and wrote the `.att` tag, so a registry refusing
 * them here guards a route it does not serve, and retrying would hold back the attachment that
 * has already landed.
 */
function isPassing(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/** Stable codes of the attachment's failures (what the outbox and the dead-letter file show). */
export const ATTACHMENT_ERROR_CODES = {
  /** The registry's policy refuses the write (403 with an OCI `DENIED` error): not retried. */
  denied: 'ERR_ATTESTATION_DENIED',
  /** Any other answer that is not what the step needs; retryable or not by status. */
  registry: 'ERR_ATTESTATION_REGISTRY',
} as const;

/**
 * The registry's status only: its body may echo what was sent. The one thing read from the body
 * is the OCI error code, from a fixed vocabulary: a 403 that says `DENIED` is the registry's policy
 * refusing this repository (Harbor's or GHCR's permission check, a read-only project), which no
 * retry changes, so it goes to the dead-letter file at once, loudly, instead of waiting forever
 * behind the retries. Any other 401/403 (an expired or rotating credential) is retried.
 */
function failure(registry: string, doing: string, response: OwnResponse): SinkError {
  const status = response.status;
  if (status === 403 && ociErrorCodes(response.body).includes('DENIED'))
    return new SinkError(
      ATTACHMENT_ERROR_CODES.denied,
      `${registry} denied the attestation (403 DENIED) while ${doing}`,
      { retryable: false, reason: 'http_403_denied' },
    );
  const retryable =
    status >= 500 || status === 401 || status === 403 || status === 404 || status === 408 || status === 429;
  return new SinkError(ATTACHMENT_ERROR_CODES.registry, `${registry} answered ${status} while ${doing}`, {
    retryable,
    reason: `http_${status}`,
    auth: status === 401 || status === 403,
  });
}

/** `{"errors":[{"code":"DENIED",…}]}` → ['DENIED']; anything else → []. */
function ociErrorCodes(body: Buffer): string[] {
  try {
    const errors = (JSON.parse(body.toString('utf8')) as { errors?: unknown } | null)?.errors;
    if (!Array.isArray(errors)) return [];
    return errors
      .map((error) => (error as { code?: unknown } | null)?.code)
      .filter((code): code is string => typeof code === 'string');
  } catch {
    return [];
  }
}
