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
import type { CaptureBudget } from './capture-budget.js';
import type {
  CompletedExchange,
  ExchangeFailure,
  ExchangePlan,
  ExchangePlanner,
  ExchangeSink,
  RequestHead,
  TunnelRecord,
  UpstreamHeaderRewrite,
  UpstreamHeadersHook,
} from './completed-exchange.js';
import { allowedRequestHeaders, allowedResponseHeaders } from './header-allowlist.js';
import { RequestEndGate } from './request-end-gate.js';
import {
  classifyUpstreamError,
  explainUpstreamFailure,
  isTlsFailure,
  rawFailureAnswer,
  upstreamFailureCode,
  upstreamFailureStatus,
} from './upstream-failure.js';
import { normalizeRelayedHead, unrelayableHead } from './upstream-head.js';

/** Where a request goes, decided by the listener (CONNECT authority or absolute-form URL). */
export interface UpstreamTarget {
  readonly connectionId: string;
  readonly scheme: 'http' | 'https';
  /** Host name or IP literal without brackets. */
  readonly hostname: string;
  readonly port: number;
  /** host:port as the client addressed it. */
  readonly authority: string;
  /**
   * Transparent capture: the IP the client's connection was really going to. The upstream
   * connection goes there, still verified against `hostname` (the SNI name), so a DNS answer
   * the proxy would get differently cannot redirect it.
   */
  readonly connectAddress?: string;
}

export interface ForwarderDeps {
  readonly httpsAgent: HttpsAgent;
  readonly httpAgent: HttpAgent;
  /** Upstream roots, parsed once; also used for upgrade requests, which bypass the agent. */
  readonly upstreamSecureContext: SecureContext;
  readonly planner: ExchangePlanner;
  readonly sink: ExchangeSink;
  /**
   * Upgraded connections (WebSocket and any other `Upgrade:` protocol): once switched, their
   * bytes are not HTTP and nothing inside is observed, so each is reported like a blind tunnel.
   */
  readonly onTunnel?: (record: TunnelRecord) => void;
  readonly metrics: ProxyMetrics;
  readonly logger: Logger;
  /**
   * How long a state-changing request whose body went upstream complete still waits for the
   * upstream's answer after its client left. The upstream may have acted on it: its answer
   * is what gets recorded.
   */
  readonly answerWaitMs: number;
  /** Caps the body bytes all captures in flight hold together; unlimited when absent. */
  readonly captureBudget?: CaptureBudget;
  /** The destination policy's lookup for sockets to `port` (net/destination-policy.ts). */
  readonly lookupFor: (port: number) => LookupFunction;
  /** A later stage's credentials for the upstream (see UpstreamHeadersHook). */
  readonly upstreamHeaders?: UpstreamHeadersHook;
}

const UPGRADE_ANSWER_TIMEOUT_MS = 30_000;

/** Requests that change state upstream: their answer is recorded even when their client left. */
const STATE_CHANGING_METHODS = new Set(['PUT', 'POST', 'PATCH', 'DELETE']);

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
  readonly httpVersion: string;
  readonly requestHeaders: IncomingMessage['headers'];
  /** The upstream request, from the moment http-proxy creates it. */
  upstream: ClientRequest | null;
  upstreamResponse: IncomingMessage | null;
  requestRelayed: boolean;
  /** The client's response is closed (finished or not). */
  clientClosed: boolean;
  clientLeft: boolean;
  /** Nothing more will come from the upstream side. */
  upstreamSettled: boolean;
  /** The proxy itself cut the upstream (nobody is left to read it): what follows is not the upstream's fault. */
  upstreamDropped: boolean;
  /** The plan's beforeRequestEnd refused: the request was answered 503 and cut. */
  refused: boolean;
  answerTimer: NodeJS.Timeout | null;
  completed: boolean;
  /** The upstream-headers hook wants to hear the upstream's status. */
  onAnswer: ((status: number) => void) | null;
}

/**
 * Streams one request to its upstream and the response back, through
 * http-proxy, while the taps hash and count both bodies. When both sides are
 * over (the client's response and the upstream exchange) it hands a
 * CompletedExchange to the sink; it never waits on it.
 *
 * The upstream exchange is the unit of record: a client that leaves after sending
 * a whole state-changing request does not end it, because the upstream may act on
 * that request; its answer is awaited (bounded by `answerWaitMs`) and recorded.
 */
