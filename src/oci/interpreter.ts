import type { CompletedExchange } from '../http/completed-exchange.js';
import { redactText } from '../log/redact-url.js';
import { type Digest, digestOfHash, isVerifiable, tryParseDigest } from './digest.js';
import type {
  BlobVerification,
  DigestAgreement,
  MismatchContext,
  MismatchSource,
  OciAnomalyEvent,
  OciEvent,
  PullVerification,
  ReferenceValue,
  Unparsed,
} from './events.js';
import { type HeaderRecord, headerValue } from './headers.js';
import { DEFAULT_INTERPRETER_OPTIONS, type InterpreterOptions } from './interpreter-options.js';
import {
  isIndexMediaType,
  type ManifestKind,
  normaliseContentType,
  type ParsedManifest,
  parseManifest,
} from './manifest.js';
import { PUSH_DENIED_CODE } from './push-policy.js';
import {
  findRedirect,
  NO_REDIRECTS,
  type PendingRedirect,
  type PendingRedirects,
  pruneRedirects,
  withoutRedirectAt,
  withRedirect,
} from './redirects.js';
import { type ManifestReference, registryKey } from './reference.js';
import { classifyRoute, type OciRoute, type UploadSessionRoute } from './route.js';
import {
  bearerRealmOf,
  isTokenCandidate,
  isTokenResponse,
  NO_TOKEN_REALMS,
  type TokenRealms,
} from './token-realms.js';
import {
  type AcceptedBody,
  authorityOf,
  closingDigest,
  commitBody,
  judgeUpload,
  lose,
  NO_SESSIONS,
  openSession,
  pruneSessions,
  rangeAgrees,
  rangeLength,
  resolveUrl,
  sessionKey,
  type UploadSession,
  type UploadSessions,
  uploadLocationOf,
  withoutSession,
  withSession,
} from './upload-sessions.js';
import { recordableUrl } from './url-redaction.js';

/**
 * The OCI interpreter: `interpret(state, exchange) → { state, events }`, pure.
 *
 * It reads only the CompletedExchange and its own state, performs no I/O and never reads
 * the clock (time comes from the exchange). State values are immutable; Hash objects in
 * them are shared and never fed (copied before digesting).
 */
export interface InterpreterState {
  readonly sessions: UploadSessions;
  readonly redirects: PendingRedirects;
  readonly tokenRealms: TokenRealms;
}

export const INITIAL_INTERPRETER_STATE: InterpreterState = Object.freeze({
  sessions: NO_SESSIONS,
  redirects: NO_REDIRECTS,
  tokenRealms: NO_TOKEN_REALMS,
});

export interface Interpretation {
  readonly state: InterpreterState;
  readonly events: readonly OciEvent[];
}

export function interpret(
  state: InterpreterState,
  exchange: CompletedExchange,
  options: InterpreterOptions = DEFAULT_INTERPRETER_OPTIONS,
): Interpretation {
  const route = classifyRoute(exchange.method, exchange.target);
  // A response the proxy made up (a 502 for an unreachable upstream) acknowledges nothing; but
  // a manifest that went upstream whole may be stored all the same: that is said, not dropped.
  if (exchange.synthesized && exchange.failure?.code === PUSH_DENIED_CODE)
    return { state, events: [pushRefused(exchange, route)] };
  if (exchange.synthesized || exchange.status === null) {
    if (route.kind !== 'manifest-put' || !exchange.requestRelayed || !exchange.request.complete)
      return { state, events: [] };
    const unanswered = new Context(state, exchange, options);
    unanswered.pushOutcomeUnknown(route.name, route.reference);
    return { state, events: unanswered.events };
  }
  const context = new Context(pruned(state, exchange.finishedAt, options), exchange, options);
  context.noteChallenge(route);
  if (!context.followRedirect()) context.dispatch(route);
  return { state: context.state, events: context.events };
}

