import type { RequestTarget } from './route.js';
import { authorityOf } from './upload-sessions.js';

/**
 * Token endpoints registries send clients to (`WWW-Authenticate: Bearer realm=…`). Their
 * responses are credentials, not build inputs: requests to them never become artifacts.
 * Kept as `authority + path`.
 */
export type TokenRealms = ReadonlySet<string>;
export const NO_TOKEN_REALMS: TokenRealms = new Set();

export function realmKey(authority: string, path: string): string {
  return `${authority.toLowerCase()}${path}`;
}

/** The realm URL of a Bearer challenge, as a realm key; null for other schemes or a malformed header. */
export function bearerRealmOf(challenge: string | null): string | null {
  if (challenge === null || !/^bearer\s/i.test(challenge)) return null;
  const match = /realm="([^"]+)"/i.exec(challenge);
  if (!match) return null;
  try {
    const url = new URL(match[1]!);
    return realmKey(authorityOf(url), url.pathname);
  } catch {
    return null;
  }
}

/**
 * Token requests to a realm the proxy has not seen a challenge for (a client that cached the
 * realm, a restarted proxy) still look like one: the distribution token protocol's query
 * parameters, or an OAuth2 form POST to a `/token` path.
 */
export function looksLikeTokenRequest(
  method: string,
  path: string,
  query: URLSearchParams,
  contentType: string | null,
): boolean {
  if (query.has('service') && (query.has('scope') || query.has('account'))) return true;
  if (!/\/(?:oauth2?\/)?token\/?$/i.test(path)) return false;
  if (query.has('scope') || query.has('service')) return true;
  return method === 'POST' && contentType === 'application/x-www-form-urlencoded';
}

/**
 * Token answers are small JSON objects; 16 KiB holds a JWT with a certificate chain (`x5c`).
 * The planner captures a token candidate's answer up to this, so the interpreter can see what it is.
 */
export const TOKEN_RESPONSE_CAPTURE_LIMIT = 16 * 1024;

/** The fields the distribution token and OAuth2 token answers define; nothing else is a token answer. */
const TOKEN_RESPONSE_FIELDS: ReadonlySet<string> = new Set([
  'token',
  'access_token',
  'refresh_token',
  'expires_in',
  'issued_at',
  'token_type',
  'scope',
]);

/**
 * Whether a token candidate's answer is a token. A request's shape or a realm named in a
 * challenge only makes a *candidate*: both are chosen by the build (any URL may carry
 * `?service=&scope=`, a hostile registry may name any URL its realm). The answer must be a
 * captured JSON object holding a token and only token fields; anything else (a tarball, a
 * script, a JSON document with other fields) is a download like any other, and is recorded.
 */
export function isTokenResponse(captured: Buffer | null): boolean {
  if (captured === null || captured.length === 0) return false;
  let json: unknown;
  try {
    json = JSON.parse(captured.toString('utf8'));
  } catch {
    return false;
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return false;
  const record = json as Record<string, unknown>;
  const keys = Object.keys(record);
  if (!keys.every((key) => TOKEN_RESPONSE_FIELDS.has(key))) return false;
  return typeof record['token'] === 'string' || typeof record['access_token'] === 'string';
}

/**
 * A request that may be a token request: to a realm a challenge named, or shaped like one.
 * Only ever asked of requests that are no OCI endpoint (`not-oci`, `invalid` routes): an OCI
 * route is classified by its path, whatever its query or the realms say.
 */
export function isTokenCandidate(
  realms: TokenRealms,
  authority: string,
  target: RequestTarget,
  contentType: string | null,
): boolean {
  // An unparseable path keeps its raw form: it is only compared, never followed.
  const path = target.pathname ?? target.path;
  if (realms.has(realmKey(authority, path))) return true;
  return looksLikeTokenRequest(target.method, path, target.query, contentType);
}
