import type { CompletedExchange } from '../http/completed-exchange.js';
import { redactText } from '../log/redact-url.js';
import { tryParseDigest } from './digest.js';
import type { MismatchContext, MismatchSource, OciAnomalyEvent, OciEvent, ReferenceValue } from './events.js';
import { headerValue } from './headers.js';
import type { InterpreterOptions } from './interpreter-options.js';
import type { InterpreterState } from './interpreter-state.js';
import { type PendingRedirect, withRedirect } from './redirects.js';
import { type ManifestReference, registryKey } from './reference.js';
import type { RequestTarget } from './route.js';
import { authorityOf, resolveUrl } from './upload-sessions.js';

/**
 * One exchange's worth of interpretation, shared by the sections (reads, uploads, artifacts,
 * other traffic): the exchange and its target parsed once, the state as it advances, and the
 * events it makes.
 */
export class ExchangeContext {
  state: InterpreterState;
  readonly events: OciEvent[] = [];
  readonly exchange: CompletedExchange;
  readonly target: RequestTarget;
  readonly options: InterpreterOptions;
  /** The upstream's status (0 when there was none). */
  readonly status: number;
  /** The registry's identity: the authority the client addressed. */
  readonly registry: string;

  constructor(
    state: InterpreterState,
    exchange: CompletedExchange,
    target: RequestTarget,
    options: InterpreterOptions,
  ) {
    this.state = state;
    this.exchange = exchange;
    this.target = target;
    this.options = options;
    this.status = exchange.status ?? 0;
    this.registry = registryKey(exchange.authority);
  }

  responseHeader(name: string): string | null {
    return headerValue(this.exchange.responseHeaders, name);
  }

  /** A digest-valued response header, when it holds a digest. */
  digestHeader(name: string): string | null {
    return tryParseDigest(this.responseHeader(name))?.value ?? null;
  }

  emit(event: DistributiveOmit<OciEvent, 'exchangeId' | 'at'>): void {
    // The spread cannot show the compiler that exchangeId and at complete each member of the union.
    this.events.push({ ...event, exchangeId: this.exchange.id, at: this.exchange.finishedAt } as OciEvent);
  }

  mismatch(
    registry: string,
    repository: string,
    context: MismatchContext,
    source: MismatchSource,
    expected: string,
    observed: string,
  ): void {
    this.emit({ type: 'digestMismatch', registry, repository, context, source, expected, observed });
  }

  anomaly(code: OciAnomalyEvent['code'], repository: string | null, detail: string): void {
    // Details quote what the build sent (names, paths): the same redaction as URLs.
    this.emit({ type: 'ociAnomaly', code, registry: this.registry, repository, detail: redactText(detail) });
  }

  /** Remembers where this response's Location sends the client, carrying what was asked for. */
  rememberRedirect(what: RedirectedRead, hops: number): void {
    const location = this.responseHeader('location');
    if (location === null) return;
    const url = resolveUrl(location, this.exchange);
    if (url === null || (url.protocol !== 'https:' && url.protocol !== 'http:')) return;
    const redirect: PendingRedirect = {
      purpose: what.purpose,
      registry: what.registry,
      repository: what.repository,
      digest: what.digest,
      reference: what.reference,
      authority: authorityOf(url),
      path: url.pathname,
      method: this.target.method === 'HEAD' ? 'HEAD' : 'GET',
      hops,
      at: this.exchange.finishedAt,
    };
    this.state = {
      ...this.state,
      redirects: withRedirect(this.state.redirects, redirect, this.options.maxPendingRedirects),
    };
  }
}

export type RedirectedRead = Pick<
  PendingRedirect,
  'purpose' | 'registry' | 'repository' | 'digest' | 'reference'
>;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export function referenceValue(reference: ManifestReference): ReferenceValue {
  return reference.kind === 'tag'
    ? { kind: 'tag', tag: reference.tag }
    : { kind: 'digest', digest: reference.digest.value };
}

export function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

export function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}