/** The planner refused this write (push-policy.ts); the registry never saw it. */
function pushRefused(exchange: CompletedExchange, route: OciRoute): OciEvent {
  return {
    type: 'pushRefused',
    exchangeId: exchange.id,
    at: exchange.finishedAt,
    registry: exchange.authority.toLowerCase(),
    repository: 'name' in route ? route.name : null,
    method: exchange.method.toUpperCase(),
    route: route.kind,
    reason: exchange.failure?.message ?? '',
  };
}

const MAX_TOKEN_REALMS = 256;

function pruned(state: InterpreterState, now: number, options: InterpreterOptions): InterpreterState {
  const sessions = pruneSessions(state.sessions, now, options.sessionIdleMs, options.maxSessions);
  const redirects = pruneRedirects(state.redirects, now, options.redirectTtlMs);
  if (sessions === state.sessions && redirects === state.redirects) return state;
  return { ...state, sessions, redirects };
}

/** One exchange's worth of interpretation: accumulates the next state and the events. */
class Context {
  state: InterpreterState;
  readonly events: OciEvent[] = [];
  private readonly exchange: CompletedExchange;
  private readonly options: InterpreterOptions;
  private readonly status: number;
  private readonly registry: string;

  constructor(state: InterpreterState, exchange: CompletedExchange, options: InterpreterOptions) {
    this.state = state;
    this.exchange = exchange;
    this.options = options;
    this.status = exchange.status ?? 0;
    this.registry = registryKey(exchange.authority);
  }

  /** A Bearer challenge names the token realm; requests there are credentials, never artifacts. */
  noteChallenge(route: OciRoute): void {
    if (this.status !== 401 || route.kind === 'not-oci') return;
    const realm = bearerRealmOf(headerValue(this.exchange.responseHeaders, 'www-authenticate'));
    // Bounded: a build talking to a hostile "registry" must not grow the proxy's memory with realms.
    // A realm that is itself an OCI endpoint is never kept: it could only serve to shadow one.
    if (
      realm === null ||
      isOciEndpoint(realm) ||
      this.state.tokenRealms.has(realm) ||
      this.state.tokenRealms.size >= MAX_TOKEN_REALMS
    )
      return;
    this.state = { ...this.state, tokenRealms: new Set([...this.state.tokenRealms, realm]) };
  }

  /** true when this request followed a pending redirect (and was handled as such). */
  followRedirect(): boolean {
    const method = this.exchange.method.toUpperCase();
    if (this.state.redirects.length === 0 || (method !== 'GET' && method !== 'HEAD')) return false;
    const index = findRedirect(this.state.redirects, this.exchange.authority, method, this.path());
    if (index === -1) return false;
    const pending = this.state.redirects[index]!;
    this.state = { ...this.state, redirects: withoutRedirectAt(this.state.redirects, index) };
    if (isRedirect(this.status)) {
      if (pending.hops < this.options.maxRedirectHops) this.rememberRedirect(pending, pending.hops + 1);
      return true;
    }
    if (!isSuccess(this.status)) return true;
    const redirectedTo = registryKey(this.exchange.authority);
    if (pending.purpose === 'blob-read') {
      const digest = tryParseDigest(pending.digest);
      if (digest !== null) this.blobRead(pending.registry, pending.repository, digest, method, redirectedTo);
    } else if (pending.reference !== null) {
      this.manifestRead(pending.registry, pending.repository, pending.reference, method, redirectedTo);
    }
    return true;
  }

