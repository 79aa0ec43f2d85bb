/**
 * Does `actual` carry everything `expected` sets, with nothing added where it matters?
 *
 * The API server fills in defaults before a webhook sees a pod (probe timeouts, port
 * protocols, terminationMessagePath…), so a re-admitted injected container is a superset
 * of what was injected. Objects may gain keys, except under STRICT keys, where an extra key
 * would change what runs (an added capability, an extra environment variable); lists must
 * keep their length. Returns null on a match, else the path that differs.
 */
const STRICT = new Set(['securityContext', 'args', 'command', 'env', 'volumeMounts', 'secret', 'emptyDir']);

export function matchesInjected(
  expected: unknown,
  actual: unknown,
  path = '',
  strict = false,
): string | null {
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return path || '(root)';
    for (const [i, item] of expected.entries()) {
      const why = matchesInjected(item, actual[i], `${path}[${i}]`, strict);
      if (why !== null) return why;
    }
    return null;
  }
  if (typeof expected === 'object' && expected !== null) {
    if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) return path || '(root)';
    const have = actual as Record<string, unknown>;
    const want = expected as Record<string, unknown>;
    if (strict) {
      const extra = Object.keys(have).find((k) => !(k in want));
      if (extra !== undefined) return `${path}.${extra}`;
    }
    for (const [key, value] of Object.entries(want)) {
      const why = matchesInjected(value, have[key], `${path}.${key}`, strict || STRICT.has(key));
      if (why !== null) return why;
    }
    return null;
  }
  return Object.is(expected, actual) ? null : path || '(root)';
}
