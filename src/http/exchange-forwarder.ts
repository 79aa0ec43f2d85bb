import type { ClientRequest, Agent as HttpAgent, IncomingMessage, ServerResponse } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SecureContext } from 'node:tls';
import httpProxy from 'http-proxy';
import type { Logger } from 'pino';
import { redactUrl } from '../log/logger.js';
import { type ProxyMetrics, statusClass } from '../metrics/proxy-metrics.js';
import { BodyTap } from './body-tap.js';
import type {
  CompletedExchange,
  ExchangeFailure,
  ExchangePlanner,
  ExchangeSink,
  RequestHead,
} from './completed-exchange.js';
import { allowedRequestHeaders, allowedResponseHeaders } from './header-allowlist.js';
import {
  classifyUpstreamError,
  explainUpstreamFailure,
  isTlsFailure,
  rawFailureAnswer,
  upstreamFailureCode,
  upstreamFailureStatus,
} from './upstream-failure.js';

/** Where a request goes, decided by the listener (CONNECT authority or absolute-form URL). */
export interface UpstreamTarget {
  readonly connectionId: string;
  readonly scheme: 'http' | 'https';
  /** Host name or IP literal without brackets. */
  readonly hostname: string;
  readonly port: number;
  /** host:port as the client addressed it. */
  readonly authority: string;
}

export interface ForwarderDeps {
  readonly httpsAgent: HttpsAgent;
  readonly httpAgent: HttpAgent;
  /** Upstream roots, parsed once; also used for upgrade requests, which bypass the agent. */
  readonly upstreamSecureContext: SecureContext;
  readonly planner: ExchangePlanner;
  readonly sink: ExchangeSink;
  readonly metrics: ProxyMetrics;
  readonly logger: Logger;
  /** The destination policy's lookup for sockets to `port` (net/destination-policy.ts). */
  readonly lookupFor: (port: number) => LookupFunction;
}

const UPGRADE_ANSWER_TIMEOUT_MS = 30_000;

/** Headers meant for the proxy itself; never forwarded. */
const PROXY_HOP_HEADERS = ['proxy-authorization', 'proxy-connection', 'proxy-authenticate'];

interface InFlight {
  readonly target: UpstreamTarget;
  readonly head: RequestHead;
  readonly requestTap: BodyTap;
  responseTap: BodyTap | null;
  readonly captureResponseBytes: number;
  status: number | null;
  responseHeaders: Record<string, string | readonly string[]>;
  failure: ExchangeFailure | null;
  synthesized: boolean;
  readonly startedAt: number;
  readonly exchangeId: string;
}

/**
 * Streams one request to its upstream and the response back, through
 * http-proxy, while the taps hash and count both bodies. When the response is
 * over it hands a CompletedExchange to the sink; it never waits on it.
 */
export class ExchangeForwarder {
  readonly #deps: ForwarderDeps;
  readonly #proxy: httpProxy;
  readonly #inFlight = new WeakMap<IncomingMessage, InFlight>();
  readonly #upgrades = new WeakMap<
    IncomingMessage,
    { status: number | null; upstream: ClientRequest | null }
  >();
  #exchangeCounter = 0;
  #active = 0;
  #onIdle: (() => void) | null = null;