  dispatch(route: OciRoute): void {
    switch (route.kind) {
      case 'ping':
      case 'tags-list':
      case 'referrers':
        return;
      case 'blob-read':
        this.blobRead(
          this.registry,
          route.name,
          route.digest,
          this.exchange.method.toUpperCase(),
          null,
          true,
        );
        return;
      case 'blob-delete':
        if (isSuccess(this.status)) {
          this.emit({
            type: 'blobDeleted',
            registry: this.registry,
            repository: route.name,
            digest: route.digest.value,
          });
        }
        return;
      case 'manifest-read':
        this.manifestRead(
          this.registry,
          route.name,
          referenceValue(route.reference),
          this.exchange.method.toUpperCase(),
          null,
          true,
        );
        return;
      case 'manifest-put':
        this.manifestPut(route.name, route.reference);
        return;
      case 'manifest-delete':
        if (isSuccess(this.status)) {
          this.emit({
            type: 'manifestDeleted',
            registry: this.registry,
            repository: route.name,
            reference: referenceValue(route.reference),
          });
        }
        return;
      case 'upload-start':
        if (this.status === 202) this.openSessionFromResponse(route.name);
        return;
      case 'upload-mount':
        if (this.status === 201) {
          this.emit({
            type: 'blobMounted',
            registry: this.registry,
            repository: route.name,
            digest: route.digest.value,
            from: route.from,
          });
        } else if (this.status === 202) {
          // Mount refused: the registry opened an ordinary upload session instead.
          this.openSessionFromResponse(route.name);
        }
        return;
      case 'upload-monolithic':
        this.monolithicUpload(route.name, route.digest);
        return;
      case 'upload-chunk':
        this.chunk(route);
        return;
      case 'upload-commit':
        this.commit(route);
        return;
      case 'upload-status':
        if (this.status === 204) this.checkRegistryRange(route);
        return;
      case 'upload-cancel':
        if (isSuccess(this.status)) {
          this.state = {
            ...this.state,
            sessions: withoutSession(this.state.sessions, this.exchange.authority, route.uuid),
          };
        }
        return;
      case 'invalid':
        // Some realms live under /v2/ (gcr.io/v2/token, quay.io/v2/auth).
        if (this.isTokenExchange()) return;
        if (isSuccess(this.status) && this.exchange.method.toUpperCase() !== 'HEAD') {
          this.anomaly('invalid_request_acknowledged', null, `${route.code}: ${route.reason}`);
          this.genericArtifact();
        }
        return;
      case 'not-oci':
        if (!this.isTokenExchange()) this.genericArtifact();
        return;
    }
  }

  // --- reads -------------------------------------------------------------------------------

  private blobRead(
    registry: string,
    repository: string,
    digest: Digest,
    method: string,
    redirectedTo: string | null,
    mayRedirect = false,
  ): void {
    if (mayRedirect && isRedirect(this.status)) {
      this.rememberRedirect(
        { purpose: 'blob-read', registry, repository, digest: digest.value, reference: null },
        0,
      );
      return;
    }
    if (this.status === 206 && method === 'GET') {
      this.rangedBlobRead(registry, repository, digest, redirectedTo);
      return;
    }
    if (this.status !== 200) return;
    if (method === 'HEAD') {
      this.emit({ type: 'blobPresent', registry, repository, digest: digest.value });
      return;
    }
    if (method !== 'GET' || !this.exchange.response.complete) return;
    this.wholeBlobRead(registry, repository, digest, redirectedTo, null);
  }

  /**
   * A `Range` read answered 206. When its Content-Range spans the whole blob the body is the
   * blob and is verified as any pull; otherwise the proxy saw part of it: the input is recorded
   * under the digest the client asked for, with no computed digest and `unverifiable`, so no
   * report claims a digest the proxy did not compute.
   */
  private rangedBlobRead(
    registry: string,
    repository: string,
    digest: Digest,
    redirectedTo: string | null,
  ): void {
    const { response } = this.exchange;
    const contentRange = headerValue(this.exchange.responseHeaders, 'content-range');
    if (this.wholeRange()) {
      this.wholeBlobRead(registry, repository, digest, redirectedTo, contentRange);
      return;
    }
    this.emit({
      type: 'blobPulled',
      registry,
      repository,
      digest: digest.value,
      computedDigest: null,
      size: response.size,
      verification: 'unverifiable',
      redirectedTo,
      contentRange: contentRange ?? 'unknown',
    });
  }

