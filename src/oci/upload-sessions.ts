import type { Hash } from 'node:crypto';
import { type Digest, digestOfHash, isVerifiable } from './digest.js';
import type { BlobVerification } from './events.js';

/**
 * Blob upload sessions: the one piece of state that straddles exchanges.
 *
 * A session is keyed by the authority its requests go to plus the upload UUID, never by URL:
 * `_state` rotates on every response and `Location` may be absolute or relative. A chunk's
 * bytes count only once the registry accepted them (202), and the planner always seeds the
 * next body's hash from this committed state, so a retried chunk is never hashed twice.
 *
 * Sessions are immutable values; the collection is a ReadonlyMap replaced on change.
 */
export interface UploadSession {
  /** Authority (host:port) the session's requests go to. */
  readonly authority: string;
  readonly uuid: string;
  /** The registry the upload was started on, and the repository it is for. */
  readonly registry: string;
  readonly repository: string;
  readonly committedBytes: number;
  /** sha256 state over every accepted byte. Shared, never fed: copy before use. */
  readonly committedHash: Hash | null;
  /**
   * Without a Hash (replayed traces carry only per-body digests), the digest of the single body
   * that makes up the session so far. Once a second body arrives this can no longer be extended.
   */
  readonly committedDigest: string | null;
  /** `lost` once the proxy can no longer know the session's bytes; the blob is then unverifiable. */
  readonly integrity: 'tracked' | 'lost';
  readonly lostReason: string | null;
  readonly lastActivityAt: number;
}

export type UploadSessions = ReadonlyMap<string, UploadSession>;
export const NO_SESSIONS: UploadSessions = new Map();

export function sessionKey(authority: string, uuid: string): string {
  return `${authority.toLowerCase()}|${uuid}`;
}

/** Where the next request of a session goes, from an upload response. */
export interface UploadLocation {
  readonly authority: string;
  readonly uuid: string;
}

