import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { type HostPattern, matchesAny } from '../config/host-pattern.js';
import type { TunnelRecord } from '../http/completed-exchange.js';
import type { ExchangeForwarder, UpstreamTarget } from '../http/exchange-forwarder.js';
import { rawAnswer, TUNNEL_ESTABLISHED } from '../http/raw-answer.js';
import type { ProxyMetrics } from '../metrics/proxy-metrics.js';
import { clientHelloServerName } from '../tls/client-hello-sni.js';
import type { LeafCache } from '../tls/leaf-cache.js';
import { relayBlindTunnel } from './blind-tunnel.js';
import {
  type DestinationPolicy,
  type DestinationRefusal,
  refusalAnswer,
  refusalBody,
} from './destination-policy.js';
import type { EgressPolicy } from './egress-policy.js';
import { listenOn } from './listen.js';
import type { OriginalDestination } from './original-destination.js';
import { interceptTls } from './tls-interceptor.js';

export interface ProxyListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly intercept: readonly HostPattern[];
  readonly tunnel: readonly HostPattern[];
  readonly headersTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly forwarder: ExchangeForwarder;
  readonly leaves: LeafCache;
  readonly metrics: ProxyMetrics;
  readonly logger: Logger;
  readonly onTunnel: (record: TunnelRecord) => void;
  /** Decides on every destination before any byte goes upstream (both capture paths). */
  readonly egressPolicy: EgressPolicy;
  /** Open client connections allowed at once (plain, intercepted and blind alike); more get a 503. */
  readonly maxConnections: number;
  readonly destinations: DestinationPolicy;
}

/** First byte of a TLS record carrying a handshake. */
const TLS_HANDSHAKE = 0x16;
/** How long a transparent client may stay silent before it is taken as server-speaks-first and relayed. */
const SERVER_FIRST_WAIT_MS = 300;

/** A refusal this long after the previous one starts a new burst, which is logged again. */
const REFUSAL_BURST_GAP_MS = 10_000;
/** How long a refused connection may stay open to read its 503 before it is destroyed. */
const REFUSAL_LINGER_MS = 1_000;

/**
 * The one proxy port: CONNECT (intercepted or blind) and absolute-form plain
 * HTTP. Requests inside intercepted tunnels are served by a second, socket-less
 * HTTP server fed the decrypted sockets, so both paths share the forwarder.
 * The port itself is a plain TCP acceptor that admits a connection to the
 * outer HTTP server only under the connection cap.
 */
export class ProxyListener {
  readonly #opts: ProxyListenerOptions;
  readonly #acceptor: net.Server;
  readonly #outer: http.Server;
  readonly #inner: http.Server;
  readonly #sockets = new Set<Duplex>();
  readonly #targets = new WeakMap<Duplex, UpstreamTarget>();
  #connectionCounter = 0;
  #admitted = 0;
  #lingering = 0;
  #lastRefusalAt = Number.NEGATIVE_INFINITY;

