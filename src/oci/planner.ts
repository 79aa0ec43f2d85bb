import type { ExchangePlan, ExchangePlanner, RequestHead } from '../http/completed-exchange.js';
import { type InterpreterState, referenceValue } from './interpreter.js';
import type { InterpreterOptions } from './interpreter-options.js';
import { normaliseContentType } from './manifest.js';
import type { PushAttemptRecorder } from './push-attempts.js';
import { type PushPolicy, pushRefusal } from './push-policy.js';
import { findRedirect } from './redirects.js';
import { parseRequestTarget, type RequestTarget } from './route.js';
import { isTokenCandidate, TOKEN_RESPONSE_CAPTURE_LIMIT } from './token-realms.js';
import { hashSeedFor, sessionKey } from './upload-sessions.js';

/**
 * Decides, at a request head, what the hot path must keep of its bodies: manifest bodies are
 * captured (up to the limit), and upload-session bodies continue the session's committed hash.
 * With a recorder, a manifest PUT's end is held until its attempt is durable (push-attempts.ts).
 * With a push policy, a write to a repository it does not allow is refused outright (push-policy.ts).
 * Synchronous and cheap: one route classification and one map lookup.
 */
export function planExchange(
  state: InterpreterState,
  head: RequestHead,
  options: InterpreterOptions,
  recordAttempt: PushAttemptRecorder | null = null,
  pushPolicy: PushPolicy | null = null,
): ExchangePlan {
  const target = parseRequestTarget(head.method, head.target);
  const { method, route } = target;
  const refuse = pushRefusal(pushPolicy, head.authority.toLowerCase(), method, route);
  if (refuse !== null) return { ...NO_PLAN, refuse };
  switch (route.kind) {
    case 'manifest-put': {
      const plan = capture(options.manifestCaptureLimit, 0);
      if (recordAttempt === null) return plan;
      const registry = head.authority.toLowerCase();
      const reference = referenceValue(route.reference);
      return {
        ...plan,
        beforeRequestEnd: (body, exchangeId) =>
          recordAttempt({
            exchangeId,
            registry,
            repository: route.name,
            reference,
            digest: body.sha256,
            size: body.size,
          }),
      };
    }
    case 'manifest-read':
      return method === 'GET' ? capture(0, options.manifestCaptureLimit) : NO_PLAN;
    case 'upload-monolithic':
      return FRESH;
    case 'upload-chunk':
    case 'upload-commit': {
      const seed = hashSeedFor(state.sessions.get(sessionKey(head.authority, route.uuid)));
      return seed === null
        ? NO_PLAN
        : { captureRequestBytes: 0, captureResponseBytes: 0, continueRequestHash: seed };
    }
    case 'not-oci':
      if (followsManifestRedirect(state, head.authority, target))
        return capture(0, options.manifestCaptureLimit);
      return tokenCandidate(state, head, target) ? TOKEN_ANSWER : NO_PLAN;
    case 'invalid':
      return tokenCandidate(state, head, target) ? TOKEN_ANSWER : NO_PLAN;
    default:
      return NO_PLAN;
  }
}

export function createOciPlanner(
  currentState: () => InterpreterState,
  options: InterpreterOptions,
  recordAttempt: PushAttemptRecorder | null = null,
  pushPolicy: PushPolicy | null = null,
): ExchangePlanner {
  return (head) => planExchange(currentState(), head, options, recordAttempt, pushPolicy);
}

/** Same as the contract's NO_PLAN; declared here because this stage imports only types from the hot path. */
const NO_PLAN: ExchangePlan = Object.freeze({
  captureRequestBytes: 0,
  captureResponseBytes: 0,
  continueRequestHash: null,
});
const FRESH: ExchangePlan = Object.freeze({
  captureRequestBytes: 0,
  captureResponseBytes: 0,
  continueRequestHash: 'fresh',
});

/** A token candidate's answer is kept (small) so the interpreter can tell a token from a download. */
const TOKEN_ANSWER: ExchangePlan = Object.freeze({
  captureRequestBytes: 0,
  captureResponseBytes: TOKEN_RESPONSE_CAPTURE_LIMIT,
  continueRequestHash: null,
});

function tokenCandidate(state: InterpreterState, head: RequestHead, target: RequestTarget): boolean {
  const contentType = normaliseContentType(head.headers['content-type']);
  return isTokenCandidate(state.tokenRealms, head.authority, target, contentType);
}

function capture(requestBytes: number, responseBytes: number): ExchangePlan {
  return {
    captureRequestBytes: requestBytes,
    captureResponseBytes: responseBytes,
    continueRequestHash: null,
  };
}

/** A manifest whose registry redirected the read: its body arrives from storage and must be parsed too. */
function followsManifestRedirect(state: InterpreterState, authority: string, target: RequestTarget): boolean {
  if (state.redirects.length === 0 || target.method !== 'GET' || target.pathname === null) return false;
  const index = findRedirect(state.redirects, authority, target.method, target.pathname);
  return index !== -1 && state.redirects[index]!.purpose === 'manifest-read';
}
