import { createHash } from 'node:crypto';
import { invalidArgument } from '../grafeas/status.js';

/**
 * Page tokens are opaque to clients: the position after the last row returned, bound to the
 * list they belong to (collection, parent and filter), so a token cannot be replayed against a
 * different list and silently skip rows (AIP-158).
 */
export function encodePageToken(afterSeq: number, scope: string): string {
  return Buffer.from(JSON.stringify({ a: afterSeq, s: scopeDigest(scope) }), 'utf8').toString('base64url');
}

/** The position a token continues from; 0 for no token. */
export function decodePageToken(token: string | undefined, scope: string): number {
  if (token === undefined || token === '') return 0;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalidArgument('pageToken is not a token this server issued');
  }
  const { a, s } = (parsed ?? {}) as { a?: unknown; s?: unknown };
  if (typeof a !== 'number' || !Number.isSafeInteger(a) || a < 0 || typeof s !== 'string') {
    throw invalidArgument('pageToken is not a token this server issued');
  }
  if (s !== scopeDigest(scope)) {
    throw invalidArgument('pageToken belongs to a different list request (parent or filter changed)');
  }
  return a;
}

function scopeDigest(scope: string): string {
  return createHash('sha256').update(scope, 'utf8').digest('base64url').slice(0, 16);
}