  /** A complete 206 whose Content-Range is the whole representation: as good as a 200. */
  private wholeRange(): boolean {
    const { response } = this.exchange;
    const contentRange = headerValue(this.exchange.responseHeaders, 'content-range');
    return response.complete && coversWholeBody(contentRange, response.size);
  }

  private wholeBlobRead(
    registry: string,
    repository: string,
    digest: Digest,
    redirectedTo: string | null,
    contentRange: string | null,
  ): void {
    const computedDigest = this.exchange.response.sha256;
    const verification: BlobVerification = !isVerifiable(digest)
      ? 'unverifiable'
      : computedDigest === digest.value
        ? 'verified'
        : 'mismatch';
    this.emit({
      type: 'blobPulled',
      registry,
      repository,
      digest: digest.value,
      computedDigest,
      size: this.exchange.response.size,
      verification,
      redirectedTo,
      contentRange,
    });
    if (verification === 'mismatch')
      this.mismatch(registry, repository, 'blob-pull', 'reference', digest.value, computedDigest);
  }

  private manifestRead(
    registry: string,
    repository: string,
    reference: ReferenceValue,
    method: string,
    redirectedTo: string | null,
    mayRedirect = false,
  ): void {
    if (mayRedirect && isRedirect(this.status)) {
      this.rememberRedirect({ purpose: 'manifest-read', registry, repository, digest: null, reference }, 0);
      return;
    }
    if (this.status === 206 && method === 'GET' && !this.wholeRange()) {
      // Part of a manifest: its digest cannot be computed, but the read is not hidden.
      this.anomaly(
        'manifest_read_partial',
        repository,
        `ranged read of ${reference.kind === 'tag' ? reference.tag : reference.digest} (${headerValue(this.exchange.responseHeaders, 'content-range') ?? 'no Content-Range'}): not verified`,
      );
      return;
    }
    if (this.status !== 200 && this.status !== 206) return;
    const registryDigest = this.digestHeader('docker-content-digest');
    if (method === 'HEAD') {
      this.emit({ type: 'manifestPresent', registry, repository, reference, registryDigest });
      return;
    }
    if (method !== 'GET' || !this.exchange.response.complete) return;
    const digest = this.exchange.response.sha256;
    const body = this.parseBody(this.exchange.response, this.exchange.responseHeaders);
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
    this.emit({
      type: 'manifestPulled',
      registry,
      repository,
      reference,
      digest,
      size: this.exchange.response.size,
      registryDigest,
      verification,
      checkedAgainst,
      mediaType: body.mediaType,
      kind: body.kind,
      manifest: body.manifest,
      unparsed: body.unparsed,
      redirectedTo,
    });
    this.notInspected(repository, body.unparsed, 'pulled', digest);
    for (const { source, expected } of mismatches) {
      this.mismatch(registry, repository, 'manifest-pull', source, expected, digest);
    }
  }

  // --- pushes ------------------------------------------------------------------------------

