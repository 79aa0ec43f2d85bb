/**
 * Query parameters whose values are secrets or pieces of a signature that grant
 * access: OAuth tokens, pre-signed S3/GCS/Azure URLs (`X-Amz-Signature`,
 * `X-Goog-Credential`, `sig`), registry upload `_state`. One list for logs and
 * for records, so neither can drift from the other.
 */
const SECRET_PARAMETER =
  /(token|secret|passw|pwd|signature|^sig$|credential|api[-_]?key|^key$|auth|session|^code$|security|^_?state$)/i;

export const REDACTED = 'REDACTED';

export function isSecretParameter(name: string): boolean {
  return SECRET_PARAMETER.test(name);
}

/** A query string (without `?`) with secret values replaced; names keep their original spelling. */
export function redactQuery(query: string): string {
  return query
    .split('&')
    .map((part) => {
      const eq = part.indexOf('=');
      if (eq === -1) return part;
      const rawName = part.slice(0, eq);
      let name = rawName;
      try {
        name = decodeURIComponent(rawName.replace(/\+/g, ' '));
      } catch {
        // an undecodable name is matched as written
      }
      return isSecretParameter(name) ? `${rawName}=${REDACTED}` : part;
    })
    .join('&');
}

/** A request target or URL fit for logs: secret query values replaced, the rest kept. */
export function redactUrl(target: string): string {
  const q = target.indexOf('?');
  if (q < 0) return target;
  const hash = target.indexOf('#', q);
  return `${target.slice(0, q)}?${redactQuery(target.slice(q + 1, hash < 0 ? undefined : hash))}`;
}