  constructor(opts: ProxyListenerOptions) {
    this.#opts = opts;
    const serverOptions: http.ServerOptions = {
      headersTimeout: opts.headersTimeoutMs,
      // Uploads of multi-GiB layers legitimately take long; idleness is what we bound.
      requestTimeout: 0,
      keepAliveTimeout: Math.min(opts.idleTimeoutMs, 65_000),
      connectionsCheckingInterval: Math.min(5_000, opts.headersTimeoutMs),
      maxHeaderSize: 64 * 1024,
    };
    this.#outer = http.createServer(serverOptions);
    this.#inner = http.createServer(serverOptions);
    for (const server of [this.#outer, this.#inner]) {
      server.timeout = opts.idleTimeoutMs;
      server.on('clientError', (error: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex) =>
        this.#onClientError(error, socket),
      );
    }
    // Both HTTP servers are fed sockets by hand. Node runs its per-connection checks
    // (headersTimeout, requestTimeout) only from a server's 'listening' event: without it a
    // client could dribble a request head forever (a slowloris inside intercepted TLS).
    for (const server of [this.#outer, this.#inner]) server.emit('listening');
    // The socket options an http.Server would have given its own listener.
    this.#acceptor = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) =>
      this.#admit(socket),
    );
    this.#outer.on('request', (req, res) => this.#onPlainRequest(req, res));
    this.#outer.on('upgrade', (req, socket, head) => this.#onPlainUpgrade(req, socket, head));
    this.#outer.on('connect', (req, socket, head) => this.#onConnect(req, socket as Socket, head));
    this.#inner.on('request', (req, res) => this.#onTunnelledRequest(req, res));
    this.#inner.on('upgrade', (req, socket, head) => this.#onTunnelledUpgrade(req, socket, head));
  }

  listen(): Promise<AddressInfo> {
    return listenOn(this.#acceptor, this.#opts.port, this.#opts.host);
  }

  get listening(): boolean {
    return this.#acceptor.listening;
  }

  /** Stop accepting; idle keep-alive connections close now, busy ones when their exchange ends. */
  stopAccepting(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#acceptor.close(() => resolve()));
    this.#outer.closeIdleConnections();
    this.#inner.closeIdleConnections();
    // Keep-alive connections that become idle later must not hold the shutdown.
    for (const server of [this.#outer, this.#inner]) {
      server.prependListener('request', (_req, res: ServerResponse) => {
        if (!res.headersSent) res.setHeader('connection', 'close');
      });
    }
    return closed;
  }

  /** Drop every remaining connection (after the shutdown grace period). */
  destroyAll(): void {
    for (const socket of this.#sockets) socket.destroy();
    for (const server of [this.#outer, this.#inner]) {
      server.closeAllConnections();
      // Stops the per-connection checks started in the constructor.
      server.close();
    }
  }

  #admit(socket: Socket): void {
    if (this.#admitted >= this.#opts.maxConnections) {
      this.#refuse(socket);
      return;
    }
    this.#admitted++;
    socket.once('close', () => this.#admitted--);
    this.#track(socket, 'proxy');
    this.#outer.emit('connection', socket);
  }

  /**
   * Past the cap: a 503 the client can read (it has sent nothing yet, so the answer comes
   * first), then close. What the client sends meanwhile is read and dropped, so the close is
   * not a reset that could destroy the answer; the socket lingers at most a second, and at
   * most as many refused sockets linger as the cap admits.
   */
  #refuse(socket: Socket): void {
    const { metrics, logger, maxConnections } = this.#opts;
    metrics.connectionsRefused.inc({ cause: 'connection_limit' });
    const now = Date.now();
    if (now - this.#lastRefusalAt > REFUSAL_BURST_GAP_MS)
      logger.warn(
        { maxConnections },
        'connection limit reached: new connections are refused with 503 until some close',
      );
    this.#lastRefusalAt = now;
    socket.on('error', () => socket.destroy());
    if (this.#lingering >= maxConnections) {
      socket.destroy();
      return;
    }
    this.#lingering++;
    socket.once('close', () => this.#lingering--);
    socket.setTimeout(REFUSAL_LINGER_MS, () => socket.destroy());
    socket.once('end', () => socket.destroy());
    socket.resume();
    const body = `provenance-proxy: too many open connections (limit ${maxConnections}); retry later\n`;
    socket.end(
      rawAnswer(503, {
        headers: {
          'Content-Type': 'text/plain',
          'Retry-After': 1,
          'x-provenance-proxy-error': 'connection_limit',
        },
        body,
      }),
    );
  }

  #track(socket: Duplex, kind: 'proxy' | 'transparent' | 'intercepted' | 'tunnel'): void {
    this.#sockets.add(socket);
    this.#opts.metrics.activeConnections.inc({ kind });
    socket.once('close', () => {
      this.#sockets.delete(socket);
      this.#opts.metrics.activeConnections.dec({ kind });
    });
  }

  #nextConnectionId(): string {
    return `c${++this.#connectionCounter}`;
  }

  #onPlainRequest(req: IncomingMessage, res: ServerResponse): void {
    const target = this.#absoluteTarget(req);
    if (!target) {
      this.#opts.metrics.clientErrors.inc({ cause: 'not_absolute_form' });
      reject(
        res,
        400,
        'provenance-proxy is a forward proxy: send absolute-form http:// requests, or CONNECT for https\n',
      );
      return;
    }
    const refusal = this.#opts.destinations.checkLiteral(target.upstream.hostname, target.upstream.port);
    if (refusal !== null) {
      refuseDestination(res, refusal);
      return;
    }
    if (
      this.#opts.egressPolicy.decide(target.upstream.hostname, target.upstream.port, 'explicit') === 'refuse'
    ) {
      refuseEgress(res, target.upstream.authority);
      return;
    }
    req.headers.host = target.upstream.authority;
    this.#opts.forwarder.forward(req, res, target.upstream, target.originTarget);
  }

  #onPlainUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const target = this.#absoluteTarget(req);
    if (!target) {
      this.#opts.metrics.clientErrors.inc({ cause: 'not_absolute_form' });
      socket.end(rawAnswer(400));
      return;
    }
    const refusal = this.#opts.destinations.checkLiteral(target.upstream.hostname, target.upstream.port);
    if (refusal !== null) {
      socket.end(refusalAnswer(refusal));
      return;
    }
    // An Upgrade is egress like any request: without this a WebSocket would walk past enforce.
    if (
      this.#opts.egressPolicy.decide(target.upstream.hostname, target.upstream.port, 'explicit') === 'refuse'
    ) {
      socket.end(egressRefusal(target.upstream.authority));
      return;
    }
    this.#opts.forwarder.upgrade(req, socket, head, target.upstream, target.originTarget);
  }

  #absoluteTarget(req: IncomingMessage): { upstream: UpstreamTarget; originTarget: string } | null {
    const raw = req.url ?? '';
    if (!/^http:\/\//i.test(raw)) return null;
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return null;
    }
    if (url.username || url.password || !url.hostname) return null;
    const port = url.port ? Number(url.port) : 80;
    const hostname = url.hostname.replace(/^\[|\]$/g, '');
    const originTarget = raw.slice(raw.indexOf('/', 'http://'.length)) || '/';
    return {
      upstream: {
        connectionId: this.#connectionIdOf(req.socket),
        scheme: 'http',
        hostname,
        port,
        authority: `${url.hostname}:${port}`,
      },
      originTarget: originTarget.startsWith('/') ? originTarget : '/',
    };
  }

  #connectionIdOf(socket: Duplex): string {
    const known = this.#targets.get(socket);
    if (known) return known.connectionId;
    const id = this.#nextConnectionId();
    this.#targets.set(socket, { connectionId: id, scheme: 'http', hostname: '', port: 0, authority: '' });
    return id;
  }

  #onConnect(req: IncomingMessage, client: Socket, head: Buffer): void {
    const authority = parseAuthority(req.url ?? '');
    if (!authority) {
      this.#opts.metrics.clientErrors.inc({ cause: 'bad_connect_target' });
      client.end(
        rawAnswer(400, {
          headers: { 'Content-Type': 'text/plain' },
          body: 'provenance-proxy: CONNECT needs host:port\n',
        }),
      );
      return;
    }
    const { hostname, port } = authority;
    if (this.#opts.egressPolicy.decide(hostname, port, 'connect') === 'refuse') {
      client.end(egressRefusal(authority.text));
      return;
    }
    client.setTimeout(this.#opts.idleTimeoutMs, () => client.destroy());
    client.on('error', () => client.destroy());
    // Judged before the client hears anything: a refused CONNECT is a 403, never a tunnel.
    this.#opts.destinations.check(hostname, port).then(
      (refusal) => {
        if (client.destroyed) return;
        if (refusal !== null) client.end(refusalAnswer(refusal));
        else this.#openTunnel(client, head, authority);
      },
      () => client.destroy(),
    );
  }

