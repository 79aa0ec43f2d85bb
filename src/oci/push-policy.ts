import type { PushRule } from '../config/push-rule.js';
import type { Refusal } from '../http/completed-exchange.js';
import type { OciRoute } from './route.js';

/** `failure.code` of an exchange the push policy refused; the interpreter turns it into a pushRefused event. */
export const PUSH_DENIED_CODE = 'push_denied';

/**
 * `--push-allow`: which repositories the build may change. With no rule every push is allowed
 * (the proxy only observes); with rules, a state-changing registry request to any other
 * repository is answered 403 by the proxy and never reaches the registry. Pure.
 */
export interface PushPolicy {
  readonly rules: readonly PushRule[];
}

/** Routes that change what a registry holds. Reads, pings and listings never do. */
const STATE_CHANGING_ROUTES = new Set<OciRoute['kind']>([
  'manifest-put',
  'manifest-delete',
  'blob-delete',
  'upload-start',
  'upload-monolithic',
  'upload-mount',
  'upload-chunk',
  'upload-commit',
  'upload-cancel',
]);
const STATE_CHANGING_METHODS = new Set(['PUT', 'POST', 'PATCH', 'DELETE']);

/** The refusal for this request, or null when it may go upstream. */
export function pushRefusal(
  policy: PushPolicy | null,
  authority: string,
  method: string,
  route: OciRoute,
): Refusal | null {
  if (policy === null || policy.rules.length === 0) return null;
  if (route.kind === 'invalid') {
    // Fail closed: a write the proxy cannot read a repository from (an odd path a registry might
    // still normalise into some repository) is not let through a policy that names repositories.
    if (!STATE_CHANGING_METHODS.has(method)) return null;
    return deny(authority, null, policy, 'the request names no repository the proxy can check');
  }
  if (!STATE_CHANGING_ROUTES.has(route.kind) || !('name' in route)) return null;
  for (const rule of policy.rules) if (rule.allows(authority, route.name)) return null;
  return deny(authority, route.name, policy, 'no --push-allow rule matches it');
}

function deny(authority: string, repository: string | null, policy: PushPolicy, why: string): Refusal {
  const target = repository === null ? authority : `${authority}/${repository}`;
  const rules = policy.rules.map((rule) => rule.source).join(', ');
  const message = `provenance-proxy refused this push to ${target}: ${why} (allowed: ${rules})`;
  return {
    status: 403,
    code: PUSH_DENIED_CODE,
    contentType: 'application/json',
    body: JSON.stringify({
      errors: [{ code: 'DENIED', message, detail: { allowed: policy.rules.map((r) => r.source) } }],
    }),
    reason: message,
  };
}
