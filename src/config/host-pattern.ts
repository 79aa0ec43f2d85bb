import { InvalidOptionError } from '../errors.js';

/**
 * A host pattern from `--intercept` / `--tunnel`: `*`, `example.com`,
 * `*.example.com` (subdomains only), optionally with `:port`.
 * Compiled once at start-up; matching is a few string comparisons.
 */
export interface HostPattern {
  readonly source: string;
  matches(host: string, port: number): boolean;
}

const LABELS = /^(\*\.)?([a-z0-9_-]+(\.[a-z0-9_-]+)*|\[[0-9a-f:.]+\]|\d{1,3}(\.\d{1,3}){3})$/;

export function parseHostPattern(option: string, source: string): HostPattern {
  const text = source.trim().toLowerCase();
  if (text === '*') return { source, matches: () => true };
  const portMatch = /^(.*):(\d{1,5})$/.exec(text);
  const hostPart = portMatch && !text.endsWith(']') ? portMatch[1]! : text;
  const port = portMatch && !text.endsWith(']') ? Number(portMatch[2]) : null;
  if (port !== null && (port < 1 || port > 65535)) {
    throw new InvalidOptionError(option, `port in "${source}" must be 1-65535`);
  }
  if (!LABELS.test(hostPart)) {
    throw new InvalidOptionError(
      option,
      `"${source}" must be *, a host name, *.domain, or an IP, optionally with :port`,
    );
  }
  const portMatches = (p: number) => port === null || port === p;
  if (hostPart.startsWith('*.')) {
    const suffix = hostPart.slice(1);
    return { source, matches: (host, p) => host.toLowerCase().endsWith(suffix) && portMatches(p) };
  }
  const bare = hostPart.replace(/^\[|\]$/g, '');
  return { source, matches: (host, p) => host.toLowerCase() === bare && portMatches(p) };
}

export function matchesAny(patterns: readonly HostPattern[], host: string, port: number): boolean {
  for (const pattern of patterns) if (pattern.matches(host, port)) return true;
  return false;
}
