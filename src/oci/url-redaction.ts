/**
 * URLs as they may be recorded: scheme, host, path and query, redacted by the one function logs
 * use too (log/redact-url.ts): query values not allow-listed are replaced, credential-looking
 * path segments as well. Pre-signed storage URLs carry their signature in the query; tokens
 * sometimes travel as `?access_token=` or as a path segment.
 */

import { redactPath, redactQuery } from '../log/redact-url.js';

/** `scheme://host[:port]/path?query` with secrets replaced and userinfo/fragment dropped. */
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
  url.pathname = redactPath(url.pathname);
  if (url.search.length > 1) url.search = `?${redactQuery(url.search.slice(1))}`;
  return url.toString();
}