  constructor(deps: ForwarderDeps) {
    this.#deps = deps;
    this.#proxy = httpProxy.createProxyServer({ xfwd: false, secure: true, changeOrigin: false, ws: true });
    this.#proxy.on('proxyRes', (proxyRes, req, res) => this.#onResponse(proxyRes, req, res));
    this.#proxy.on('proxyReqWs', (proxyReq, req) => {
      const upgrade = this.#upgrades.get(req);
      if (!upgrade) return;
      upgrade.upstream = proxyReq;
      // The client socket is paused until the upstream answers, so its reset may go unseen:
      // an upstream that never answers the upgrade must not hold a socket forever.
      proxyReq.setTimeout(UPGRADE_ANSWER_TIMEOUT_MS, () => proxyReq.destroy());
      proxyReq.once('upgrade', (proxyRes, upstreamSocket) => {
        upgrade.status = proxyRes.statusCode ?? null;
        // Answered: from here the tunnel may idle as long as both ends like.
        upstreamSocket.setTimeout(0);
      });
      proxyReq.once('response', (proxyRes) => {
        upgrade.status = proxyRes.statusCode ?? null;
      });
    });
    // Emitted instead of the error callback when the client went away first.
    this.#proxy.on('econnreset', (_error, req) => {
      const state = this.#inFlight.get(req);
      if (state && !state.failure)
        state.failure = { code: 'client_aborted', message: 'the client closed the connection' };
    });
  }

  /** Exchanges whose response has not finished yet. */
  get activeExchanges(): number {
    return this.#active;
  }

  /** Resolves when no exchange is in flight. */
  idle(): Promise<void> {
    if (this.#active === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#onIdle = resolve;
    });
  }

  forward(req: IncomingMessage, res: ServerResponse, target: UpstreamTarget, originTarget: string): void {
    for (const name of PROXY_HOP_HEADERS) delete req.headers[name];
    req.url = originTarget;
    const head: RequestHead = {
      scheme: target.scheme,
      authority: target.authority,
      method: req.method ?? 'GET',
      target: originTarget,
      headers: req.headers,
    };
    const plan = this.#plan(head);
    const requestTap = new BodyTap(plan.captureRequestBytes, plan.continueRequestHash);
    requestTap.observe(req);
    const state: InFlight = {
      target,
      head,
      requestTap,
      responseTap: null,
      captureResponseBytes: plan.captureResponseBytes,
      status: null,
      responseHeaders: {},
      failure: null,
      synthesized: false,
      startedAt: Date.now(),
      exchangeId: `${target.connectionId}-${++this.#exchangeCounter}`,
    };
    this.#inFlight.set(req, state);
    this.#active++;
    req.once('aborted', () => {
      if (!state.failure)
        state.failure = { code: 'client_aborted', message: 'the client aborted the request' };
    });
    res.once('close', () => this.#complete(req, res, state));

    this.#proxy.web(
      req,
      res,
      {
        target: { protocol: `${target.scheme}:`, host: target.hostname, port: target.port },
        agent: target.scheme === 'https' ? this.#deps.httpsAgent : this.#deps.httpAgent,
        // Fresh object per request: http-proxy builds the outgoing options on top of it.
        // servername pins SNI and certificate verification to the host the client CONNECTed to,
        // whatever its Host header says.
        // lookup: every name is resolved through the destination policy (http-proxy merges `ssl`
        // into the outgoing request for both schemes).
        ssl: {
          lookup: this.#deps.lookupFor(target.port),
          ...(target.scheme === 'https' ? { servername: sniName(target.hostname) } : {}),
        },
      },
      (error) => this.#onUpstreamError(error as NodeJS.ErrnoException, req, res, state),
    );
  }

  /** WebSocket and other `Upgrade:` requests: relayed, recorded with their 101 (no body digests). */
  upgrade(
    req: IncomingMessage,
    socket: Duplex,
    upgradeHead: Buffer,
    target: UpstreamTarget,
    originTarget: string,
  ) {
    // Node drops its own error handler from upgraded sockets: a reset before the upstream
    // answers must not become an unhandled 'error' that ends the process.
    socket.on('error', () => socket.destroy());
    for (const name of PROXY_HOP_HEADERS) delete req.headers[name];
    req.url = originTarget;
    const startedAt = Date.now();
    const exchangeId = `${target.connectionId}-${++this.#exchangeCounter}`;
    const upgrade = { status: null as number | null, upstream: null as ClientRequest | null };
    this.#upgrades.set(req, upgrade);
    // A client gone before the upstream answered: the pending upstream request goes too.
    socket.once('close', () => upgrade.upstream?.destroy());
    let failure: ExchangeFailure | null = null;
    socket.once('close', () => {
      this.#emit({
        id: exchangeId,
        connectionId: target.connectionId,
        scheme: target.scheme,
        authority: target.authority,
        method: req.method ?? 'GET',
        target: originTarget,
        httpVersion: req.httpVersion,
        requestHeaders: allowedRequestHeaders(req.headers),
        status: upgrade.status,
        responseHeaders: {},
        request: new BodyTap(0).finish(),
        response: new BodyTap(0).finish(),
        startedAt,
        finishedAt: Date.now(),
        failure,
        synthesized: false,
      });
    });
    this.#proxy.ws(
      req,
      socket,
      upgradeHead,
      {
        target: {
          protocol: target.scheme === 'https' ? 'https:' : 'http:',
          host: target.hostname,
          port: target.port,
        },
        // http-proxy builds the outgoing options on top of `ssl` (fresh per request).
        ssl: {
          lookup: this.#deps.lookupFor(target.port),
          ...(target.scheme === 'https'
            ? { servername: sniName(target.hostname), secureContext: this.#deps.upstreamSecureContext }
            : {}),
        },
        secure: true,
      } as httpProxy.ServerOptions,
      (error: Error) => {
        const cause = classifyUpstreamError(error as NodeJS.ErrnoException);
        failure = { code: `upstream_${cause}`, message: error.message };
        this.#deps.metrics.upstreamErrors.inc({ cause });
        if (!socket.destroyed) {
          socket.end(rawFailureAnswer(cause, explainUpstreamFailure(cause, target.authority, error)));
        }
      },
    );
  }

  #plan(head: RequestHead) {
    try {
      return this.#deps.planner(head);
    } catch (error) {
      // A planner bug must not break the build's traffic; the exchange is still hashed.
      this.#deps.logger.error({ err: error, target: redactUrl(head.target) }, 'exchange planner failed');
      return { captureRequestBytes: 0, captureResponseBytes: 0, continueRequestHash: null };
    }
  }

  #onResponse(proxyRes: IncomingMessage, req: IncomingMessage, res: ServerResponse): void {
    const state = this.#inFlight.get(req);
    if (!state) return;
    state.status = proxyRes.statusCode ?? null;
    state.responseHeaders = allowedResponseHeaders(proxyRes.headers);
    const tap = new BodyTap(state.captureResponseBytes);
    tap.observe(proxyRes);
    state.responseTap = tap;
    proxyRes.once('aborted', () => this.#upstreamCutResponse(state, res));
    proxyRes.once('error', () => this.#upstreamCutResponse(state, res));
    // A client that leaves mid-response: http-proxy only unpipes, which would leave the
    // upstream socket open (and its registry blob half-read) until the registry times out.
    res.once('close', () => {
      if (!proxyRes.complete) proxyRes.destroy();
    });
  }

  #upstreamCutResponse(state: InFlight, res: ServerResponse): void {
    if (state.responseTap && !state.failure) {
      state.failure = { code: 'upstream_reset', message: 'the upstream closed the connection mid-response' };
      this.#deps.metrics.upstreamErrors.inc({ cause: 'reset' });
    }
    // The client must see a cut body as a cut connection, never as a complete short one.
    res.destroy();
  }

  #onUpstreamError(
    error: NodeJS.ErrnoException,
    req: IncomingMessage,
    res: ServerResponse,
    state: InFlight,
  ): void {
    if (req.destroyed && !req.complete && (error.code === 'ECONNRESET' || error.message === 'aborted')) {
      if (!state.failure)
        state.failure = { code: 'client_aborted', message: 'the client aborted the request' };
      res.destroy();
      return;
    }
    const cause = classifyUpstreamError(error);
    if (!state.failure) state.failure = { code: `upstream_${cause}`, message: error.message };
    this.#deps.metrics.upstreamErrors.inc({ cause });
    if (isTlsFailure(cause))
      this.#deps.metrics.tlsHandshakes.inc({ side: 'upstream', result: 'failed', cause });
    this.#deps.logger.warn(
      {
        authority: state.target.authority,
        method: state.head.method,
        target: redactUrl(state.head.target),
        cause,
        code: error.code,
      },
      'upstream failed',
    );
    if (!res.headersSent && !res.destroyed) {
      state.synthesized = true;
      state.status = upstreamFailureStatus(cause);
      const body = explainUpstreamFailure(cause, state.target.authority, error);
      res.writeHead(state.status, {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        'x-provenance-proxy-error': upstreamFailureCode(cause),
        connection: 'close',
      });
      res.end(body);
    } else {
      res.destroy();
    }
  }

  #complete(req: IncomingMessage, res: ServerResponse, state: InFlight): void {
    this.#inFlight.delete(req);
    this.#active--;
    const finishedAt = Date.now();
    if (!res.writableFinished && !state.failure) {
      state.failure = {
        code: 'client_aborted',
        message: 'the client closed the connection before the response ended',
      };
    }
    const request = state.requestTap.finish();
    const response = (state.responseTap ?? new BodyTap(0)).finish();
    const metrics = this.#deps.metrics;
    const mode = state.target.scheme === 'https' ? 'intercepted' : 'plain';
    metrics.requests.inc({ method: state.head.method, status_class: statusClass(state.status) });
    metrics.bytes.inc({ direction: 'in', mode }, request.size);
    metrics.bytes.inc({ direction: 'out', mode }, response.size);
    metrics.requestDuration.observe({ method: state.head.method }, (finishedAt - state.startedAt) / 1000);
    this.#emit({
      id: state.exchangeId,
      connectionId: state.target.connectionId,
      scheme: state.target.scheme,
      authority: state.target.authority,
      method: state.head.method,
      target: state.head.target,
      httpVersion: req.httpVersion,
      requestHeaders: allowedRequestHeaders(req.headers),
      status: state.status,
      responseHeaders: state.responseHeaders,
      request,
      response,
      startedAt: state.startedAt,
      finishedAt,
      failure: state.failure,
      synthesized: state.synthesized,
    });
    if (this.#active === 0 && this.#onIdle) {
      const resolve = this.#onIdle;
      this.#onIdle = null;
      resolve();
    }
  }

  #emit(exchange: CompletedExchange): void {
    try {
      this.#deps.sink(exchange);
    } catch (error) {
      this.#deps.metrics.exchangeSinkErrors.inc();
      this.#deps.logger.error(
        { err: error, exchange: exchange.id },
        'a later stage failed to take an exchange',
      );
    }
  }
}

/**
 * SNI must be a host name. For IP literals it is '' (not undefined): undefined would let
 * Node's agent take SNI and the identity check from the client's Host header; '' sends no
 * SNI and checks the certificate's IP SAN against the address we connect to.
 */
function sniName(hostname: string): string {
  return isIP(hostname) !== 0 ? '' : hostname;
}
