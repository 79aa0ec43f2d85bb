import type { ReferenceValue } from './events.js';

/**
 * A registry answered a blob or manifest read with a redirect (307 to object storage, typically).
 * The bytes arrive on a later GET to another host; this is what lets the interpreter verify them
 * against the digest the client asked the registry for.
 *
 * Only authority and path are kept: pre-signed URLs carry their credentials in the query.
 */
export interface PendingRedirect {
  readonly authority: string;
  readonly path: string;
  readonly method: 'GET' | 'HEAD';
  readonly purpose: 'blob-read' | 'manifest-read';
  readonly registry: string;
  readonly repository: string;
  /** Blob reads: the digest asked for. */
  readonly digest: string | null;
  /** Manifest reads: the reference asked for. */
  readonly reference: ReferenceValue | null;
  readonly hops: number;
  readonly at: number;
}

export type PendingRedirects = readonly PendingRedirect[];
export const NO_REDIRECTS: PendingRedirects = Object.freeze([]);

/** Index of the oldest pending redirect this request follows, or -1. */
export function findRedirect(
  redirects: PendingRedirects,
  authority: string,
  method: string,
  path: string,
): number {
  const wantedAuthority = authority.toLowerCase();
  return redirects.findIndex(
    (r) => r.authority === wantedAuthority && r.method === method && r.path === path,
  );
}

export function withRedirect(
  redirects: PendingRedirects,
  redirect: PendingRedirect,
  max: number,
): PendingRedirects {
  const next = [...redirects, redirect];
  return next.length > max ? next.slice(next.length - max) : next;
}

export function withoutRedirectAt(redirects: PendingRedirects, index: number): PendingRedirects {
  return [...redirects.slice(0, index), ...redirects.slice(index + 1)];
}

export function pruneRedirects(redirects: PendingRedirects, now: number, ttlMs: number): PendingRedirects {
  if (redirects.every((r) => now - r.at <= ttlMs)) return redirects;
  return redirects.filter((r) => now - r.at <= ttlMs);
}
