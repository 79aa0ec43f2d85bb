/** What a registry's `WWW-Authenticate` asks for. */
export type Challenge =
  | { readonly scheme: 'none' }
  | { readonly scheme: 'basic' }
  | { readonly scheme: 'bearer'; readonly realm: string; readonly service: string | null };

/**
 * Parses the first Basic or Bearer challenge of a `WWW-Authenticate` value
 * (`Bearer realm="https://auth/token",service="registry"`). null when there is neither.
 */
export function parseChallenge(header: string | string[] | undefined): Challenge | null {
  const values = Array.isArray(header) ? header : header === undefined ? [] : [header];
  for (const value of values) {
    const match = /^\s*(basic|bearer)\b(.*)$/i.exec(value);
    if (match === null) continue;
    if (match[1]!.toLowerCase() === 'basic') return { scheme: 'basic' };
    const params = authParams(match[2] ?? '');
    const realm = params.get('realm');
    if (realm === undefined) continue;
    return { scheme: 'bearer', realm, service: params.get('service') ?? null };
  }
  return null;
}

function authParams(text: string): Map<string, string> {
  const params = new Map<string, string>();
  const pattern = /([a-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/gi;
  for (const match of text.matchAll(pattern)) {
    const value = match[2] === undefined ? (match[3] ?? '') : match[2].replace(/\\(.)/g, '$1');
    params.set(match[1]!.toLowerCase(), value);
  }
  return params;
}