  #openTunnel(
    client: Socket,
    head: Buffer,
    authority: { hostname: string; port: number; text: string },
  ): void {
    const connectionId = this.#nextConnectionId();
    const { hostname, port } = authority;
    const blind =
      matchesAny(this.#opts.tunnel, hostname, port) || !matchesAny(this.#opts.intercept, hostname, port);
    if (blind) {
      this.#relayBlind(client, head, connectionId, hostname, port, authority.text, undefined);
      return;
    }
    client.write(TUNNEL_ESTABLISHED);
    this.#intercept(client, head, {
      connectionId,
      scheme: 'https',
      hostname,
      port,
      authority: authority.text,
    });
  }

  #relayBlind(
    client: Socket,
    head: Buffer,
    connectionId: string,
    hostname: string,
    port: number,
    authority: string,
    transparent: { connectAddress: string } | undefined,
  ): void {
    const metrics = this.#opts.metrics;
    metrics.activeConnections.inc({ kind: 'tunnel' });
    relayBlindTunnel({
      client,
      head,
      connectionId,
      hostname,
      port,
      authority,
      idleTimeoutMs: this.#opts.idleTimeoutMs,
      lookup: this.#opts.destinations.lookupFor(port),
      ...(transparent ? { transparent } : {}),
      onDone: (record) => {
        metrics.activeConnections.dec({ kind: 'tunnel' });
        metrics.tunnels.inc({ result: record.failure ? 'failed' : 'ok' });
        metrics.bytes.inc({ direction: 'in', mode: 'tunnel' }, record.bytesFromClient);
        metrics.bytes.inc({ direction: 'out', mode: 'tunnel' }, record.bytesFromUpstream);
        this.#opts.onTunnel(record);
      },
    });
  }

  #intercept(client: Socket, head: Buffer, target: UpstreamTarget): void {
    interceptTls({
      client,
      head,
      hostname: target.hostname,
      leaves: this.#opts.leaves,
      handshakeTimeoutMs: this.#opts.headersTimeoutMs,
      metrics: this.#opts.metrics,
      logger: this.#opts.logger,
      onSecure: (tlsSocket: TLSSocket) => {
        this.#targets.set(tlsSocket, target);
        this.#track(tlsSocket, 'intercepted');
        this.#inner.emit('connection', tlsSocket);
      },
    });
  }

  /**
   * A connection netfilter redirected to the transparent port, going to `destination`. The
   * first bytes decide, and are replayed, never consumed: a TLS ClientHello is intercepted
   * with its SNI name (the IP when there is none) unless `--tunnel`/`--intercept` say blind;
   * plain HTTP goes to the forwarder with the Host header as the name; anything else, and
   * a client that sends nothing first (server-speaks-first protocols), is relayed blind.
   * Every upstream connection goes to the original destination IP.
   */
  acceptTransparent(client: Socket, destination: OriginalDestination): void {
    if (this.#admitted >= this.#opts.maxConnections) {
      this.#opts.metrics.connectionsRefused.inc({ cause: 'connection_limit' });
      client.destroy();
      return;
    }
    this.#admitted++;
    client.once('close', () => this.#admitted--);
    this.#track(client, 'transparent');
    client.on('error', () => client.destroy());
    client.setTimeout(this.#opts.idleTimeoutMs, () => client.destroy());
    const connectionId = this.#nextConnectionId();
    const { address, port } = destination;
    // The original destination is an address: the destination policy judges it before a byte
    // is read (a transparent client expected its destination, so a refusal is a close).
    if (this.#opts.destinations.checkLiteral(address, port) !== null) {
      client.destroy();
      return;
    }
    const ipAuthority = destination.family === 6 ? `[${address}]:${port}` : `${address}:${port}`;
    const chunks: Buffer[] = [];
    let decided = false;
    const decide = (first: Buffer) => {
      if (decided) return;
      decided = true;
      client.off('data', onData);
      clearTimeout(silence);
      client.pause();
      if (first.length > 0 && first[0] === TLS_HANDSHAKE) {
        const sni = clientHelloServerName(first);
        const hostname = typeof sni === 'string' ? sni : address;
        const authority = hostname === address ? ipAuthority : `${hostname}:${port}`;
        if (this.#opts.egressPolicy.decide(hostname, port, 'transparent-tls') === 'refuse') {
          client.destroy();
          return;
        }
        const blind =
          matchesAny(this.#opts.tunnel, hostname, port) || !matchesAny(this.#opts.intercept, hostname, port);
        if (blind)
          this.#relayBlind(client, first, connectionId, hostname, port, authority, {
            connectAddress: address,
          });
        else
          this.#intercept(client, first, {
            connectionId,
            scheme: 'https',
            hostname,
            port,
            authority,
            connectAddress: address,
          });
        return;
      }
      if (first.length > 0 && looksLikeHttpRequest(first)) {
        client.unshift(first);
        this.#targets.set(client, {
          connectionId,
          scheme: 'http',
          hostname: address,
          port,
          authority: ipAuthority,
          connectAddress: address,
        });
        this.#inner.emit('connection', client);
        client.resume();
        return;
      }
      if (this.#opts.egressPolicy.decide(address, port, 'transparent-blind') === 'refuse') {
        client.destroy();
        return;
      }
      this.#relayBlind(client, first, connectionId, address, port, ipAuthority, { connectAddress: address });
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      const bytes = Buffer.concat(chunks);
      if (bytes[0] === TLS_HANDSHAKE && clientHelloServerName(bytes) === 'incomplete') return;
      decide(bytes);
    };
    client.on('data', onData);
    // Server-speaks-first protocols (SSH, SMTP) send nothing: after a moment they are relayed.
    const silence = setTimeout(() => decide(Buffer.concat(chunks)), SERVER_FIRST_WAIT_MS);
    client.once('close', () => clearTimeout(silence));
  }

  #onTunnelledRequest(req: IncomingMessage, res: ServerResponse): void {
    const target = this.#targets.get(req.socket);
    const raw = req.url ?? '';
    if (!target || !raw.startsWith('/')) {
      this.#opts.metrics.clientErrors.inc({ cause: 'bad_request_target' });
      reject(res, 400, 'provenance-proxy: requests inside a CONNECT tunnel must use origin-form targets\n');
      return;
    }
    if (target.scheme === 'http' && target.connectAddress !== undefined) {
      const upstream = transparentHttpTarget(req.headers.host, target);
      if (this.#opts.egressPolicy.decide(upstream.hostname, upstream.port, 'transparent-http') === 'refuse')
        refuseEgress(res, upstream.authority);
      else this.#opts.forwarder.forward(req, res, upstream, raw);
      return;
    }
    if (!hostMatches(req.headers.host, target)) {
      this.#opts.metrics.clientErrors.inc({ cause: 'misdirected_host' });
      reject(res, 421, `provenance-proxy: Host must name the CONNECT target ${target.authority}\n`);
      return;
    }
    this.#opts.forwarder.forward(req, res, target, raw);
  }

  #onTunnelledUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const target = this.#targets.get(req.socket);
    const raw = req.url ?? '';
    const transparentHttp = target?.scheme === 'http' && target.connectAddress !== undefined;
    if (!target || !raw.startsWith('/') || (!transparentHttp && !hostMatches(req.headers.host, target))) {
      socket.end(rawAnswer(400));
      return;
    }
    const upstream = transparentHttp ? transparentHttpTarget(req.headers.host, target) : target;
    if (
      transparentHttp &&
      this.#opts.egressPolicy.decide(upstream.hostname, upstream.port, 'transparent-http') === 'refuse'
    ) {
      socket.end(egressRefusal(upstream.authority));
      return;
    }
    this.#opts.forwarder.upgrade(req, socket, head, upstream, raw);
  }

  #onClientError(error: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex): void {
    const metrics = this.#opts.metrics;
    if (error.rawPacket?.[0] === 0x16) {
      metrics.clientErrors.inc({ cause: 'tls_on_plain_port' });
      socket.destroy();
      return;
    }
    const { status, cause } = clientErrorAnswer(error.code);
    metrics.clientErrors.inc({ cause });
    this.#opts.logger.debug({ code: error.code, cause }, 'rejected a malformed request');
    if (socket.writable && status !== null) {
      const body = `provenance-proxy: ${cause.replace(/_/g, ' ')}\n`;
      socket.end(rawAnswer(status, { headers: { 'Content-Type': 'text/plain' }, body }));
    }
    socket.destroy();
  }
}

