import type { IncomingHttpHeaders } from 'node:http';

/**
 * Headers copied into CompletedExchange. An allow-list, not a deny-list: a new
 * credential header invented tomorrow stays out of records and logs by default.
 */
const REQUEST_HEADERS = [
  'host',
  'content-type',
  'content-length',
  'content-range',
  'transfer-encoding',
  'content-encoding',
  'accept',
  'user-agent',
  'expect',
  'upgrade',
  'range',
  'docker-distribution-api-version',
  'docker-content-digest',
  'oci-subject',
] as const;

const RESPONSE_HEADERS = [
  'content-type',
  'content-length',
  'content-range',
  'transfer-encoding',
  'content-encoding',
  'location',
  'range',
  'etag',
  'link',
  'www-authenticate',
  'docker-content-digest',
  'docker-upload-uuid',
  'docker-distribution-api-version',
  'oci-subject',
  'oci-filters-applied',
  'oci-chunk-min-length',
] as const;

function pick(
  headers: IncomingHttpHeaders,
  names: readonly string[],
): Record<string, string | readonly string[]> {
  const out: Record<string, string | readonly string[]> = {};
  for (const name of names) {
    const value = headers[name];
    if (value !== undefined) out[name] = Array.isArray(value) ? [...value] : value;
  }
  return out;
}

export function allowedRequestHeaders(
  headers: IncomingHttpHeaders,
): Record<string, string | readonly string[]> {
  const out = pick(headers, REQUEST_HEADERS);
  // Clients send one Accept line per media type; Node joins them, the interpreter reads them all.
  return out;
}

export function allowedResponseHeaders(
  headers: IncomingHttpHeaders,
): Record<string, string | readonly string[]> {
  return pick(headers, RESPONSE_HEADERS);
}
