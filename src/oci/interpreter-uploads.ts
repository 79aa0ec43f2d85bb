import { type Digest, digestOfHash } from './digest.js';
import { type ExchangeContext, isSuccess } from './interpreter-context.js';
import type {
  UploadMonolithicRoute,
  UploadMountRoute,
  UploadSessionRoute,
  UploadStartRoute,
} from './route.js';
import {
  type AcceptedBody,
  closingDigest,
  commitBody,
  judgeUpload,
  lose,
  openSession,
  rangeAgrees,
  rangeLength,
  sessionKey,
  type UploadSession,
  type UploadSessions,
  uploadLocationOf,
  withoutSession,
  withSession,
} from './upload-sessions.js';

/**
 * Uploads: blob sessions (start, chunks, status, commit, cancel), monolithic uploads and mounts.
 * Bytes count only once the registry accepted them (202 for a chunk, 2xx for the commit), and the
 * proxy's own digest of them is judged against the one the client claimed.
 */

export type UploadRoute = UploadStartRoute | UploadMountRoute | UploadMonolithicRoute | UploadSessionRoute;

export function interpretUpload(ctx: ExchangeContext, route: UploadRoute): void {
  switch (route.kind) {
    case 'upload-start':
      if (ctx.status === 202) openSessionFromResponse(ctx, route.name);
      return;
    case 'upload-mount':
      if (ctx.status === 201) {
        ctx.emit({
          type: 'blobMounted',
          registry: ctx.registry,
          repository: route.name,
          digest: route.digest.value,
          from: route.from,
        });
      } else if (ctx.status === 202) {
        // Mount refused: the registry opened an ordinary upload session instead.
        openSessionFromResponse(ctx, route.name);
      }
      return;
    case 'upload-monolithic':
      monolithicUpload(ctx, route.name, route.digest);
      return;
    case 'upload-chunk':
      chunk(ctx, route);
      return;
    case 'upload-commit':
      commit(ctx, route);
      return;
    case 'upload-status':
      if (ctx.status === 204) checkRegistryRange(ctx, route);
      return;
    case 'upload-cancel':
      if (isSuccess(ctx.status)) {
        ctx.state = {
          ...ctx.state,
          sessions: withoutSession(ctx.state.sessions, ctx.exchange.authority, route.uuid),
        };
      }
      return;
  }
}

function openSessionFromResponse(ctx: ExchangeContext, repository: string): void {
  const location = uploadLocationOf(
    ctx.responseHeader('location'),
    ctx.responseHeader('docker-upload-uuid'),
    ctx.exchange,
  );
  if (location === null) {
    ctx.anomaly(
      'upload_location_missing',
      repository,
      'upload accepted without Location or Docker-Upload-UUID',
    );
    return;
  }
  ctx.state = {
    ...ctx.state,
    sessions: openSession(ctx.state.sessions, location, ctx.registry, repository, ctx.exchange.finishedAt),
  };
}

function monolithicUpload(ctx: ExchangeContext, repository: string, claimed: Digest): void {
  if (ctx.status === 202) {
    // The registry ignored the body and opened a session: the client uploads again, normally.
    openSessionFromResponse(ctx, repository);
    return;
  }
  if (!isSuccess(ctx.status) || !ctx.exchange.request.complete) return;
  const { request } = ctx.exchange;
  const computed = request.continuedHash !== null ? digestOfHash(request.continuedHash) : request.sha256;
  blobUploaded(
    ctx,
    repository,
    claimed,
    judgeUpload(claimed, computed, null, request.size),
    'monolithic',
    null,
  );
}

function chunk(ctx: ExchangeContext, route: UploadSessionRoute): void {
  const key = sessionKey(ctx.exchange.authority, route.uuid);
  const session = ctx.state.sessions.get(key);
  if (ctx.status === 416) {
    // The registry refused the chunk's range: nothing is committed; its Range says what it holds.
    if (session !== undefined) checkRegistryRange(ctx, route);
    return;
  }
  if (ctx.status !== 202) return;
  const range = ctx.responseHeader('range');
  const body = acceptedBody(ctx);
  let next: UploadSession;
  if (session === undefined) {
    next = adoptSession(ctx, route, body, range);
  } else if (!ctx.exchange.request.complete) {
    next = lose(session, 'chunk_incomplete');
  } else {
    next = commitBody(session, body, ctx.exchange.finishedAt);
    if (next.integrity === 'tracked' && !rangeAgrees(range, next.committedBytes)) {
      next = lose(next, 'range_disagrees');
      ctx.anomaly(
        'upload_range_disagrees',
        route.name,
        `registry range ${range}, proxy saw ${next.committedBytes} bytes`,
      );
    }
  }
  ctx.state = { ...ctx.state, sessions: rekeyed(ctx, withSession(ctx.state.sessions, next), next) };
}

