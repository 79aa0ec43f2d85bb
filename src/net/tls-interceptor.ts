import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { ProxyMetrics } from '../metrics/proxy-metrics.js';
import type { LeafCache } from '../tls/leaf-cache.js';

/** First byte of a TLS record carrying a handshake. */
const TLS_HANDSHAKE = 0x16;

/**
 * Terminates the client's TLS inside an accepted CONNECT tunnel, with a leaf
 * for the CONNECT host (or the SNI name when the client sends one). Only
 * http/1.1 is offered in ALPN: Go clients would otherwise negotiate h2.
 *
 * The first bytes are peeked before anything else: a client that sends
 * something other than a TLS handshake is closed and counted, never parsed.
 */
export function interceptTls(opts: {
  client: Socket;
  head: Buffer;
  hostname: string;
  leaves: LeafCache;
  handshakeTimeoutMs: number;
  metrics: ProxyMetrics;
  logger: Logger;
  onSecure: (tlsSocket: TLSSocket) => void;
}): void {
  const { client, metrics } = opts;
  const fail = (cause: string) => {
    metrics.tlsHandshakes.inc({ side: 'client', result: 'failed', cause });
    client.destroy();
  };
  const timer = setTimeout(() => fail('handshake_timeout'), opts.handshakeTimeoutMs);
  timer.unref();
  // A client that hangs up before its handshake is not a timeout.
  client.once('close', () => clearTimeout(timer));

  const start = async (first: Buffer) => {
    if (first[0] !== TLS_HANDSHAKE) {
      clearTimeout(timer);
      metrics.clientErrors.inc({ cause: 'not_tls_after_connect' });
      fail('not_tls');
      return;
    }
    client.pause();
    client.unshift(first);
    let context: Awaited<ReturnType<LeafCache['contextFor']>>;
    try {
      context = await opts.leaves.contextFor(opts.hostname);
    } catch (error) {
      clearTimeout(timer);
      opts.logger.error({ err: error, host: opts.hostname }, 'cannot mint a leaf certificate');
      fail('leaf_mint_failed');
      return;
    }
    const tlsSocket = new TLSSocket(client, {
      isServer: true,
      secureContext: context,
      ALPNProtocols: ['http/1.1'],
      SNICallback: (servername, cb) => {
        if (servername.toLowerCase() === opts.hostname.toLowerCase()) return cb(null, context);
        opts.leaves.contextFor(servername).then(
          (ctx) => cb(null, ctx),
          (error: Error) => cb(error, undefined),
        );
      },
    });
    tlsSocket.once('secure', () => {
      clearTimeout(timer);
      metrics.tlsHandshakes.inc({ side: 'client', result: 'ok', cause: '' });
      opts.onSecure(tlsSocket);
    });
    tlsSocket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      // Before 'secure' this is a failed handshake: most often the client does not trust the pod CA.
      if (
        !tlsSocket.encrypted ||
        !(tlsSocket as TLSSocket & { _secureEstablished?: boolean })._secureEstablished
      ) {
        fail(handshakeFailureCause(error));
        opts.logger.debug({ host: opts.hostname, code: error.code }, 'client TLS handshake failed');
      }
      tlsSocket.destroy();
    });
  };

  if (opts.head.length > 0) {
    void start(opts.head);
  } else {
    client.once('data', (first: Buffer) => void start(first));
  }
}

function handshakeFailureCause(error: NodeJS.ErrnoException): string {
  const text = `${error.code ?? ''} ${error.message}`;
  if (/unknown ca|bad certificate|certificate unknown/i.test(text)) return 'client_rejected_ca';
  if (/ECONNRESET|socket hang up/i.test(text)) return 'reset';
  if (/wrong version|unsupported protocol|no protocols/i.test(text)) return 'protocol_version';
  if (/no shared cipher|handshake failure/i.test(text)) return 'handshake_failure';
  return 'other';
}
