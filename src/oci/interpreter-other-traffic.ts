import { type HeaderRecord, headerValue } from './headers.js';
import { type ExchangeContext, isSuccess } from './interpreter-context.js';
import { normaliseContentType } from './manifest.js';
import { classifyRoute, type OciRoute } from './route.js';
import { bearerRealmOf, isTokenCandidate, isTokenResponse } from './token-realms.js';
import { recordableUrl } from './url-redaction.js';

/**
 * Everything that is no OCI endpoint: token realms (credentials, never inputs), requests under
 * /v2/ that break the spec yet were acknowledged, and any other body a build moved (a download or
 * an upload, recorded as a generic artifact).
 */

export type OtherRoute = Extract<OciRoute, { kind: 'invalid' | 'not-oci' }>;

const MAX_TOKEN_REALMS = 256;

export function interpretOtherTraffic(ctx: ExchangeContext, route: OtherRoute): void {
  if (route.kind === 'not-oci') {
    if (!isTokenExchange(ctx)) genericArtifact(ctx);
    return;
  }
  // Some realms live under /v2/ (gcr.io/v2/token, quay.io/v2/auth).
  if (isTokenExchange(ctx)) return;
  if (isSuccess(ctx.status) && ctx.target.method !== 'HEAD') {
    ctx.anomaly('invalid_request_acknowledged', null, `${route.code}: ${route.reason}`);
    genericArtifact(ctx);
  }
}

/** A Bearer challenge names the token realm; requests there are credentials, never artifacts. */
export function noteChallenge(ctx: ExchangeContext): void {
  if (ctx.status !== 401 || ctx.target.route.kind === 'not-oci') return;
  const realm = bearerRealmOf(ctx.responseHeader('www-authenticate'));
  // Bounded: a build talking to a hostile "registry" must not grow the proxy's memory with realms.
  // A realm that is itself an OCI endpoint is never kept: it could only serve to shadow one.
  if (
    realm === null ||
    isOciEndpoint(realm) ||
    ctx.state.tokenRealms.has(realm) ||
    ctx.state.tokenRealms.size >= MAX_TOKEN_REALMS
  )
    return;
  ctx.state = { ...ctx.state, tokenRealms: new Set([...ctx.state.tokenRealms, realm]) };
}

/** A token request *and* a token answer: only then is the exchange a credential, not an input. */
function isTokenExchange(ctx: ExchangeContext): boolean {
  const contentType = normaliseContentType(headerValue(ctx.exchange.requestHeaders, 'content-type'));
  if (!isTokenCandidate(ctx.state.tokenRealms, ctx.exchange.authority, ctx.target, contentType)) return false;
  // A refused token request moved no input; a 2xx must prove it answered a token.
  return !isSuccess(ctx.status) || isTokenResponse(ctx.exchange.response.captured);
}

/** Non-OCI bodies: a 2xx GET that returned one, a 2xx PUT/POST/PATCH that sent one. */
function genericArtifact(ctx: ExchangeContext): void {
  if (!isSuccess(ctx.status)) return;
  const { method } = ctx.target;
  const { request, response } = ctx.exchange;
  let type: 'artifactDownloaded' | 'artifactUploaded';
  let body: typeof request;
  let headers: HeaderRecord;
  if (method === 'GET' && response.size > 0 && response.complete) {
    type = 'artifactDownloaded';
    body = response;
    headers = ctx.exchange.responseHeaders;
  } else if (
    (method === 'PUT' || method === 'POST' || method === 'PATCH') &&
    request.size > 0 &&
    request.complete
  ) {
    type = 'artifactUploaded';
    body = request;
    headers = ctx.exchange.requestHeaders;
  } else {
    return;
  }
  ctx.emit({
    type,
    url: recordableUrl(ctx.exchange.scheme, ctx.exchange.authority, ctx.exchange.target),
    method,
    status: ctx.status,
    size: body.size,
    sha256: body.sha256,
    contentType: normaliseContentType(headerValue(headers, 'content-type')),
  });
}

/** `authority/path` of a realm names an OCI endpoint (anything under /v2/ that classifies as one). */
function isOciEndpoint(realm: string): boolean {
  const slash = realm.indexOf('/');
  if (slash === -1) return false;
  const kind = classifyRoute('GET', realm.slice(slash)).kind;
  return kind !== 'not-oci' && kind !== 'invalid';
}
