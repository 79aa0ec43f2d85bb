import { looksLikeCredential, namesACredential } from './credential-shape.js';

/**
 * The one redaction of URLs and request targets, for logs, the journal, views, statements and
 * anomaly details alike, so none of them can drift from the others.
 *
 * Query parameters are redacted by allow-list: a value is kept only when its parameter is known
 * to carry no secret. Everything else (tokens, signatures of pre-signed URLs, `_state` of upload
 * sessions, whatever a build invents) keeps its name and loses its value. A deny-list let `jwt`,
 * `pass`, `bearer`, `sas`, `hmac`... through (issue 8, probe 9).
 */
const HARMLESS_PARAMETERS: ReadonlySet<string> = new Set([
  // OCI distribution-spec: content addresses, paging, cross-repository mounts.
  'digest',
  'mount',
  'from',
  'n',
  'last',
  // OCI 1.1 referrers filter, and containerd's mirror namespace (`?ns=docker.io`).
  'artifactType',
  'ns',
]);

export const REDACTED = 'REDACTED';

/** A parameter name is kept when it reads as a name; one that looks like a secret is replaced too. */
const PLAIN_NAME = /^[A-Za-z0-9_.\-[\]]{1,64}$/;

export function isHarmlessParameter(name: string): boolean {
  return HARMLESS_PARAMETERS.has(name);
}

/** A query string (without `?`) with every value not allow-listed replaced; plain names keep their spelling. */
export function redactQuery(query: string): string {
  if (query === '') return query;
  return query
    .split('&')
    .map((part) => {
      const eq = part.indexOf('=');
      const rawName = eq === -1 ? part : part.slice(0, eq);
      const name = decodeLoosely(rawName);
      const keptName = PLAIN_NAME.test(name) && !looksLikeCredential(name) ? rawName : REDACTED;
      if (eq === -1) return keptName;
      return isHarmlessParameter(name) ? part : `${keptName}=${REDACTED}`;
    })
    .join('&');
}

/**
 * A path with credential-looking segments replaced (see credential-shape.ts), and any segment
 * that follows one named like a credential (`/token/<t>`). Matrix parameters (`;jsessionid=…`)
 * lose their values.
 */
export function redactPath(path: string): string {
  const segments = path.split('/');
  let previousNamesCredential = false;
  return segments
    .map((raw) => {
      const semicolon = raw.indexOf(';');
      const bare = semicolon === -1 ? raw : raw.slice(0, semicolon);
      const decoded = decodeLoosely(bare);
      const secret = (previousNamesCredential && decoded !== '') || looksLikeCredential(decoded);
      previousNamesCredential = namesACredential(decoded);
      const kept = secret ? REDACTED : bare;
      return semicolon === -1 ? kept : `${kept};${REDACTED}`;
    })
    .join('/');
}

/**
 * A request target (origin-form `/p?q` or absolute `http://h/p?q`) fit for logs and records:
 * path redacted, query redacted, fragment and userinfo dropped.
 */
export function redactUrl(target: string): string {
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(target);
  let prefix = '';
  let rest = target;
  if (scheme !== null) {
    const pathStart = target.slice(scheme[0].length).search(/[/?#]/);
    const authorityEnd = pathStart === -1 ? target.length : scheme[0].length + pathStart;
    const authority = target.slice(scheme[0].length, authorityEnd);
    prefix = `${scheme[0]}${authority.slice(authority.lastIndexOf('@') + 1)}`;
    rest = target.slice(authorityEnd);
  }
  const hash = rest.indexOf('#');
  if (hash !== -1) rest = rest.slice(0, hash);
  const q = rest.indexOf('?');
  if (q === -1) return `${prefix}${redactPath(rest)}`;
  return `${prefix}${redactPath(rest.slice(0, q))}?${redactQuery(rest.slice(q + 1))}`;
}

/** Free text (an anomaly or error detail) with credential-looking words replaced. */
export function redactText(text: string): string {
  return text.replace(/[^\s"'`<>()[\]{},]+/g, (word) =>
    word.includes('/') || word.includes('?') ? redactUrl(word) : looksLikeCredential(word) ? REDACTED : word,
  );
}

function decodeLoosely(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    // an undecodable part is judged as written
    return text;
  }
}
