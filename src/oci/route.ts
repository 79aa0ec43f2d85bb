import type { ErrorCode } from '../error-codes.js';
import { ProvenanceProxyError } from '../errors.js';
import { type Digest, parseDigest } from './digest.js';
import { InvalidRepositoryNameError, InvalidRouteError } from './errors.js';
import { type ManifestReference, parseManifestReference, parseRepositoryName } from './reference.js';

/**
 * Which distribution-spec endpoint a request is, from its method and origin-form target alone.
 * Endpoint ids follow the spec's table (end-1 … end-13); the upload cancel has no id there.
 */
export type OciRoute =
  | { readonly kind: 'ping'; readonly endpoint: 'end-1' }
  | BlobRoute
  | ManifestRoute
  | UploadStartRoute
  | UploadMonolithicRoute
  | UploadMountRoute
  | UploadSessionRoute
  | { readonly kind: 'tags-list'; readonly endpoint: 'end-8a' | 'end-8b'; readonly name: string }
  | {
      readonly kind: 'referrers';
      readonly endpoint: 'end-12a' | 'end-12b';
      readonly name: string;
      readonly digest: Digest;
    }
  /** Under /v2/ but not a well-formed OCI request (bad name, bad digest, unknown method for the path). */
  | { readonly kind: 'invalid'; readonly reason: string; readonly code: ErrorCode }
  | { readonly kind: 'not-oci' };

export interface BlobRoute {
  readonly kind: 'blob-read' | 'blob-delete';
  readonly endpoint: 'end-2' | 'end-10';
  readonly name: string;
  readonly digest: Digest;
}

export interface ManifestRoute {
  readonly kind: 'manifest-read' | 'manifest-put' | 'manifest-delete';
  readonly endpoint: 'end-3' | 'end-7' | 'end-9';
  readonly name: string;
  readonly reference: ManifestReference;
}

export interface UploadStartRoute {
  readonly kind: 'upload-start';
  readonly endpoint: 'end-4a';
  readonly name: string;
}

export interface UploadMonolithicRoute {
  readonly kind: 'upload-monolithic';
  readonly endpoint: 'end-4b';
  readonly name: string;
  readonly digest: Digest;
}

export interface UploadMountRoute {
  readonly kind: 'upload-mount';
  readonly endpoint: 'end-11';
  readonly name: string;
  readonly digest: Digest;
  /** Absent when the client lets the registry choose the source (OCI 1.1 automatic mount). */
  readonly from: string | null;
}

export interface UploadSessionRoute {
  readonly kind: 'upload-chunk' | 'upload-commit' | 'upload-status' | 'upload-cancel';
  readonly endpoint: 'end-5' | 'end-6' | 'end-13' | null;
  readonly name: string;
  readonly uuid: string;
  /** `?digest=` of the closing PUT; null for the other session requests. */
  readonly digest: Digest | null;
}

const NOT_OCI: OciRoute = Object.freeze({ kind: 'not-oci' });
const PING: OciRoute = Object.freeze({ kind: 'ping', endpoint: 'end-1' });
/**
 * Greedy `name` so the *last* `/blobs|manifests|tags|referrers/` segment splits: names may
 * themselves contain those words as components (`a/blobs/b`).
 */
const V2_PATH = /^\/v2\/(.+)\/(blobs|manifests|tags|referrers)\/(.*)$/;

/**
 * A request's method and origin-form target, parsed once: every OCI stage (planner, interpreter,
 * token realms, push policy) reads these fields, never the raw target again.
 */
export interface RequestTarget {
  /** Upper-cased. */
  readonly method: string;
  /** The path as sent (before `?`), still percent-encoded: what the route is classified from. */
  readonly path: string;
  /** The path with dot segments resolved, as a URL would have it; null when it does not parse as one. */
  readonly pathname: string | null;
  readonly query: URLSearchParams;
  readonly route: OciRoute;
}

export function parseRequestTarget(method: string, target: string): RequestTarget {
  const queryStart = target.indexOf('?');
  const path = queryStart === -1 ? target : target.slice(0, queryStart);
  const query = new URLSearchParams(queryStart === -1 ? '' : target.slice(queryStart + 1));
  const verb = method.toUpperCase();
  return { method: verb, path, pathname: urlPathname(path), query, route: routeOf(verb, path, query) };
}

/** The route alone, for callers that need nothing else of the target. */
export function classifyRoute(method: string, target: string): OciRoute {
  return parseRequestTarget(method, target).route;
}

function urlPathname(path: string): string | null {
  try {
    return new URL(path, 'http://x').pathname;
  } catch {
    return null;
  }
}

