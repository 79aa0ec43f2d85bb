import type { Hash } from 'node:crypto';

/**
 * What the hot path hands to the next stages once an exchange is over.
 *
 * It is a copy: later stages may keep it, nothing here points back into live
 * sockets. Headers are allow-listed (see header-allowlist.ts) so secrets never
 * travel further than the forwarding code.
 */
export interface CompletedExchange {
  /** Process-unique, monotonic (`<connection>-<n>`). */
  readonly id: string;
  readonly connectionId: string;
  /** `https` when the proxy terminated TLS for this exchange, `http` for absolute-form plain requests. */
  readonly scheme: 'http' | 'https';
  /** host:port exactly as the client addressed it (CONNECT authority, or absolute URL). Port always present. */
  readonly authority: string;
  readonly method: string;
  /** The request target in origin form: path plus query, exactly as sent (`/v2/x/blobs/uploads/u?_state=…`). */
  readonly target: string;
  readonly httpVersion: string;
  readonly requestHeaders: Readonly<Record<string, string | readonly string[]>>;
  /** Final status sent upstream → client, or null when no response head was received. */
  readonly status: number | null;
  readonly responseHeaders: Readonly<Record<string, string | readonly string[]>>;
  readonly request: BodyRecord;
  readonly response: BodyRecord;
  /** Epoch milliseconds. */
  readonly startedAt: number;
  readonly finishedAt: number;
  /** Set when the exchange did not complete normally (client abort, upstream reset, TLS failure...). */
  readonly failure: ExchangeFailure | null;
  /** true when the proxy itself produced the response (e.g. a 502), not the upstream. */
  readonly synthesized: boolean;
  /**
   * The whole request, body included, was handed to the upstream connection: from then on the
   * upstream may have acted on it, whether or not it answered.
   */
  readonly requestRelayed: boolean;
  /**
   * The client went away before its response was over. For a state-changing request whose
   * body was complete, the proxy kept the upstream exchange going: `status` and the response
   * headers are then what the upstream answered after the client left (null if it never did).
   */
  readonly clientLeft: boolean;
}

export interface BodyRecord {
  /** Bytes that actually passed through the proxy (after transfer-decoding). */
  readonly size: number;
  /** `sha256:<hex>` of exactly those bytes. */
  readonly sha256: string;
  /** Whether the body reached its end (false when the stream was cut). */
  readonly complete: boolean;
  /** The bytes themselves, only when the plan asked for them and they fit the limit. */
  readonly captured: Buffer | null;
  /** The body was longer than the capture limit, so `captured` is null although capture was asked for. */
  readonly captureOverflow: boolean;
  /**
   * Capture was asked for but the global budget of captured bytes in flight was spent
   * (`--max-capture-bytes-total`): the body was relayed and hashed, not kept.
   */
  readonly captureBudgetExceeded?: boolean;
  /**
   * The running hash *continued* from `ExchangePlan.continueRequestHash`, not yet digested.
   * Present only when the plan asked for continuation. Callers must `.copy()` before digesting.
   */
  readonly continuedHash: Hash | null;
}

export interface ExchangeFailure {
  /** Stable code, e.g. `client_aborted`, `upstream_reset`, `upstream_tls_untrusted`. */
  readonly code: string;
  readonly message: string;
}

/** What is known when a request head arrives: enough for a later stage to plan capture and hashing. */
export interface RequestHead {
  readonly scheme: 'http' | 'https';
  readonly authority: string;
  readonly method: string;
  readonly target: string;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
}

/**
 * Decided once per request, before any body byte moves. The hot path does only
 * what the plan says: it never parses bodies itself.
 */