function clientErrorAnswer(code: string | undefined): { status: number | null; cause: string } {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, cause: 'header_too_large' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'HPE_HEADERS_TIMEOUT':
      return { status: 408, cause: 'header_timeout' };
    case 'ECONNRESET':
    case 'EPIPE':
      return { status: null, cause: 'client_reset' };
    default:
      return { status: 400, cause: 'bad_request' };
  }
}

function refuseDestination(res: ServerResponse, refusal: DestinationRefusal): void {
  const body = refusalBody(refusal);
  res.writeHead(403, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-provenance-proxy-error': 'destination_refused',
    connection: 'close',
  });
  res.end(body);
}

function egressRefusal(authority: string): Buffer {
  return rawAnswer(403, {
    headers: { 'Content-Type': 'text/plain', 'x-provenance-proxy-error': 'egress_refused' },
    body: `provenance-proxy: egress to ${authority} is not allowed by the egress policy\n`,
  });
}

function refuseEgress(res: ServerResponse, authority: string): void {
  res.setHeader('x-provenance-proxy-error', 'egress_refused');
  res.shouldKeepAlive = false;
  reject(res, 403, `provenance-proxy: egress to ${authority} is not allowed by the egress policy\n`);
}

function reject(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/**
 * Inside an intercepted tunnel the record names the CONNECT authority, so the Host header
 * must name it too: otherwise an upstream that serves several names (one ingress, a shared
 * certificate) could route the request elsewhere than the record says. Default port 443.
 */
function hostMatches(host: string | undefined, target: UpstreamTarget): boolean {
  if (host === undefined) return true; // HTTP/1.0 without Host: the upstream sees the TLS name only
  const parsed = parseAuthority(/:\d+$/.test(host) && !host.endsWith(']') ? host : `${host}:443`);
  return parsed !== null && parsed.hostname === target.hostname.toLowerCase() && parsed.port === target.port;
}

/**
 * Plain HTTP caught transparently: the record names the Host header's host (the connection
 * still goes to the original destination IP and port, whatever Host says).
 */
function transparentHttpTarget(host: string | undefined, target: UpstreamTarget): UpstreamTarget {
  const name = host ? /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(?::\d{1,5})?$/.exec(host)?.[1] : undefined;
  if (!name) return target;
  const hostname = name.replace(/^\[|\]$/g, '').toLowerCase();
  return { ...target, hostname, authority: `${name.toLowerCase()}:${target.port}` };
}

function looksLikeHttpRequest(first: Buffer): boolean {
  return /^[A-Z]{3,10} \S/.test(first.subarray(0, 16).toString('latin1'));
}

/** `host:port` of a CONNECT request (IPv6 in brackets). Port is required: there is no default for CONNECT. */
export function parseAuthority(text: string): { hostname: string; port: number; text: string } | null {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9._-]+)):(\d{1,5})$/.exec(text);
  if (!match) return null;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return null;
  const hostname = (match[1] ?? match[2]!).toLowerCase();
  return { hostname, port, text: match[1] ? `[${hostname}]:${port}` : `${hostname}:${port}` };
}