  private manifestPut(repository: string, reference: ManifestReference): void {
    if (!this.exchange.request.complete) return;
    // An answer that broke off (a malformed chunk, a reset) is no acknowledgement to trust.
    if (this.exchange.failure?.code.startsWith('upstream_')) {
      this.pushOutcomeUnknown(repository, reference);
      return;
    }
    // Only the registry's acknowledgement makes a push; a refused PUT is nothing.
    if (!isSuccess(this.status)) return;
    const digest = this.exchange.request.sha256;
    const registryDigest = this.digestHeader('docker-content-digest');
    const locationDigest = this.locationDigest();
    const referenceDigest = reference.kind === 'digest' ? reference.digest : null;
    const agreement: DigestAgreement = {
      registryDigest: registryDigest === null ? null : registryDigest === digest,
      locationDigest: locationDigest === null ? null : locationDigest === digest,
      reference:
        referenceDigest === null || !isVerifiable(referenceDigest) ? null : referenceDigest.value === digest,
    };
    const body = this.parseBody(this.exchange.request, this.exchange.requestHeaders);
    this.emit({
      type: 'manifestPushed',
      registry: this.registry,
      repository,
      status: this.status,
      reference: referenceValue(reference),
      digest,
      size: this.exchange.request.size,
      registryDigest,
      locationDigest,
      agreement,
      mediaType: body.mediaType,
      contentType: body.contentType,
      mediaTypeConsistent: body.mediaTypeConsistent,
      kind: body.kind,
      manifest: body.manifest,
      unparsed: body.unparsed,
      ociSubject: this.digestHeader('oci-subject'),
    });
    this.notInspected(repository, body.unparsed, 'pushed', digest);
    if (agreement.registryDigest === false) {
      this.mismatch(
        this.registry,
        repository,
        'manifest-push',
        'docker-content-digest',
        registryDigest!,
        digest,
      );
    }
    if (agreement.locationDigest === false) {
      this.mismatch(this.registry, repository, 'manifest-push', 'location', locationDigest!, digest);
    }
    if (agreement.reference === false) {
      this.mismatch(this.registry, repository, 'manifest-push', 'reference', referenceDigest!.value, digest);
    }
  }

  /** A manifest went upstream whole and no trustworthy answer came back: the registry may hold it. */
  pushOutcomeUnknown(repository: string, reference: ManifestReference): void {
    const { request, failure, status } = this.exchange;
    const answer = status === null || this.exchange.synthesized ? 'no answer' : `a ${status} that broke off`;
    this.emit({
      type: 'ociAnomaly',
      code: 'push_outcome_unknown',
      registry: this.registry,
      repository,
      detail: `manifest sent whole (${request.size} bytes), ${answer} (${failure?.code ?? 'unknown'})`,
      digest: request.sha256,
      reference: referenceValue(reference),
    });
  }

  private openSessionFromResponse(repository: string): void {
    const location = uploadLocationOf(
      headerValue(this.exchange.responseHeaders, 'location'),
      headerValue(this.exchange.responseHeaders, 'docker-upload-uuid'),
      this.exchange,
    );
    if (location === null) {
      this.anomaly(
        'upload_location_missing',
        repository,
        'upload accepted without Location or Docker-Upload-UUID',
      );
      return;
    }
    this.state = {
      ...this.state,
      sessions: openSession(
        this.state.sessions,
        location,
        this.registry,
        repository,
        this.exchange.finishedAt,
      ),
    };
  }

  private monolithicUpload(repository: string, claimed: Digest): void {
    if (this.status === 202) {
      // The registry ignored the body and opened a session: the client uploads again, normally.
      this.openSessionFromResponse(repository);
      return;
    }
    if (!isSuccess(this.status) || !this.exchange.request.complete) return;
    const { request } = this.exchange;
    const computed = request.continuedHash !== null ? digestOfHash(request.continuedHash) : request.sha256;
    this.blobUploaded(
      repository,
      claimed,
      judgeUpload(claimed, computed, null, request.size),
      'monolithic',
      null,
    );
  }

  private chunk(route: UploadSessionRoute): void {
    const key = sessionKey(this.exchange.authority, route.uuid);
    const session = this.state.sessions.get(key);
    if (this.status === 416) {
      // The registry refused the chunk's range: nothing is committed; its Range says what it holds.
      if (session !== undefined) this.checkRegistryRange(route);
      return;
    }
    if (this.status !== 202) return;
    const range = headerValue(this.exchange.responseHeaders, 'range');
    const body = this.acceptedBody();
    let next: UploadSession;
    if (session === undefined) {
      next = this.adoptSession(route, body, range);
    } else if (!this.exchange.request.complete) {
      next = lose(session, 'chunk_incomplete');
    } else {
      next = commitBody(session, body, this.exchange.finishedAt);
      if (next.integrity === 'tracked' && !rangeAgrees(range, next.committedBytes)) {
        next = lose(next, 'range_disagrees');
        this.anomaly(
          'upload_range_disagrees',
          route.name,
          `registry range ${range}, proxy saw ${next.committedBytes} bytes`,
        );
      }
    }
    this.state = { ...this.state, sessions: this.rekeyed(withSession(this.state.sessions, next), next) };
  }