export class ExchangeForwarder {
  readonly #deps: ForwarderDeps;
  readonly #proxy: httpProxy;
  readonly #inFlight = new WeakMap<IncomingMessage, InFlight>();
  readonly #upgrades = new WeakMap<IncomingMessage, UpgradeState>();
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
        // Counted beside http-proxy's pipes, which it sets up right after this listener, in the
        // same tick: no byte flows before both are attached. The heads it unshifts are counted too.
        upstreamSocket.on('data', (chunk: Buffer) => {
          upgrade.bytesFromUpstream += chunk.length;
        });
        upgrade.clientSocket?.on('data', (chunk: Buffer) => {
          upgrade.bytesFromClient += chunk.length;
        });
      });
      proxyReq.once('response', (proxyRes) => {
        upgrade.status = proxyRes.statusCode ?? null;
        // Upgrade refused: http-proxy pipes this answer's body to the client unhashed.
        proxyRes.on('data', (chunk: Buffer) => {
          upgrade.bytesFromUpstream += chunk.length;
        });
      });
    });
    // Emitted instead of the error callback when the client went away first.
    this.#proxy.on('econnreset', (_error, req) => {
      const state = this.#inFlight.get(req);
      if (state && !state.failure)
        state.failure = { code: 'client_aborted', message: 'the client closed the connection' };
    });
  }

  /** Exchanges not yet handed to the sink (a client's response or an upstream answer still open). */
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
    const exchangeId = `${target.connectionId}-${++this.#exchangeCounter}`;
    const plan = this.#plan(head);
    const requestTap = new BodyTap(
      plan.captureRequestBytes,
      plan.continueRequestHash,
      this.#deps.captureBudget,
    );
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
      exchangeId,
      httpVersion: req.httpVersion,
      requestHeaders: req.headers,
      upstream: null,
      upstreamResponse: null,
      requestRelayed: false,
      clientClosed: false,
      clientLeft: false,
      upstreamSettled: false,
      upstreamDropped: false,
      refused: false,
      answerTimer: null,
      completed: false,
      onAnswer: null,
    };
    this.#inFlight.set(req, state);
    this.#active++;
    req.once('aborted', () => {
      if (!state.failure)
        state.failure = { code: 'client_aborted', message: 'the client aborted the request' };
    });
    // Never left without a listener: a write racing a close must not become an uncaught error.
    res.on('error', () => res.destroy());
    res.once('close', () => this.#clientClosed(res, state));

    if (plan.refuse) {
      this.#refuse(plan.refuse, req, res, state);
      return;
    }
    const rewrite = this.#upstreamHeaders(head);
    if (rewrite === null) {
      this.#relay(req, res, state, plan);
      return;
    }
    // Nothing moves until the headers are known: the tap already listens, so hold the body.
    req.pause();
    rewrite.then(
      (headers) => {
        if (state.clientClosed || state.completed) return;
        for (const name of headers.remove) delete req.headers[name];
        for (const [name, value] of Object.entries(headers.set)) req.headers[name] = value;
        state.onAnswer = headers.onAnswer ?? null;
        this.#relay(req, res, state, plan);
      },
      (error: Error) => {
        state.failure = { code: 'upstream_credentials_unavailable', message: error.message };
        this.#deps.logger.warn(
          { authority: target.authority, target: redactUrl(originTarget), reason: error.message },
          'no upstream credentials for this request; answered 502',
        );
        req.resume();
        this.#answerItself(
          res,
          state,
          502,
          'upstream_credentials_unavailable',
          `provenance-proxy: ${error.message}\n`,
        );
      },
    );
  }

  #upstreamHeaders(head: RequestHead): Promise<UpstreamHeaderRewrite> | null {
    if (this.#deps.upstreamHeaders === undefined) return null;
    try {
      return this.#deps.upstreamHeaders(head);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  #relay(req: IncomingMessage, res: ServerResponse, state: InFlight, plan: ExchangePlan): void {
    const target = state.target;
    const gate = plan.beforeRequestEnd ? this.#gate(plan.beforeRequestEnd, req, res, state) : null;
    this.#proxy.web(
      req,
      res,
      {
        target: {
          protocol: `${target.scheme}:`,
          host: target.connectAddress ?? target.hostname,
          port: target.port,
        },
        agent: this.#agentFor(state),
        // Fresh object per request: http-proxy builds the outgoing options on top of it.
        // servername pins SNI and certificate verification to the host the client CONNECTed to,
        // whatever its Host header says.
        // lookup: every name is resolved through the destination policy (http-proxy merges `ssl`
        // into the outgoing request for both schemes).
        ssl: {
          lookup: this.#deps.lookupFor(target.port),
          ...(target.scheme === 'https' ? { servername: sniName(target.hostname) } : {}),
        },
        ...(gate === null ? {} : { buffer: gate }),
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
    const upgrade: UpgradeState = {
      status: null,
      upstream: null,
      clientSocket: socket,
      bytesFromClient: 0,
      bytesFromUpstream: 0,
    };
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
        requestRelayed: upgrade.status !== null,
        clientLeft: false,
      });
      this.#reportUpgradeTunnel(req, target, upgrade, startedAt, failure);
    });
    this.#proxy.ws(
      req,
      socket,
      upgradeHead,
      {
        target: {
          protocol: target.scheme === 'https' ? 'https:' : 'http:',
          host: target.connectAddress ?? target.hostname,
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

  /** Whatever crossed an upgraded connection (or a refused upgrade's answer) is unobserved egress. */
  #reportUpgradeTunnel(
    req: IncomingMessage,
    target: UpstreamTarget,
    upgrade: UpgradeState,
    startedAt: number,
    failure: ExchangeFailure | null,
  ): void {
    const { bytesFromClient, bytesFromUpstream } = upgrade;
    if (upgrade.status !== 101 && bytesFromClient === 0 && bytesFromUpstream === 0) return;
    this.#deps.metrics.bytes.inc({ direction: 'in', mode: 'upgrade' }, bytesFromClient);
    this.#deps.metrics.bytes.inc({ direction: 'out', mode: 'upgrade' }, bytesFromUpstream);
    const protocol = req.headers.upgrade;
    const record: TunnelRecord = {
      connectionId: target.connectionId,
      authority: target.authority,
      bytesFromClient,
      bytesFromUpstream,
      startedAt,
      finishedAt: Date.now(),
      failure,
      // Client-chosen text: kept short.
      upgrade: typeof protocol === 'string' ? protocol.slice(0, 64) : 'unknown',
    };
    try {
      this.#deps.onTunnel?.(record);
    } catch (error) {
      this.#deps.metrics.exchangeSinkErrors.inc();
      this.#deps.logger.error({ err: error }, 'a later stage failed to take an upgrade tunnel');
    }
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

  /**
   * A per-exchange view of the shared keep-alive agent that hands over the upstream request the
   * moment it exists: http-proxy exposes it only once a socket is assigned, and not at all for
   * requests carrying `Expect`. Pooling stays the shared agent's.
   */
  #agentFor(state: InFlight): HttpAgent | HttpsAgent {
    const shared = state.target.scheme === 'https' ? this.#deps.httpsAgent : this.#deps.httpAgent;
    const view = Object.create(shared) as HttpAgent & {
      addRequest(request: ClientRequest, options: unknown): void;
    };
    view.addRequest = (request: ClientRequest, options: unknown) => {
      this.#attachUpstream(state, request);
      (shared as unknown as { addRequest(r: ClientRequest, o: unknown): void }).addRequest(request, options);
    };
    return view;
  }

  #attachUpstream(state: InFlight, upstream: ClientRequest): void {
    state.upstream = upstream;
    // 'prefinish': end() was called and every byte handed to the connection. Not 'finish': on
    // TLS its callback can wait for the connection's next output, long after the upstream
    // has the whole request (and has answered).
    upstream.once('prefinish', () => {
      state.requestRelayed = true;
    });
    // http-proxy reports errors only while the client is there (and as 'econnreset' after);
    // an exchange kept for its answer needs to know how the upstream side ended.
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      if (state.clientClosed && !state.upstreamDropped) this.#upstreamFailed(state, error);
    });
    upstream.once('close', () => this.#settleUpstream(state));
  }

  /**
   * Holds the end of the request body until `open` (the plan's write-ahead step) resolves.
   * Refused: the client gets a 503 and the upstream, which never had the whole body, is cut.
   */
  #gate(
    open: NonNullable<ExchangePlan['beforeRequestEnd']>,
    req: IncomingMessage,
    res: ServerResponse,
    state: InFlight,
  ): RequestEndGate {
    const gate = new RequestEndGate(() => open(state.requestTap.snapshot(), state.exchangeId));
    gate.once('error', (error) => {
      state.refused = true;
      state.failure = { code: 'record_unavailable', message: error.message };
      this.#deps.logger.error(
        { err: error, authority: state.target.authority, target: redactUrl(state.head.target) },
        'the request could not be recorded before it completed; refused',
      );
      this.#dropUpstream(state);
      this.#answerItself(
        res,
        state,
        503,
        'record_unavailable',
        'provenance-proxy: this request could not be recorded, so it was not completed\n',
      );
    });
    req.pipe(gate);
    return gate;
  }

  /**
   * A plan's refusal: answered here before any upstream connection exists, so nothing of the
   * request leaves the proxy. The body the client may still send is read (hashed, discarded)
   * so the client reads the answer rather than a reset.
   */
  #refuse(
    refusal: NonNullable<ExchangePlan['refuse']>,
    req: IncomingMessage,
    res: ServerResponse,
    state: InFlight,
  ) {
    state.refused = true;
    state.failure = { code: refusal.code, message: refusal.reason };
    this.#deps.metrics.refusals.inc({ code: refusal.code });
    req.resume();
    // No `Connection: close`: closing would destroy the socket while the client is still sending
    // the body it has every right to send, and it would read a reset (EPIPE) instead of the 403.
    // Kept alive, Node reads the rest of the body (discarded) before the next request.
    this.#answerItself(res, state, refusal.status, refusal.code, refusal.body, refusal.contentType, {
      keepAlive: true,
    });
  }

  #onResponse(proxyRes: IncomingMessage, req: IncomingMessage, res: ServerResponse): void {
    const state = this.#inFlight.get(req);
    if (!state || state.completed) return;
    normalizeRelayedHead(proxyRes);
    const unrelayable = unrelayableHead(proxyRes);
    if (unrelayable) {
      // Answered here, http-proxy sees the response finished and never copies the head; if the
      // client already left it still copies one, and must find nothing in it to throw on.
      proxyRes.headers = {};
      proxyRes.statusCode = 502;
      proxyRes.on('error', () => {});
      proxyRes.destroy();
      this.#onUpstreamError(
        Object.assign(new Error(unrelayable), { code: 'HPE_INVALID_RESPONSE_HEAD' }),
        req,
        res,
        state,
      );
      return;
    }
    state.status = proxyRes.statusCode ?? null;
    if (state.onAnswer !== null && state.status !== null) {
      try {
        state.onAnswer(state.status);
      } catch (error) {
        this.#deps.logger.error({ err: error }, 'an upstream-headers answer callback failed');
      }
    }
    state.responseHeaders = allowedResponseHeaders(proxyRes.headers);
    state.upstreamResponse = proxyRes;
    const tap = new BodyTap(state.captureResponseBytes, null, this.#deps.captureBudget);
    tap.observe(proxyRes);
    state.responseTap = tap;
    proxyRes.once('aborted', () => this.#upstreamCutResponse(state, res));
    proxyRes.once('error', () => this.#upstreamCutResponse(state, res));
    proxyRes.once('end', () => this.#settleUpstream(state));
    proxyRes.once('close', () => this.#settleUpstream(state));
    if (state.clientClosed) {
      // Answered after the client left: http-proxy pipes into the closed response, which
      // would stall; read the answer to its end here instead, for the record.
      queueMicrotask(() => {
        proxyRes.unpipe(res);
        proxyRes.resume();
      });
    }
  }

  #upstreamCutResponse(state: InFlight, res: ServerResponse): void {
    if (state.responseTap && !state.upstreamDropped) {
      this.#noteFailure(state, {
        code: 'upstream_reset',
        message: 'the upstream closed the connection mid-response',
      });
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
    // Cut by the proxy itself (refused with a 503, or nobody left to read): not the upstream's doing.
    if (state.refused || state.upstreamDropped) {
      res.destroy();
      return;
    }
    if (req.destroyed && !req.complete && (error.code === 'ECONNRESET' || error.message === 'aborted')) {
      if (!state.failure)
        state.failure = { code: 'client_aborted', message: 'the client aborted the request' };
      res.destroy();
      return;
    }
    this.#upstreamFailed(state, error);
    const cause = classifyUpstreamError(error);
    this.#answerItself(
      res,
      state,
      upstreamFailureStatus(cause),
      upstreamFailureCode(cause),
      explainUpstreamFailure(cause, state.target.authority, error),
    );
  }

  /**
   * Answers in the proxy's own name, only on a response nobody started: once a response head
   * arrived, http-proxy is writing that response, and anything written now would go after
   * (or into) it. Such a response is cut instead.
   */
  #answerItself(
    res: ServerResponse,
    state: InFlight,
    status: number,
    code: string,
    body: string,
    contentType = 'text/plain; charset=utf-8',
    { keepAlive = false }: { keepAlive?: boolean } = {},
  ): void {
    if (state.responseTap !== null || state.clientClosed || res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    state.synthesized = true;
    state.status = status;
    res.writeHead(status, {
      'content-type': contentType,
      'content-length': Buffer.byteLength(body),
      'x-provenance-proxy-error': code,
      ...(keepAlive ? {} : { connection: 'close' }),
    });
    res.end(body);
  }

  /** Classifies, counts and logs an upstream failure, and records it on the exchange. */
  #upstreamFailed(state: InFlight, error: NodeJS.ErrnoException): void {
    const cause = classifyUpstreamError(error);
    if (state.failure?.code.startsWith('upstream_')) return;
    this.#noteFailure(state, { code: `upstream_${cause}`, message: error.message });
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
        clientLeft: state.clientLeft,
      },
      'upstream failed',
    );
  }

  /** An upstream failure says more about the outcome than the client's leaving: it wins. */
  #noteFailure(state: InFlight, failure: ExchangeFailure): void {
    if (state.failure === null || state.failure.code === 'client_aborted') state.failure = failure;
  }

  #clientClosed(res: ServerResponse, state: InFlight): void {
    state.clientClosed = true;
    // A response the proxy cut because the upstream failed is not the client leaving.
    if (!res.writableFinished && (state.failure === null || state.failure.code === 'client_aborted')) {
      state.clientLeft = true;
      state.failure ??= {
        code: 'client_aborted',
        message: 'the client closed the connection before the response ended',
      };
    }
    if (!state.upstreamSettled) {
      if (this.#awaitsAnswer(state)) this.#waitForAnswer(state);
      else this.#dropUpstream(state);
    }
    if (state.upstreamSettled) this.#complete(state);
  }

  /**
   * The client left before any answer, after sending a whole state-changing request: the
   * upstream may act on it, so its answer is what counts. Anything else is cut.
   */
  #awaitsAnswer(state: InFlight): boolean {
    return (
      !state.refused &&
      state.upstream !== null &&
      state.upstreamResponse === null &&
      state.requestTap.complete &&
      STATE_CHANGING_METHODS.has(state.head.method.toUpperCase())
    );
  }

  #waitForAnswer(state: InFlight): void {
    if (state.answerTimer !== null) return;
    this.#deps.logger.debug(
      { exchange: state.exchangeId, method: state.head.method, target: redactUrl(state.head.target) },
      'the client left after a whole request: awaiting the upstream answer for the record',
    );
    state.answerTimer = setTimeout(() => {
      this.#noteFailure(state, {
        code: 'upstream_no_answer',
        message: `the upstream did not answer within ${this.#deps.answerWaitMs} ms after the client left`,
      });
      this.#deps.metrics.upstreamErrors.inc({ cause: 'timeout' });
      this.#dropUpstream(state);
    }, this.#deps.answerWaitMs);
    state.answerTimer.unref();
  }

  /** Cuts the upstream side; what it does afterwards is the proxy's doing, not the upstream's. */
  #dropUpstream(state: InFlight): void {
    state.upstreamDropped = true;
    state.upstreamResponse?.destroy();
    state.upstream?.destroy();
    this.#settleUpstream(state);
  }

  /** The exchange completes once both sides are done: the client's response and the upstream. */
  #settleUpstream(state: InFlight): void {
    if (state.upstreamSettled) return;
    state.upstreamSettled = true;
    if (state.answerTimer !== null) clearTimeout(state.answerTimer);
    if (state.clientClosed) this.#complete(state);
  }

  #complete(state: InFlight): void {
    if (state.completed) return;
    state.completed = true;
    this.#active--;
    const finishedAt = Date.now();
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
      httpVersion: state.httpVersion,
      requestHeaders: allowedRequestHeaders(state.requestHeaders),
      status: state.status,
      responseHeaders: state.responseHeaders,
      request,
      response,
      startedAt: state.startedAt,
      finishedAt,
      failure: state.failure,
      synthesized: state.synthesized,
      requestRelayed: state.requestRelayed,
      clientLeft: state.clientLeft,
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

interface UpgradeState {
  status: number | null;
  upstream: ClientRequest | null;
  readonly clientSocket: Duplex | null;
  /** Bytes after the upgrade request's head, both ways (the switched protocol's, or a refusal's body). */
  bytesFromClient: number;
  bytesFromUpstream: number;
}

/**
 * SNI must be a host name. For IP literals it is '' (not undefined): undefined would let
 * Node's agent take SNI and the identity check from the client's Host header; '' sends no
 * SNI and checks the certificate's IP SAN against the address we connect to.
 */
function sniName(hostname: string): string {
  return isIP(hostname) !== 0 ? '' : hostname;
}
