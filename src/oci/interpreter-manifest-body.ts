import type { CompletedExchange } from '../http/completed-exchange.js';
import type { ManifestPushedEvent, Unparsed } from './events.js';
import { type HeaderRecord, headerValue } from './headers.js';
import type { ExchangeContext } from './interpreter-context.js';
import { isIndexMediaType, type ManifestKind, normaliseContentType, parseManifest } from './manifest.js';

/** A manifest body (pushed or pulled) as the events record it: parsed when captured, else why not. */
export type ManifestBody = Pick<
  ManifestPushedEvent,
  'mediaType' | 'contentType' | 'mediaTypeConsistent' | 'kind' | 'manifest' | 'unparsed'
>;

export function readManifestBody(
  body: CompletedExchange['request'],
  headers: HeaderRecord,
  manifestCaptureLimit: number,
): ManifestBody {
  const contentTypeHeader = headerValue(headers, 'content-type');
  const contentType = normaliseContentType(contentTypeHeader);
  if (body.captured === null) {
    const unparsed: Unparsed = body.captureOverflow
      ? {
          reason: 'over_capture_limit',
          detail: `${body.size} bytes, limit ${manifestCaptureLimit}`,
        }
      : body.captureBudgetExceeded
        ? {
            reason: 'capture_budget_exceeded',
            detail: `${body.size} bytes not kept: the budget of captured bytes in flight was spent`,
          }
        : { reason: 'not_captured', detail: 'body was not captured' };
    return {
      mediaType: contentType,
      contentType,
      mediaTypeConsistent: true,
      kind: kindFromMediaType(contentType),
      manifest: null,
      unparsed,
    };
  }
  const parsed = parseManifest(body.captured, contentTypeHeader);
  if (parsed.ok) {
    return {
      mediaType: parsed.manifest.mediaType,
      contentType,
      mediaTypeConsistent: parsed.mediaTypes.consistent,
      kind: parsed.manifest.kind,
      manifest: parsed.manifest,
      unparsed: null,
    };
  }
  const mediaType = parsed.mediaTypes.bodyMediaType ?? contentType;
  return {
    mediaType,
    contentType,
    mediaTypeConsistent: parsed.mediaTypes.consistent,
    kind: kindFromMediaType(mediaType),
    manifest: null,
    unparsed: { reason: parsed.reason, detail: parsed.detail },
  };
}

/** A manifest the budget kept the proxy from reading is said so, loudly: its children and blobs are unknown. */
export function noteNotInspected(
  ctx: ExchangeContext,
  repository: string,
  unparsed: Unparsed | null,
  what: string,
  digest: string,
): void {
  if (unparsed?.reason !== 'capture_budget_exceeded') return;
  ctx.anomaly(
    'manifest_not_inspected',
    repository,
    `manifest ${digest} ${what} but not inspected: ${unparsed.detail}`,
  );
}

function kindFromMediaType(mediaType: string | null): ManifestKind {
  return isIndexMediaType(mediaType) ? 'index' : 'image';
}
