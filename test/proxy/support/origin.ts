import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { testPki } from '../../support/pki.js';

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  size: number;
  sha256: string;
  complete: boolean;
  /** The proxy's side of the upstream connection, to tell connections apart. */
  remotePort: number;
}

export interface Origin {
  readonly port: number;
  readonly url: string;
  readonly received: ReceivedRequest[];
  /** TLS connections accepted, to see keep-alive reuse upstream. */
  readonly connections: () => number;
  /** Resolves with the next request whose body has ended or been cut. */
  nextRequest(): Promise<ReceivedRequest>;
  close(): Promise<void>;
}

export type OriginHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  received: Promise<ReceivedRequest>,
) => void;

/**
 * A real HTTPS server that hashes every request body it receives. The default
 * handler answers with the body's sha256 so a test can compare three views of
 * one body: what the client sent, what the origin got, what the proxy recorded.
 */
export async function startOrigin(
  opts: { cert?: 'good' | 'untrusted' | 'wrong-host'; handler?: OriginHandler } = {},
): Promise<Origin> {
  const pki = testPki();
  const kind = opts.cert ?? 'good';
  const key = kind === 'good' ? pki.goodKey : kind === 'untrusted' ? pki.untrustedKey : pki.wrongHostKey;
  const cert = kind === 'good' ? pki.goodCert : kind === 'untrusted' ? pki.untrustedCert : pki.wrongHostCert;
  const received: ReceivedRequest[] = [];
  const waiters: ((r: ReceivedRequest) => void)[] = [];
  let connections = 0;
  let consumed = 0;
  const handler: OriginHandler =
    opts.handler ??
    ((_req, res, done) => {
      void done.then((r) => {
        res.writeHead(200, { 'content-type': 'text/plain', 'x-received-sha256': r.sha256 });
        res.end(`${r.method} ${r.size} ${r.sha256}\n`);
      });
    });
  const server = https.createServer({ key, cert, keepAliveTimeout: 30_000 }, (req, res) => {
    const hash = createHash('sha256');
    let size = 0;
    const done = new Promise<ReceivedRequest>((resolve) => {
      const finish = (complete: boolean) => {
        const r: ReceivedRequest = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          size,
          sha256: `sha256:${hash.digest('hex')}`,
          complete,
          remotePort: req.socket.remotePort ?? 0,
        };
        received.push(r);
        resolve(r);
        const w = waiters.shift();
        if (w) {
          consumed++;
          w(r);
        }
      };
      req.on('data', (c: Buffer) => {
        size += c.length;
        hash.update(c);
      });
      req.once('end', () => finish(true));
      req.once('aborted', () => finish(false));
    });
    handler(req, res, done);
  });
  server.on('secureConnection', () => {
    connections++;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `https://localhost:${port}`,
    received,
    connections: () => connections,
    nextRequest: () =>
      new Promise((resolve) => {
        const ready = received[consumed];
        if (ready) {
          consumed++;
          resolve(ready);
        } else waiters.push(resolve);
      }),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
