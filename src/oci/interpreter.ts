import type { CompletedExchange } from '../http/completed-exchange.js';
import type { OciEvent } from './events.js';
import { deleteBlob, deleteManifest, pushManifest, pushOutcomeUnknown } from './interpreter-artifacts.js';
import { ExchangeContext } from './interpreter-context.js';
import { DEFAULT_INTERPRETER_OPTIONS, type InterpreterOptions } from './interpreter-options.js';
import { interpretOtherTraffic, noteChallenge } from './interpreter-other-traffic.js';
import { followRedirect, readBlob, readManifest } from './interpreter-reads.js';
import type { InterpreterState } from './interpreter-state.js';
import { interpretUpload } from './interpreter-uploads.js';
import { PUSH_DENIED_CODE } from './push-policy.js';
import { pruneRedirects } from './redirects.js';
import { type OciRoute, parseRequestTarget, type RequestTarget } from './route.js';
import { pruneSessions } from './upload-sessions.js';

export { referenceValue } from './interpreter-context.js';
export { INITIAL_INTERPRETER_STATE, type InterpreterState } from './interpreter-state.js';

/**
 * The OCI interpreter: `interpret(state, exchange) → { state, events }`, pure.
 *
 * It reads only the CompletedExchange and its own state, performs no I/O and never reads
 * the clock (time comes from the exchange). The request target is parsed once (route.ts); each
 * route goes to its section: reads (interpreter-reads.ts), uploads (interpreter-uploads.ts),
 * artifacts (interpreter-artifacts.ts), everything that is no OCI endpoint
 * (interpreter-other-traffic.ts).
 */
export interface Interpretation {
  readonly state: InterpreterState;
  readonly events: readonly OciEvent[];
}

export function interpret(
  state: InterpreterState,
  exchange: CompletedExchange,
  options: InterpreterOptions = DEFAULT_INTERPRETER_OPTIONS,
): Interpretation {
  const target = parseRequestTarget(exchange.method, exchange.target);
  const { route } = target;
  // A response the proxy made up (a 502 for an unreachable upstream) acknowledges nothing; but
  // a manifest that went upstream whole may be stored all the same: that is said, not dropped.
  if (exchange.synthesized && exchange.failure?.code === PUSH_DENIED_CODE)
    return { state, events: [pushRefused(exchange, target)] };
  if (exchange.synthesized || exchange.status === null) {
    if (route.kind !== 'manifest-put' || !exchange.requestRelayed || !exchange.request.complete)
      return { state, events: [] };
    const unanswered = new ExchangeContext(state, exchange, target, options);
    pushOutcomeUnknown(unanswered, route.name, route.reference);
    return { state, events: unanswered.events };
  }
  const ctx = new ExchangeContext(pruned(state, exchange.finishedAt, options), exchange, target, options);
  noteChallenge(ctx);
  if (!followRedirect(ctx)) dispatch(ctx, route);
  return { state: ctx.state, events: ctx.events };
}

function dispatch(ctx: ExchangeContext, route: OciRoute): void {
  switch (route.kind) {
    case 'ping':
    case 'tags-list':
    case 'referrers':
      // Listings and the ping are read, not recorded: they move no artifact.
      break;
    case 'blob-read':
      readBlob(ctx, route.name, route.digest);
      break;
    case 'manifest-read':
      readManifest(ctx, route.name, route.reference);
      break;
    case 'upload-start':
    case 'upload-mount':
    case 'upload-monolithic':
    case 'upload-chunk':
    case 'upload-commit':
    case 'upload-status':
    case 'upload-cancel':
      interpretUpload(ctx, route);
      break;
    case 'manifest-put':
      pushManifest(ctx, route.name, route.reference);
      break;
    case 'manifest-delete':
      deleteManifest(ctx, route.name, route.reference);
      break;
    case 'blob-delete':
      deleteBlob(ctx, route.name, route.digest);
      break;
    case 'invalid':
    case 'not-oci':
      interpretOtherTraffic(ctx, route);
      break;
  }
}

/** The planner refused this write (push-policy.ts); the registry never saw it. */
function pushRefused(exchange: CompletedExchange, target: RequestTarget): OciEvent {
  const { route } = target;
  return {
    type: 'pushRefused',
    exchangeId: exchange.id,
    at: exchange.finishedAt,
    registry: exchange.authority.toLowerCase(),
    repository: 'name' in route ? route.name : null,
    method: target.method,
    route: route.kind,
    reason: exchange.failure?.message ?? '',
  };
}

function pruned(state: InterpreterState, now: number, options: InterpreterOptions): InterpreterState {
  const sessions = pruneSessions(state.sessions, now, options.sessionIdleMs, options.maxSessions);
  const redirects = pruneRedirects(state.redirects, now, options.redirectTtlMs);
  if (sessions === state.sessions && redirects === state.redirects) return state;
  return { ...state, sessions, redirects };
}
