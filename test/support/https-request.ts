import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';

/** An explicit forward proxy to reach the server through (HTTP CONNECT), like HTTPS_PROXY. */
export interface ForwardProxy {
  /** e.g. http://127.0.0.1:18090 */
  url: string;
}

export interface HttpsRequestOptions {
  url: string | URL;
  method?: string;
  headers?: OutgoingHttpHeaders;
  body?: Buffer | string;
  /** PEM(s) trusted for the server's certificate: the test CA directly, the proxy's CA through it. */
  ca: string | string[];
  proxy?: ForwardProxy;
  timeoutMs?: number;
}

export interface HttpsResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A CONNECT through the forward proxy was not answered with 200. */
export class ProxyConnectError extends Error {
  readonly code = 'ERR_TEST_PROXY_CONNECT';
  constructor(authority: string, status: number | undefined) {
    super(`CONNECT ${authority} through the proxy answered ${status ?? 'nothing'}`);
  }
}

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * One HTTPS request with a fresh connection (no pooling: tests want each exchange on its own),
 * optionally tunnelled through an explicit forward proxy. Resolves with the whole body.
 */
export async function httpsRequestOnce(options: HttpsRequestOptions): Promise<HttpsResponse> {
  const url = typeof options.url === 'string' ? new URL(options.url) : options.url;
  const port = Number(url.port || 443);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const socket =
    options.proxy === undefined
      ? undefined
      : await tunnel(options.proxy, url.hostname, port, options.ca, timeoutMs);
  return new Promise<HttpsResponse>((resolve, reject) => {
    const req = httpsRequest(
      {
        host: url.hostname,
        port,
        servername: url.hostname,
        path: `${url.pathname}${url.search}`,
        method: options.method ?? 'GET',
        headers: options.headers,
        ca: options.ca,
        // Without an agent, Node uses createConnection as is; with one it would open its own socket.
        ...(socket === undefined ? { agent: false } : { createConnection: () => socket }),
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.once('error', reject);
        res.once('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      },
    );
    req.once('timeout', () =>
      req.destroy(new Error(`${req.method} ${url.href} timed out after ${timeoutMs} ms`)),
    );
    req.once('error', reject);
    req.end(options.body);
  });
}

/** Opens CONNECT host:port on the proxy and starts TLS (trusting `ca`) inside the tunnel. */
function tunnel(
  proxy: ForwardProxy,
  host: string,
  port: number,
  ca: string | string[],
  timeoutMs: number,
): Promise<TLSSocket> {
  const proxyUrl = new URL(proxy.url);
  const authority = `${host}:${port}`;
  return new Promise<TLSSocket>((resolve, reject) => {
    const connectReq = httpRequest({
      host: proxyUrl.hostname,
      port: Number(proxyUrl.port || 80),
      method: 'CONNECT',
      path: authority,
      headers: { host: authority },
      agent: false,
      timeout: timeoutMs,
    });
    connectReq.once('timeout', () => connectReq.destroy(new Error(`CONNECT ${authority} timed out`)));
    connectReq.once('error', reject);
    connectReq.once('connect', (res, socket: Socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(new ProxyConnectError(authority, res.statusCode));
        return;
      }
      const tls = tlsConnect({ socket, servername: host, ca, ALPNProtocols: ['http/1.1'] });
      tls.once('secureConnect', () => resolve(tls));
      tls.once('error', reject);
    });
    connectReq.end();
  });
}