export interface ExchangePlan {
  /** Keep up to this many request-body bytes in `request.captured` (0: keep none). */
  readonly captureRequestBytes: number;
  /** Keep up to this many response-body bytes in `response.captured` (0: keep none). */
  readonly captureResponseBytes: number;
  /**
   * Continue a running hash with the request body (an upload session's bytes so far):
   * a Hash state is copied and fed the body; `'fresh'` means "start from nothing", which
   * costs no second hash because the body's own hash state is handed back. The result
   * is returned, undigested, as `request.continuedHash`. null: no continuation.
   */
  readonly continueRequestHash: Hash | 'fresh' | null;
  /**
   * Called once the request body has fully arrived, before its last bytes go upstream: the
   * upstream sees the end of the body only after the promise resolves (a later stage makes a
   * write-ahead record of what is about to happen). A rejection refuses the request (503)
   * and the upstream never gets the whole body. The hot path does not know why it waits.
   */
  readonly beforeRequestEnd?: (request: BodyRecord, exchangeId: string) => Promise<void>;
  /**
   * Answer the request in the proxy's name and never contact the upstream: no byte of it goes
   * out. A later stage's policy decides; the hot path does not know why. The exchange is
   * recorded as synthesized, with `failure.code` set to the refusal's code.
   */
  readonly refuse?: Refusal;
}

/** A response the proxy gives instead of forwarding. */
export interface Refusal {
  readonly status: number;
  /** Stable code: the exchange's `failure.code` and the `x-provenance-proxy-error` header. */
  readonly code: string;
  readonly contentType: string;
  readonly body: string;
  /** Said in the exchange's failure (logs, journal): must hold no secret. */
  readonly reason: string;
}

export const NO_PLAN: ExchangePlan = Object.freeze({
  captureRequestBytes: 0,
  captureResponseBytes: 0,
  continueRequestHash: null,
});

/**
 * Headers to present upstream in place of the client's (a later stage's own credentials).
 * `remove` is applied first, then `set`. Values never reach records: they are not allow-listed.
 */
export interface UpstreamHeaderRewrite {
  readonly remove: readonly string[];
  readonly set: Readonly<Record<string, string>>;
  /** Told the upstream's status once its answer arrives (e.g. a 401: the credential went stale). */
  readonly onAnswer?: (status: number) => void;
}

/**
 * Asked once per request, before the upstream is contacted. null (synchronously): forward as
 * the client sent it, at no cost. A promise: the request waits (its body paused) until it
 * settles; a rejection answers 502 with the error's message, which must hold no secret.
 */
export type UpstreamHeadersHook = (head: RequestHead) => Promise<UpstreamHeaderRewrite> | null;

/** The hook later stages give the hot path. Must be synchronous and cheap. */
export type ExchangePlanner = (head: RequestHead) => ExchangePlan;

/** Receives completed exchanges, synchronously, in completion order. Must not throw or block. */
export type ExchangeSink = (exchange: CompletedExchange) => void;

/** A CONNECT the proxy relayed without terminating TLS (a `--tunnel` host). */
export interface TunnelRecord {
  readonly connectionId: string;
  readonly authority: string;
  readonly bytesFromClient: number;
  readonly bytesFromUpstream: number;
  readonly startedAt: number;
  readonly finishedAt: number;
  readonly failure: ExchangeFailure | null;
  /**
   * Set when the "tunnel" is an upgraded HTTP connection (the `Upgrade:` protocol asked for,
   * e.g. `websocket`) rather than a CONNECT: both carry bytes the proxy does not observe.
   */
  readonly upgrade?: string;
}

export type EgressPolicyMode = 'open' | 'audit' | 'enforce';

/**
 * How an attempt reached the proxy: an absolute-form request or a CONNECT on the proxy port,
 * or a connection netfilter redirected, judged by its TLS SNI, its HTTP Host, or (neither) its
 * original destination address.
 */
export type EgressCapture =
  | 'explicit'
  | 'connect'
  | 'transparent-tls'
  | 'transparent-http'
  | 'transparent-blind';

/**
 * One attempt the egress policy (net/egress-policy.ts) flagged or refused, handed to the later
 * stages: journaled as `egress.policy`, counted, listed in the statement.
 */
export interface EgressAttempt {
  readonly at: number;
  readonly hostname: string;
  readonly port: number;
  readonly capturedBy: EgressCapture;
  readonly verdict: 'flag' | 'refuse';
  readonly rule: string;
}