/**
 * A chunk for a session the proxy never saw open (it started before the proxy, or its POST
 * had no usable Location). It is trustworthy only when the registry's Range says this body
 * is everything the session holds.
 */
function adoptSession(
  ctx: ExchangeContext,
  route: UploadSessionRoute,
  body: AcceptedBody,
  range: string | null,
): UploadSession {
  ctx.anomaly(
    'upload_session_unknown',
    route.name,
    'chunk for an upload session the proxy did not see start',
  );
  const fresh: UploadSession = {
    authority: ctx.exchange.authority.toLowerCase(),
    uuid: route.uuid,
    registry: ctx.registry,
    repository: route.name,
    committedBytes: 0,
    committedHash: null,
    committedDigest: null,
    integrity: 'tracked',
    lostReason: null,
    lastActivityAt: ctx.exchange.finishedAt,
  };
  if (ctx.exchange.request.complete && body.size > 0 && rangeLength(range) === body.size) {
    return commitBody(fresh, body, ctx.exchange.finishedAt);
  }
  return lose({ ...fresh, committedBytes: rangeLength(range) ?? body.size }, 'session_unknown');
}

/** The next Location may (rarely) name another UUID or host: follow it, keep the bytes. */
function rekeyed(ctx: ExchangeContext, sessions: UploadSessions, session: UploadSession): UploadSessions {
  const location = uploadLocationOf(ctx.responseHeader('location'), null, ctx.exchange);
  if (
    location === null ||
    sessionKey(location.authority, location.uuid) === sessionKey(session.authority, session.uuid)
  ) {
    return sessions;
  }
  const moved = withoutSession(sessions, session.authority, session.uuid);
  return withSession(moved, { ...session, authority: location.authority, uuid: location.uuid });
}

function commit(ctx: ExchangeContext, route: UploadSessionRoute): void {
  if (!isSuccess(ctx.status) || route.digest === null || !ctx.exchange.request.complete) return;
  const claimed = route.digest;
  const session = ctx.state.sessions.get(sessionKey(ctx.exchange.authority, route.uuid));
  const body = acceptedBody(ctx);
  let outcome: ReturnType<typeof judgeUpload>;
  if (session === undefined) {
    // Without the session's history only one conclusion is safe: a body that alone hashes to
    // the claimed digest is the whole blob (anything before it would change the digest).
    ctx.anomaly(
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
    ctx.state = {
      ...ctx.state,
      sessions: withoutSession(ctx.state.sessions, session.authority, session.uuid),
    };
  }
  blobUploaded(
    ctx,
    session?.repository ?? route.name,
    claimed,
    outcome,
    'chunked',
    route.uuid,
    session?.registry,
  );
}

function blobUploaded(
  ctx: ExchangeContext,
  repository: string,
  claimed: Digest,
  outcome: ReturnType<typeof judgeUpload>,
  method: 'chunked' | 'monolithic',
  uploadId: string | null,
  registry: string = ctx.registry,
): void {
  ctx.emit({
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
    ctx.mismatch(
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
function checkRegistryRange(ctx: ExchangeContext, route: UploadSessionRoute): void {
  const session = ctx.state.sessions.get(sessionKey(ctx.exchange.authority, route.uuid));
  if (session === undefined || session.integrity === 'lost') return;
  const range = ctx.responseHeader('range');
  if (rangeAgrees(range, session.committedBytes)) return;
  ctx.anomaly(
    'upload_range_disagrees',
    route.name,
    `registry range ${range}, proxy saw ${session.committedBytes} bytes`,
  );
  ctx.state = {
    ...ctx.state,
    sessions: withSession(ctx.state.sessions, lose(session, 'range_disagrees')),
  };
}

function acceptedBody(ctx: ExchangeContext): AcceptedBody {
  const { request } = ctx.exchange;
  return { size: request.size, sha256: request.sha256, continuedHash: request.continuedHash };
}
