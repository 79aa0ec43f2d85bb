import { type Digest, isVerifiable, tryParseDigest } from './digest.js';
import type { BlobVerification, MismatchSource, PullVerification, ReferenceValue } from './events.js';
import { type ExchangeContext, isRedirect, isSuccess, referenceValue } from './interpreter-context.js';
import { noteNotInspected, readManifestBody } from './interpreter-manifest-body.js';
import { findRedirect, withoutRedirectAt } from './redirects.js';
import { type ManifestReference, registryKey } from './reference.js';

/**
 * Reads (pulls): blob and manifest GET/HEAD, verified against the digest asked for, followed
 * through registry redirects to storage, ranged reads recorded for what they are.
 */

/** A blob GET or HEAD to its registry (a redirect is followed to wherever it sends the client). */
export function readBlob(ctx: ExchangeContext, repository: string, digest: Digest): void {
  blobRead(ctx, ctx.registry, repository, digest, ctx.target.method, null, true);
}

/** A manifest GET or HEAD to its registry. */
export function readManifest(ctx: ExchangeContext, repository: string, reference: ManifestReference): void {
  manifestRead(ctx, ctx.registry, repository, referenceValue(reference), ctx.target.method, null, true);
}

/** true when this request followed a pending redirect (and was handled as such). */
export function followRedirect(ctx: ExchangeContext): boolean {
  const { method } = ctx.target;
  if (ctx.state.redirects.length === 0 || (method !== 'GET' && method !== 'HEAD')) return false;
  const path = ctx.target.pathname ?? ctx.target.path;
  const index = findRedirect(ctx.state.redirects, ctx.exchange.authority, method, path);
  if (index === -1) return false;
  const pending = ctx.state.redirects[index]!;
  ctx.state = { ...ctx.state, redirects: withoutRedirectAt(ctx.state.redirects, index) };
  if (isRedirect(ctx.status)) {
    if (pending.hops < ctx.options.maxRedirectHops) ctx.rememberRedirect(pending, pending.hops + 1);
    return true;
  }
  if (!isSuccess(ctx.status)) return true;
  const redirectedTo = registryKey(ctx.exchange.authority);
  if (pending.purpose === 'blob-read') {
    const digest = tryParseDigest(pending.digest);
    if (digest !== null) blobRead(ctx, pending.registry, pending.repository, digest, method, redirectedTo);
  } else if (pending.reference !== null) {
    manifestRead(ctx, pending.registry, pending.repository, pending.reference, method, redirectedTo);
  }
  return true;
}

function blobRead(
  ctx: ExchangeContext,
  registry: string,
  repository: string,
  digest: Digest,
  method: string,
  redirectedTo: string | null,
  mayRedirect = false,
): void {
  if (mayRedirect && isRedirect(ctx.status)) {
    ctx.rememberRedirect(
      { purpose: 'blob-read', registry, repository, digest: digest.value, reference: null },
      0,
    );
    return;
  }
  if (ctx.status === 206 && method === 'GET') {
    rangedBlobRead(ctx, registry, repository, digest, redirectedTo);
    return;
  }
  if (ctx.status !== 200) return;
  if (method === 'HEAD') {
    ctx.emit({ type: 'blobPresent', registry, repository, digest: digest.value });
    return;
  }
  if (method !== 'GET' || !ctx.exchange.response.complete) return;
  wholeBlobRead(ctx, registry, repository, digest, redirectedTo, null);
}

/**
 * A `Range` read answered 206. When its Content-Range spans the whole blob the body is the
 * blob and is verified as any pull; otherwise the proxy saw part of it: the input is recorded
 * under the digest the client asked for, with no computed digest and `unverifiable`, so no
 * report claims a digest the proxy did not compute.
 */
function rangedBlobRead(
  ctx: ExchangeContext,
  registry: string,
  repository: string,
  digest: Digest,
  redirectedTo: string | null,
): void {
  const contentRange = ctx.responseHeader('content-range');
  if (wholeRange(ctx)) {
    wholeBlobRead(ctx, registry, repository, digest, redirectedTo, contentRange);
    return;
  }
  ctx.emit({
    type: 'blobPulled',
    registry,
    repository,
    digest: digest.value,
    computedDigest: null,
    size: ctx.exchange.response.size,
    verification: 'unverifiable',
    redirectedTo,
    contentRange: contentRange ?? 'unknown',
  });
}