function routeOf(verb: string, path: string, query: URLSearchParams): OciRoute {
  if (path !== '/v2' && !path.startsWith('/v2/')) return NOT_OCI;
  if (path === '/v2' || path === '/v2/')
    return verb === 'GET' || verb === 'HEAD' ? PING : invalid('method not allowed on /v2/');
  const match = V2_PATH.exec(path);
  if (!match) return invalid('path under /v2/ names no OCI endpoint', 'ERR_OCI_ROUTE');
  try {
    const name = parseRepositoryName(decodeComponents(match[1]!));
    const rest = match[3]!;
    switch (match[2]) {
      case 'blobs':
        return blobRoute(verb, name, rest, query);
      case 'manifests':
        return manifestRoute(verb, name, rest);
      case 'tags':
        if (rest === 'list' && verb === 'GET') {
          return {
            kind: 'tags-list',
            endpoint: query.has('n') || query.has('last') ? 'end-8b' : 'end-8a',
            name,
          };
        }
        return invalid('tags: only GET tags/list exists');
      case 'referrers':
        if (verb !== 'GET' || rest.includes('/'))
          return invalid('referrers: only GET referrers/<digest> exists');
        return {
          kind: 'referrers',
          endpoint: query.has('artifactType') ? 'end-12b' : 'end-12a',
          name,
          digest: parseDigest(decodeComponent(rest)),
        };
      default:
        return invalid('unreachable');
    }
  } catch (error) {
    if (error instanceof ProvenanceProxyError) return invalid(error.message, error.code);
    throw error;
  }
}

function blobRoute(verb: string, name: string, rest: string, query: URLSearchParams): OciRoute {
  if (rest === 'uploads' || rest === 'uploads/') {
    if (verb !== 'POST') return invalid('blobs/uploads/: only POST starts an upload');
    const mount = query.get('mount');
    if (mount !== null) {
      const from = query.get('from');
      return {
        kind: 'upload-mount',
        endpoint: 'end-11',
        name,
        digest: parseDigest(mount),
        from: from === null ? null : parseRepositoryName(from),
      };
    }
    const digest = query.get('digest');
    if (digest !== null)
      return { kind: 'upload-monolithic', endpoint: 'end-4b', name, digest: parseDigest(digest) };
    return { kind: 'upload-start', endpoint: 'end-4a', name };
  }
  if (rest.startsWith('uploads/')) {
    const uuid = decodeComponent(rest.slice('uploads/'.length));
    if (uuid.length === 0 || uuid.includes('/')) return invalid('upload session id must be one path segment');
    switch (verb) {
      case 'PATCH':
        return { kind: 'upload-chunk', endpoint: 'end-5', name, uuid, digest: null };
      case 'PUT': {
        const digest = query.get('digest');
        if (digest === null) return invalid('closing PUT without ?digest=', 'ERR_OCI_DIGEST');
        return { kind: 'upload-commit', endpoint: 'end-6', name, uuid, digest: parseDigest(digest) };
      }
      case 'GET':
        return { kind: 'upload-status', endpoint: 'end-13', name, uuid, digest: null };
      case 'DELETE':
        return { kind: 'upload-cancel', endpoint: null, name, uuid, digest: null };
      default:
        return invalid(`${verb} is not an upload-session method`);
    }
  }
  if (rest.includes('/')) return invalid('blobs/<digest> must be one path segment');
  const digest = parseDigest(decodeComponent(rest));
  if (verb === 'GET' || verb === 'HEAD') return { kind: 'blob-read', endpoint: 'end-2', name, digest };
  if (verb === 'DELETE') return { kind: 'blob-delete', endpoint: 'end-10', name, digest };
  return invalid(`${verb} is not a blob method`);
}

function manifestRoute(verb: string, name: string, rest: string): OciRoute {
  if (rest.length === 0 || rest.includes('/'))
    return invalid('manifests/<reference> must be one path segment');
  const reference = parseManifestReference(decodeComponent(rest));
  switch (verb) {
    case 'GET':
    case 'HEAD':
      return { kind: 'manifest-read', endpoint: 'end-3', name, reference };
    case 'PUT':
      return { kind: 'manifest-put', endpoint: 'end-7', name, reference };
    case 'DELETE':
      return { kind: 'manifest-delete', endpoint: 'end-9', name, reference };
    default:
      return invalid(`${verb} is not a manifest method`);
  }
}

/** Decodes each path component on its own, so `%2F` can never forge an extra component. */
function decodeComponents(path: string): string {
  return path
    .split('/')
    .map((component) => {
      const decoded = decodeComponent(component);
      if (decoded.includes('/'))
        throw new InvalidRepositoryNameError(path, 'encoded slash in a name component');
      return decoded;
    })
    .join('/');
}

function decodeComponent(component: string): string {
  if (!component.includes('%')) return component;
  try {
    return decodeURIComponent(component);
  } catch {
    throw new InvalidRouteError('bad percent-encoding in path');
  }
}

function invalid(reason: string, code: ErrorCode = 'ERR_OCI_ROUTE'): OciRoute {
  return { kind: 'invalid', reason, code };
}
