import { InvalidOptionError } from '../errors.js';

/**
 * The one rule for a Grafeas base URL, for `run`, `verify`, `outbox resend` and the sink itself:
 * http(s), no credentials (they belong in --grafeas-token-file), no query or fragment (the client
 * appends paths), and the API root rather than `…/v1` (the client adds `/v1/projects/…`).
 */
export function parseGrafeasUrl(option: string, text: string): URL {
  const url = parseHttpUrl(option, text);
  if (url.search !== '' || url.hash !== '') {
    throw new InvalidOptionError(option, 'must not have a query or fragment');
  }
  if (/\/v1\/?$/.test(url.pathname)) {
    throw new InvalidOptionError(option, 'give the API root without /v1 (the sink adds /v1/projects/...)');
  }
  return url;
}

/**
 * An absolute http:// or https:// URL without credentials (tokens go in token files, never URLs).
 * Errors never quote the text: it may hold the very credentials refused.
 */
export function parseHttpUrl(option: string, text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidOptionError(option, 'is not a URL; must be an absolute http:// or https:// URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new InvalidOptionError(option, 'must be an absolute http:// or https:// URL');
  }
  if (url.username || url.password) {
    throw new InvalidOptionError(option, 'must not carry credentials; use the token file option');
  }
  return url;
}