  /**
   * A chunk for a session the proxy never saw open (it started before the proxy, or its POST
   * had no usable Location). It is trustworthy only when the registry's Range says this body
   * is everything the session holds.
   */
  private adoptSession(route: UploadSessionRoute, body: AcceptedBody, range: string | null): UploadSession {
    this.anomaly(
      'upload_session_unknown',
      route.name,
      'chunk for an upload session the proxy did not see start',
    );
    const fresh: UploadSession = {
      authority: this.exchange.authority.toLowerCase(),
      uuid: route.uuid,
      registry: this.registry,
      repository: route.name,
      committedBytes: 0,
      committedHash: null,
      committedDigest: null,
      integrity: 'tracked',
      lostReason: null,
      lastActivityAt: this.exchange.finishedAt,
    };
    if (this.exchange.request.complete && body.size > 0 && rangeLength(range) === body.size) {
      return commitBody(fresh, body, this.exchange.finishedAt);
    }
    return lose({ ...fresh, committedBytes: rangeLength(range) ?? body.size }, 'session_unknown');
  }

  /** The next Location may (rarely) name another UUID or host: follow it, keep the bytes. */
  private rekeyed(sessions: UploadSessions, session: UploadSession): UploadSessions {
    const location = uploadLocationOf(
      headerValue(this.exchange.responseHeaders, 'location'),
      null,
      this.exchange,
    );
    if (
      location === null ||
      sessionKey(location.authority, location.uuid) === sessionKey(session.authority, session.uuid)
    ) {
      return sessions;
    }
    const moved = withoutSession(sessions, session.authority, session.uuid);
    return withSession(moved, { ...session, authority: location.authority, uuid: location.uuid });
  }

  private commit(route: UploadSessionRoute): void {
    if (!isSuccess(this.status) || route.digest === null || !this.exchange.request.complete) return;
    const claimed = route.digest;
    const session = this.state.sessions.get(sessionKey(this.exchange.authority, route.uuid));
    const body = this.acceptedBody();
    let outcome: ReturnType<typeof judgeUpload>;
    if (session === undefined) {
      // Without the session's history only one conclusion is safe: a body that alone hashes to
      // the claimed digest is the whole blob (anything before it would change the digest).
      this.anomaly(
        'upload_session_unknown',
        route.name,
        'closing PUT for an upload session the proxy did not see',
      );
      const alone = body.continuedHash !== null ? digestOfHash(body.continuedHash) : body.sha256;
      outcome =
        body.size > 0 && alone === claimed.value
          ? judgeUpload(claimed, alone, null, body.size)
          : judgeUpload(claimed, null, 'session_unknown', null);
    } else {
      const { digest, reason } = closingDigest(session, body);
      const size = session.integrity === 'tracked' ? session.committedBytes + body.size : null;
      outcome = judgeUpload(claimed, digest, reason, size);
      this.state = {
        ...this.state,
        sessions: withoutSession(this.state.sessions, session.authority, session.uuid),
      };
    }
    this.blobUploaded(
      session?.repository ?? route.name,
      claimed,
      outcome,
      'chunked',
      route.uuid,
      session?.registry,
    );
  }

  private blobUploaded(
    repository: string,
    claimed: Digest,
    outcome: ReturnType<typeof judgeUpload>,
    method: 'chunked' | 'monolithic',
    uploadId: string | null,
    registry: string = this.registry,
  ): void {
    this.emit({
      type: 'blobUploaded',
      registry,
      repository,
      digest: claimed.value,
      computedDigest: outcome.computedDigest,
      verification: outcome.verification,
      unverifiableReason: outcome.unverifiableReason,
      size: outcome.size,
      method,
      uploadId,
    });
    if (outcome.verification === 'mismatch') {
      this.mismatch(
        registry,
        repository,
        'blob-upload',
        'claimed-digest',
        claimed.value,
        outcome.computedDigest!,
      );
    }
  }

