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