const UPLOAD_PATH = /\/blobs\/uploads\/([^/?#]+)\/?$/;

/**
 * Resolves an upload response's `Location` (absolute or relative to the request) to
 * authority + UUID; falls back to `Docker-Upload-UUID` at the request's authority.
 */
export function uploadLocationOf(
  location: string | null,
  uploadUuidHeader: string | null,
  request: { scheme: 'http' | 'https'; authority: string; target: string },
): UploadLocation | null {
  if (location !== null) {
    const resolved = resolveUrl(location, request);
    if (resolved !== null) {
      const match = UPLOAD_PATH.exec(resolved.pathname);
      if (match) {
        const uuid = safeDecode(match[1]!);
        if (uuid !== null) return { authority: authorityOf(resolved), uuid };
      }
    }
  }
  if (uploadUuidHeader !== null && uploadUuidHeader.length > 0 && !uploadUuidHeader.includes('/')) {
    return { authority: request.authority.toLowerCase(), uuid: uploadUuidHeader };
  }
  return null;
}

/** A URL relative to the request it answered; null when unparseable. */
export function resolveUrl(
  location: string,
  request: { scheme: 'http' | 'https'; authority: string; target: string },
): URL | null {
  try {
    return new URL(location, `${request.scheme}://${request.authority}${request.target}`);
  } catch {
    return null;
  }
}

/** host:port with the scheme's default port made explicit, to compare with CompletedExchange.authority. */
export function authorityOf(url: URL): string {
  const port = url.port !== '' ? url.port : url.protocol === 'http:' ? '80' : '443';
  return `${url.hostname.toLowerCase()}:${port}`;
}

export function openSession(
  sessions: UploadSessions,
  at: UploadLocation,
  registry: string,
  repository: string,
  now: number,
): UploadSessions {
  const session: UploadSession = {
    authority: at.authority,
    uuid: at.uuid,
    registry,
    repository,
    committedBytes: 0,
    committedHash: null,
    committedDigest: null,
    integrity: 'tracked',
    lostReason: null,
    lastActivityAt: now,
  };
  return withSession(sessions, session);
}

export function withSession(sessions: UploadSessions, session: UploadSession): UploadSessions {
  const next = new Map(sessions);
  next.set(sessionKey(session.authority, session.uuid), session);
  return next;
}

export function withoutSession(sessions: UploadSessions, authority: string, uuid: string): UploadSessions {
  const key = sessionKey(authority, uuid);
  if (!sessions.has(key)) return sessions;
  const next = new Map(sessions);
  next.delete(key);
  return next;
}

/** What the hot path should continue for a body of this session: the committed state, never a newer one. */
export function hashSeedFor(session: UploadSession | undefined): Hash | 'fresh' | null {
  // Unknown session: hash the body alone; the interpreter decides later whether it is the whole blob.
  if (session === undefined || session.committedBytes === 0) return 'fresh';
  if (session.integrity === 'lost') return null;
  return session.committedHash;
}

/** A body the registry accepted into the session. */
export interface AcceptedBody {
  readonly size: number;
  /** sha256 of this body alone. */
  readonly sha256: string;
  /** The session's hash continued with this body, when the plan asked for it. */
  readonly continuedHash: Hash | null;
}

export function commitBody(session: UploadSession, body: AcceptedBody, now: number): UploadSession {
  const committedBytes = session.committedBytes + body.size;
  if (session.integrity === 'lost') return { ...session, committedBytes, lastActivityAt: now };
  if (body.size === 0) return { ...session, lastActivityAt: now };
  if (body.continuedHash !== null) {
    return {
      ...session,
      committedBytes,
      committedHash: body.continuedHash,
      committedDigest: null,
      lastActivityAt: now,
    };
  }
  if (session.committedBytes === 0) {
    return {
      ...session,
      committedBytes,
      committedHash: null,
      committedDigest: body.sha256,
      lastActivityAt: now,
    };
  }
  return lose({ ...session, committedBytes, lastActivityAt: now }, 'hash_unavailable');
}

export function lose(session: UploadSession, reason: string): UploadSession {
  if (session.integrity === 'lost') return session;
  return { ...session, integrity: 'lost', lostReason: reason, committedHash: null, committedDigest: null };
}

/**
 * Checks the registry's `Range: 0-<last>` against the bytes the proxy saw accepted.
 * `0-0` is ambiguous (no bytes, or one byte); distribution sends it for an empty session.
 */
export function rangeAgrees(range: string | null, committedBytes: number): boolean {
  if (range === null) return true;
  const match = /^(?:bytes=)?0-(\d+)$/.exec(range.trim());
  if (!match) return true;
  const last = Number(match[1]);
  if (last === 0) return committedBytes <= 1;
  return last + 1 === committedBytes;
}

/** Total bytes the registry says it holds, from `Range: 0-<last>`; null when unknown or ambiguous. */
export function rangeLength(range: string | null): number | null {
  if (range === null) return null;
  const match = /^(?:bytes=)?0-(\d+)$/.exec(range.trim());
  if (!match) return null;
  const last = Number(match[1]);
  return last === 0 ? null : last + 1;
}

export interface UploadOutcome {
  readonly computedDigest: string | null;
  readonly verification: BlobVerification;
  readonly unverifiableReason: string | null;
  readonly size: number | null;
}

/** The proxy's verdict on a finished upload: its own digest against the claimed one. */
export function judgeUpload(
  claimed: Digest,
  computedDigest: string | null,
  reason: string | null,
  size: number | null,
): UploadOutcome {
  if (!isVerifiable(claimed)) {
    return {
      computedDigest,
      verification: 'unverifiable',
      unverifiableReason: 'algorithm_unsupported',
      size,
    };
  }
  if (computedDigest === null) {
    return {
      computedDigest,
      verification: 'unverifiable',
      unverifiableReason: reason ?? 'hash_unavailable',
      size,
    };
  }
  return {
    computedDigest,
    verification: computedDigest === claimed.value ? 'verified' : 'mismatch',
    unverifiableReason: null,
    size,
  };
}

/**
 * The digest of a session closed by a final PUT whose body (possibly empty) is `last`.
 * Returns null with a reason when the proxy cannot know it.
 */
export function closingDigest(
  session: UploadSession,
  last: AcceptedBody,
): { digest: string | null; reason: string | null } {
  if (session.integrity === 'lost') return { digest: null, reason: session.lostReason };
  if (last.continuedHash !== null) return { digest: digestOfHash(last.continuedHash), reason: null };
  if (last.size === 0) {
    if (session.committedHash !== null) return { digest: digestOfHash(session.committedHash), reason: null };
    if (session.committedDigest !== null) return { digest: session.committedDigest, reason: null };
    if (session.committedBytes === 0) return { digest: EMPTY_SHA256, reason: null };
    return { digest: null, reason: 'hash_unavailable' };
  }
  if (session.committedBytes === 0) return { digest: last.sha256, reason: null };
  return { digest: null, reason: 'hash_unavailable' };
}

/** Drops sessions idle longer than `idleMs`, then the oldest beyond `max`. */
export function pruneSessions(
  sessions: UploadSessions,
  now: number,
  idleMs: number,
  max: number,
): UploadSessions {
  let stale = 0;
  for (const session of sessions.values()) if (now - session.lastActivityAt > idleMs) stale++;
  if (stale === 0 && sessions.size <= max) return sessions;
  const kept = [...sessions.entries()]
    .filter(([, session]) => now - session.lastActivityAt <= idleMs)
    .sort((a, b) => a[1].lastActivityAt - b[1].lastActivityAt);
  return new Map(kept.slice(Math.max(0, kept.length - max)));
}

export const EMPTY_SHA256 = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

function safeDecode(text: string): string | null {
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}
