import { createHash, timingSafeEqual } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { redactUrl } from '../log/redact-url.js';
import { listenOn } from '../net/listen.js';

export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

/**
 * Who may call a route: `open` anyone who reaches the listener; `read` the read token or the
 * control token; `control` the control token only. A function decides per request, for a route
 * whose variants differ (unsigned vs signed provenance).
 */
export type RouteAccess = 'open' | 'read' | 'control';

interface Route {
  readonly method: string;
  readonly path: string;
  readonly handler: RouteHandler;
  readonly access: RouteAccess | ((url: URL) => RouteAccess);
}

export interface ControlServerOptions {
  readonly host: string;
  readonly port: number;
  readonly registry: Registry;
  readonly caCertPem: () => string | null;
  readonly isReady: () => boolean;
  /** Problems worth an operator's attention that do not make the proxy unready (e.g. reports failing auth); one line each. */
  readonly readyDetails?: () => readonly string[];
  /** Bearer token every route but health, readiness, metrics and the CA certificate needs. */
  readonly controlToken: string;
  /** Optional bearer token for the `read` routes only (--control-read-token-file). */
  readonly readToken?: string | null;
  readonly logger: Logger;
}

/**
 * The control listener: health, readiness, metrics, the CA certificate, and
 * the /v1 views later stages register. It is a separate listener so that
 * network policy can expose it to Prometheus and the platform without
 * exposing the proxy port, and vice versa.
 *
 * Only /healthz, /readyz, /metrics and /ca.pem are open: probes, scrapers and
 * build containers need them, and they tell nothing about the build. Every
 * /v1 route, reads included, needs a token: the build being recorded shares
 * the pod's network namespace, and must not read the record as it forms nor
 * have the proxy sign a snapshot of it (?format=dsse). The optional read
 * token opens only the routes declared `read`; a route declares nothing and
 * it needs the control token, so no new route is readable by accident.
 */
export class ControlServer {
  readonly #opts: ControlServerOptions;
  readonly #server: http.Server;
  readonly #routes: Route[] = [];

  constructor(opts: ControlServerOptions) {
    this.#opts = opts;
    this.#server = http.createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        opts.logger.error({ err: error, path: redactUrl(req.url ?? '') }, 'control request failed');
        if (!res.headersSent) json(res, 500, { error: { code: 'ERR_INTERNAL', message: 'internal error' } });
        else res.destroy();
      });
    });
    const open = { access: 'open' } as const;
    this.route('GET', '/healthz', (_req, res) => text(res, 200, 'ok\n'), open);
    this.route(
      'GET',
      '/readyz',
      (_req, res) => {
        const details = (opts.readyDetails?.() ?? []).map((line) => `${line}\n`).join('');
        if (opts.isReady()) text(res, 200, `ready\n${details}`);
        else text(res, 503, `not ready\n${details}`);
      },
      open,
    );
    this.route(
      'GET',
      '/metrics',
      async (_req, res) => {
        const body = await opts.registry.metrics();
        res.writeHead(200, { 'content-type': opts.registry.contentType });
        res.end(body);
      },
      open,
    );
    this.route(
      'GET',
      '/ca.pem',
      (_req, res) => {
        const pem = opts.caCertPem();
        if (pem === null) text(res, 503, 'CA not ready\n');
        else {
          res.writeHead(200, { 'content-type': 'application/x-pem-file' });
          res.end(pem);
        }
      },
      open,
    );
  }

  /** Adds a route; it needs the control token unless its `access` says otherwise. */
  route(
    method: string,
    path: string,
    handler: RouteHandler,
    options: { access?: Route['access'] } = {},
  ): void {
    this.#routes.push({ method, path, handler, access: options.access ?? 'control' });
  }

  listen(): Promise<AddressInfo> {
    return listenOn(this.#server, this.#opts.port, this.#opts.host);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://control');
    const candidates = this.#routes.filter((r) => r.path === url.pathname);
    if (candidates.length === 0) {
      json(res, 404, { error: { code: 'ERR_NOT_FOUND', message: `no such endpoint ${url.pathname}` } });
      return;
    }
    const route = candidates.find(
      (r) => r.method === req.method || (req.method === 'HEAD' && r.method === 'GET'),
    );
    if (!route) {
      res.setHeader('allow', candidates.map((r) => r.method).join(', '));
      json(res, 405, {
        error: { code: 'ERR_METHOD', message: `${req.method} not allowed on ${url.pathname}` },
      });
      return;
    }
    const access = typeof route.access === 'function' ? route.access(url) : route.access;
    if (access !== 'open') {
      const grant = this.#grant(req);
      if (grant === null) {
        res.setHeader('www-authenticate', 'Bearer realm="provenance-proxy control"');
        json(res, 401, {
          error: {
            code: 'ERR_UNAUTHORIZED',
            message: 'a valid bearer token is required (the control token: --control-token-file)',
          },
        });
        return;
      }
      if (access === 'control' && grant !== 'control') {
        json(res, 403, {
          error: { code: 'ERR_FORBIDDEN', message: 'the read token opens only the read-only views' },
        });
        return;
      }
    }
    await route.handler(req, res, url);
  }

  /** What the presented bearer token grants: both tokens are always compared, in constant time. */
  #grant(req: IncomingMessage): 'control' | 'read' | null {
    const header = req.headers.authorization ?? '';
    const presented = /^Bearer +(\S+) *$/i.exec(header)?.[1] ?? '';
    if (presented === '') return null;
    const digest = sha256(presented);
    const isControl = timingSafeEqual(digest, sha256(this.#opts.controlToken));
    const readToken = this.#opts.readToken ?? null;
    const isRead = readToken !== null && timingSafeEqual(digest, sha256(readToken));
    if (isControl) return 'control';
    return isRead ? 'read' : null;
  }
}

/** Digests are compared, so the comparison time says nothing about a token's length or prefix. */
function sha256(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  const payload = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

export function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