  /** The registry states how many bytes it holds (416, upload status): disagreement loses the session. */
  private checkRegistryRange(route: UploadSessionRoute): void {
    const session = this.state.sessions.get(sessionKey(this.exchange.authority, route.uuid));
    if (session === undefined || session.integrity === 'lost') return;
    const range = headerValue(this.exchange.responseHeaders, 'range');
    if (rangeAgrees(range, session.committedBytes)) return;
    this.anomaly(
      'upload_range_disagrees',
      route.name,
      `registry range ${range}, proxy saw ${session.committedBytes} bytes`,
    );
    this.state = {
      ...this.state,
      sessions: withSession(this.state.sessions, lose(session, 'range_disagrees')),
    };
  }

  private acceptedBody(): AcceptedBody {
    const { request } = this.exchange;
    return { size: request.size, sha256: request.sha256, continuedHash: request.continuedHash };
  }

  // --- everything else ---------------------------------------------------------------------

  /** A token request *and* a token answer: only then is the exchange a credential, not an input. */
  private isTokenExchange(): boolean {
    const candidate = isTokenCandidate(
      this.state.tokenRealms,
      this.exchange.authority,
      this.exchange.method,
      this.exchange.target,
      normaliseContentType(headerValue(this.exchange.requestHeaders, 'content-type')),
    );
    if (!candidate) return false;
    // A refused token request moved no input; a 2xx must prove it answered a token.
    return !isSuccess(this.status) || isTokenResponse(this.exchange.response.captured);
  }

  /** Non-OCI bodies: a 2xx GET that returned one, a 2xx PUT/POST/PATCH that sent one. */
  private genericArtifact(): void {
    if (!isSuccess(this.status)) return;
    const method = this.exchange.method.toUpperCase();
    const { request, response } = this.exchange;
    let type: 'artifactDownloaded' | 'artifactUploaded';
    let body: typeof request;
    let headers: HeaderRecord;
    if (method === 'GET' && response.size > 0 && response.complete) {
      type = 'artifactDownloaded';
      body = response;
      headers = this.exchange.responseHeaders;
    } else if (
      (method === 'PUT' || method === 'POST' || method === 'PATCH') &&
      request.size > 0 &&
      request.complete
    ) {
      type = 'artifactUploaded';
      body = request;
      headers = this.exchange.requestHeaders;
    } else {
      return;
    }
    this.emit({
      type,
      url: recordableUrl(this.exchange.scheme, this.exchange.authority, this.exchange.target),
      method,
      status: this.status,
      size: body.size,
      sha256: body.sha256,
      contentType: normaliseContentType(headerValue(headers, 'content-type')),
    });
  }

