import { type Digest, isVerifiable, tryParseDigest } from './digest.js';
import type { DigestAgreement } from './events.js';
import { type ExchangeContext, isSuccess, referenceValue } from './interpreter-context.js';
import { noteNotInspected, readManifestBody } from './interpreter-manifest-body.js';
import type { ManifestReference } from './reference.js';
import { resolveUrl } from './upload-sessions.js';

/**
 * Artifacts: manifest pushes (the registry's acknowledgement makes a push, the proxy's digest of
 * the body is the one that counts) and deletes of manifests and blobs.
 */

/** A 2xx to a manifest DELETE: the tag or digest is gone from the repository. */
export function deleteManifest(ctx: ExchangeContext, repository: string, reference: ManifestReference): void {
  if (!isSuccess(ctx.status)) return;
  ctx.emit({
    type: 'manifestDeleted',
    registry: ctx.registry,
    repository,
    reference: referenceValue(reference),
  });
}

export function deleteBlob(ctx: ExchangeContext, repository: string, digest: Digest): void {
  if (!isSuccess(ctx.status)) return;
  ctx.emit({ type: 'blobDeleted', registry: ctx.registry, repository, digest: digest.value });
}

/** A manifest PUT: a push once the registry acknowledged it, an anomaly when its answer broke off. */
export function pushManifest(ctx: ExchangeContext, repository: string, reference: ManifestReference): void {
  if (!ctx.exchange.request.complete) return;
  // An answer that broke off (a malformed chunk, a reset) is no acknowledgement to trust.
  if (ctx.exchange.failure?.code.startsWith('upstream_')) {
    pushOutcomeUnknown(ctx, repository, reference);
    return;
  }
  // Only the registry's acknowledgement makes a push; a refused PUT is nothing.
  if (!isSuccess(ctx.status)) return;
  const digest = ctx.exchange.request.sha256;
  const registryDigest = ctx.digestHeader('docker-content-digest');
  const locationDigest = locationDigestOf(ctx);
  const referenceDigest = reference.kind === 'digest' ? reference.digest : null;
  const agreement: DigestAgreement = {
    registryDigest: registryDigest === null ? null : registryDigest === digest,
    locationDigest: locationDigest === null ? null : locationDigest === digest,
    reference:
      referenceDigest === null || !isVerifiable(referenceDigest) ? null : referenceDigest.value === digest,
  };
  const body = readManifestBody(
    ctx.exchange.request,
    ctx.exchange.requestHeaders,
    ctx.options.manifestCaptureLimit,
  );
  ctx.emit({
    type: 'manifestPushed',
    registry: ctx.registry,
    repository,
    status: ctx.status,
    reference: referenceValue(reference),
    digest,
    size: ctx.exchange.request.size,
    registryDigest,
    locationDigest,
    agreement,
    mediaType: body.mediaType,
    contentType: body.contentType,
    mediaTypeConsistent: body.mediaTypeConsistent,
    kind: body.kind,
    manifest: body.manifest,
    unparsed: body.unparsed,
    ociSubject: ctx.digestHeader('oci-subject'),
  });
  noteNotInspected(ctx, repository, body.unparsed, 'pushed', digest);
  if (agreement.registryDigest === false) {
    ctx.mismatch(ctx.registry, repository, 'manifest-push', 'docker-content-digest', registryDigest!, digest);
  }
  if (agreement.locationDigest === false) {
    ctx.mismatch(ctx.registry, repository, 'manifest-push', 'location', locationDigest!, digest);
  }
  if (agreement.reference === false) {
    ctx.mismatch(ctx.registry, repository, 'manifest-push', 'reference', referenceDigest!.value, digest);
  }
}

/** A manifest went upstream whole and no trustworthy answer came back: the registry may hold it. */
export function pushOutcomeUnknown(
  ctx: ExchangeContext,
  repository: string,
  reference: ManifestReference,
): void {
  const { request, failure, status } = ctx.exchange;
  const answer = status === null || ctx.exchange.synthesized ? 'no answer' : `a ${status} that broke off`;
  ctx.emit({
    type: 'ociAnomaly',
    code: 'push_outcome_unknown',
    registry: ctx.registry,
    repository,
    detail: `manifest sent whole (${request.size} bytes), ${answer} (${failure?.code ?? 'unknown'})`,
    digest: request.sha256,
    reference: referenceValue(reference),
  });
}

/** The digest the response's Location ends in, when it ends in one. */
function locationDigestOf(ctx: ExchangeContext): string | null {
  const location = ctx.responseHeader('location');
  if (location === null) return null;
  const url = resolveUrl(location, ctx.exchange);
  if (url === null) return null;
  const last = url.pathname.slice(url.pathname.lastIndexOf('/') + 1);
  let decoded = last;
  try {
    decoded = decodeURIComponent(last);
  } catch {
    return null;
  }
  return tryParseDigest(decoded)?.value ?? null;
}