/** A complete 206 whose Content-Range is the whole representation: as good as a 200. */
function wholeRange(ctx: ExchangeContext): boolean {
  const { response } = ctx.exchange;
  return response.complete && coversWholeBody(ctx.responseHeader('content-range'), response.size);
}

function wholeBlobRead(
  ctx: ExchangeContext,
  registry: string,
  repository: string,
  digest: Digest,
  redirectedTo: string | null,
  contentRange: string | null,
): void {
  const computedDigest = ctx.exchange.response.sha256;
  const verification: BlobVerification = !isVerifiable(digest)
    ? 'unverifiable'
    : computedDigest === digest.value
      ? 'verified'
      : 'mismatch';
  ctx.emit({
    type: 'blobPulled',
    registry,
    repository,
    digest: digest.value,
    computedDigest,
    size: ctx.exchange.response.size,
    verification,
    redirectedTo,
    contentRange,
  });
  if (verification === 'mismatch')
    ctx.mismatch(registry, repository, 'blob-pull', 'reference', digest.value, computedDigest);
}

function manifestRead(
  ctx: ExchangeContext,
  registry: string,
  repository: string,
  reference: ReferenceValue,
  method: string,
  redirectedTo: string | null,
  mayRedirect = false,
): void {
  if (mayRedirect && isRedirect(ctx.status)) {
    ctx.rememberRedirect({ purpose: 'manifest-read', registry, repository, digest: null, reference }, 0);
    return;
  }
  if (ctx.status === 206 && method === 'GET' && !wholeRange(ctx)) {
    // Part of a manifest: its digest cannot be computed, but the read is not hidden.
    ctx.anomaly(
      'manifest_read_partial',
      repository,
      `ranged read of ${reference.kind === 'tag' ? reference.tag : reference.digest} (${ctx.responseHeader('content-range') ?? 'no Content-Range'}): not verified`,
    );
    return;
  }
  if (ctx.status !== 200 && ctx.status !== 206) return;
  const registryDigest = ctx.digestHeader('docker-content-digest');
  if (method === 'HEAD') {
    ctx.emit({ type: 'manifestPresent', registry, repository, reference, registryDigest });
    return;
  }
  if (method !== 'GET' || !ctx.exchange.response.complete) return;
  const digest = ctx.exchange.response.sha256;
  const body = readManifestBody(
    ctx.exchange.response,
    ctx.exchange.responseHeaders,
    ctx.options.manifestCaptureLimit,
  );
  const mismatches: { source: MismatchSource; expected: string }[] = [];
  let verification: PullVerification = 'unchecked';
  let checkedAgainst: 'reference' | 'docker-content-digest' | null = null;
  const referenceDigest = reference.kind === 'digest' ? tryParseDigest(reference.digest) : null;
  if (referenceDigest !== null && isVerifiable(referenceDigest)) {
    checkedAgainst = 'reference';
    verification = referenceDigest.value === digest ? 'verified' : 'mismatch';
    if (verification === 'mismatch') {
      mismatches.push({ source: 'reference', expected: referenceDigest.value });
    }
  }
  if (registryDigest?.startsWith('sha256:')) {
    if (checkedAgainst === null) {
      checkedAgainst = 'docker-content-digest';
      verification = registryDigest === digest ? 'verified' : 'mismatch';
    } else if (registryDigest !== digest) {
      verification = 'mismatch';
    }
    if (registryDigest !== digest) {
      mismatches.push({ source: 'docker-content-digest', expected: registryDigest });
    }
  }
  ctx.emit({
    type: 'manifestPulled',
    registry,
    repository,
    reference,
    digest,
    size: ctx.exchange.response.size,
    registryDigest,
    verification,
    checkedAgainst,
    mediaType: body.mediaType,
    kind: body.kind,
    manifest: body.manifest,
    unparsed: body.unparsed,
    redirectedTo,
  });
  noteNotInspected(ctx, repository, body.unparsed, 'pulled', digest);
  for (const { source, expected } of mismatches) {
    ctx.mismatch(registry, repository, 'manifest-pull', source, expected, digest);
  }
}

/** `bytes 0-(n-1)/n` with n the bytes received: a 206 that carried the whole representation. */
function coversWholeBody(contentRange: string | null, size: number): boolean {
  const match = contentRange === null ? null : /^bytes\s+(\d+)-(\d+)\/(\d+)$/i.exec(contentRange);
  if (!match) return false;
  const [first, last, total] = [Number(match[1]), Number(match[2]), Number(match[3])];
  return first === 0 && last === total - 1 && total === size && size > 0;
}
