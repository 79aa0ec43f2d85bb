/**
 * URLs as they may be recorded: scheme, host, path and query, with the values of
 * credential-like query parameters replaced. Pre-signed storage URLs carry their
 * signature in the query; tokens sometimes travel as `?access_token=`.
 */

/** Parameter names whose values are secrets, or pieces of a signature that grant access. */
const SECRET_PARAMETER =
  /(token|secret|passw|pwd|signature|^sig$|credential|api[-_]?key|^key$|auth|session|^code$|security)/i;

export const REDACTED = 'REDACTED';

export function isSecretParameter(name: string): boolean {
  return SECRET_PARAMETER.test(name);
}

/** `scheme://host[:port]/path?query` with secret values replaced and userinfo/fragment dropped. */
export function recordableUrl(scheme: 'http' | 'https', authority: string, target: string): string {
  let url: URL;
  try {
    url = new URL(target, `${scheme}://${authority}`);
  } catch {
    return `${scheme}://${authority}/`;
  }
  url.username = '';
  url.password = '';
  url.hash = '';
  if (url.search.length > 1) {
    // Rebuilt by hand rather than with URLSearchParams so parameters keep their original spelling.
    const parts = url.search
      .slice(1)
      .split('&')
      .map((part) => {
        const eq = part.indexOf('=');
        const rawName = eq === -1 ? part : part.slice(0, eq);
        let name = rawName;
        try {
          name = decodeURIComponent(rawName.replace(/\+/g, ' '));
        } catch {
          // keep the raw name: an undecodable name is matched as written
        }
        return isSecretParameter(name) ? `${rawName}=${REDACTED}` : part;
      });
    url.search = `?${parts.join('&')}`;
  }
  return url.toString();
}