  private parseBody(
    body: CompletedExchange['request'],
    headers: HeaderRecord,
  ): {
    mediaType: string | null;
    contentType: string | null;
    mediaTypeConsistent: boolean;
    kind: ManifestKind;
    manifest: ParsedManifest | null;
    unparsed: Unparsed | null;
  } {
    const contentTypeHeader = headerValue(headers, 'content-type');
    const contentType = normaliseContentType(contentTypeHeader);
    if (body.captured === null) {
      const unparsed: Unparsed = body.captureOverflow
        ? {
            reason: 'over_capture_limit',
            detail: `${body.size} bytes, limit ${this.options.manifestCaptureLimit}`,
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

  /** Remembers where this response's Location sends the client, carrying what was asked for. */
  private rememberRedirect(what: RedirectedRead, hops: number): void {
    const location = headerValue(this.exchange.responseHeaders, 'location');
    if (location === null) return;
    const url = resolveUrl(location, this.exchange);
    if (url === null || (url.protocol !== 'https:' && url.protocol !== 'http:')) return;
    const method = this.exchange.method.toUpperCase() === 'HEAD' ? 'HEAD' : 'GET';
    const redirect: PendingRedirect = {
      purpose: what.purpose,
      registry: what.registry,
      repository: what.repository,
      digest: what.digest,
      reference: what.reference,
      authority: authorityOf(url),
      path: url.pathname,
      method,
      hops,
      at: this.exchange.finishedAt,
    };
    this.state = {
      ...this.state,
      redirects: withRedirect(this.state.redirects, redirect, this.options.maxPendingRedirects),
    };
  }

  private locationDigest(): string | null {
    const location = headerValue(this.exchange.responseHeaders, 'location');
    if (location === null) return null;
    const url = resolveUrl(location, this.exchange);
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

  private digestHeader(name: string): string | null {
    return tryParseDigest(headerValue(this.exchange.responseHeaders, name))?.value ?? null;
  }

  private path(): string {
    const queryStart = this.exchange.target.indexOf('?');
    const raw = queryStart === -1 ? this.exchange.target : this.exchange.target.slice(0, queryStart);
    try {
      return new URL(raw, 'http://x').pathname;
    } catch {
      return raw;
    }
  }

  private emit(event: DistributiveOmit<OciEvent, 'exchangeId' | 'at'>): void {
    this.events.push({ ...event, exchangeId: this.exchange.id, at: this.exchange.finishedAt } as OciEvent);
  }

  private mismatch(
    registry: string,
    repository: string,
    context: MismatchContext,
    source: MismatchSource,
    expected: string,
    observed: string,
  ): void {
    this.emit({ type: 'digestMismatch', registry, repository, context, source, expected, observed });
  }

  /** A manifest the budget kept the proxy from reading is said so, loudly: its children and blobs are unknown. */
  private notInspected(repository: string, unparsed: Unparsed | null, what: string, digest: string): void {
    if (unparsed?.reason !== 'capture_budget_exceeded') return;
    this.anomaly(
      'manifest_not_inspected',
      repository,
      `manifest ${digest} ${what} but not inspected: ${unparsed.detail}`,
    );
  }

  private anomaly(code: OciAnomalyEvent['code'], repository: string | null, detail: string): void {
    // Details quote what the build sent (names, paths): the same redaction as URLs.
    this.emit({ type: 'ociAnomaly', code, registry: this.registry, repository, detail: redactText(detail) });
  }
}

type RedirectedRead = Pick<PendingRedirect, 'purpose' | 'registry' | 'repository' | 'digest' | 'reference'>;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export function referenceValue(reference: ManifestReference): ReferenceValue {
  return reference.kind === 'tag'
    ? { kind: 'tag', tag: reference.tag }
    : { kind: 'digest', digest: reference.digest.value };
}

function kindFromMediaType(mediaType: string | null): ManifestKind {
  return isIndexMediaType(mediaType) ? 'index' : 'image';
}

/** `bytes 0-(n-1)/n` with n the bytes received: a 206 that carried the whole representation. */
function coversWholeBody(contentRange: string | null, size: number): boolean {
  const match = contentRange === null ? null : /^bytes\s+(\d+)-(\d+)\/(\d+)$/i.exec(contentRange);
  if (!match) return false;
  const [first, last, total] = [Number(match[1]), Number(match[2]), Number(match[3])];
  return first === 0 && last === total - 1 && total === size && size > 0;
}

/** `authority/path` of a realm names an OCI endpoint (anything under /v2/ that classifies as one). */
function isOciEndpoint(realm: string): boolean {
  const slash = realm.indexOf('/');
  if (slash === -1) return false;
  const kind = classifyRoute('GET', realm.slice(slash)).kind;
  return kind !== 'not-oci' && kind !== 'invalid';
}

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}
