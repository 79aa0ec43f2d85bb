/**
 * URLs as they may be recorded: scheme, host, path and query, with the values of
 * credential-like query parameters replaced. Pre-signed storage URLs carry their
 * signature in the query; tokens sometimes travel as `?access_token=`.
 */

import { redactQuery } from '../log/redact-url.js';

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
  if (url.search.length > 1) url.search = `?${redactQuery(url.search.slice(1))}`;
  return url.toString();
}
