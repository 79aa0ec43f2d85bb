import net, { type AddressInfo, isIP, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import type { ProxyMetrics } from '../metrics/proxy-metrics.js';
import { listenOn } from './listen.js';
import { type OriginalDestination, originalDestination } from './original-destination.js';
import { tcpSocketOwner } from './peer-owner.js';

export interface TransparentListenerOptions {
  readonly host: string;
  readonly port: number;
  /** Where redirected connections go once their original destination is known. */
  readonly accept: (client: Socket, destination: OriginalDestination) => void;
  /** Ports the proxy itself listens on (proxy, control, this one): never a destination. */
  readonly ownPorts: () => readonly number[];
  readonly metrics: ProxyMetrics;
  readonly logger: Logger;
  /**
   * The capture check's canary (capture/capture-verifier.ts), known once the port is bound: a
   * connection whose original destination is the canary's goes to it, never upstream.
   */
  readonly canary?: () => CanaryReceiver | null;
}

export interface CanaryReceiver {
  isCanary(destination: OriginalDestination): boolean;
  accept(socket: Socket, destination: OriginalDestination): void;
}

/**
 * The port netfilter REDIRECTs the pod's TCP to. It only recovers where each connection
 * was going and refuses what must not be served: a connection that was not redirected
 * (no original destination), and one whose original destination is the proxy itself,
 * which would otherwise loop.
 */
export class TransparentListener {
  readonly #opts: TransparentListenerOptions;
  readonly #server: net.Server;
  /** The proxy's own UID, read once: its connections must never arrive here (see #isOwnConnection). */
  readonly #uid = process.getuid?.();

  constructor(opts: TransparentListenerOptions) {
    this.#opts = opts;
    this.#server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) =>
      this.#onSocket(socket),
    );
  }

  listen(): Promise<AddressInfo> {
    return listenOn(this.#server, this.#opts.port, this.#opts.host);
  }

  stopAccepting(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #onSocket(socket: Socket): void {
    socket.on('error', () => socket.destroy());
    let destination: OriginalDestination | null;
    try {
      destination = originalDestination(socket as unknown as Parameters<typeof originalDestination>[0]);
    } catch (error) {
      this.#opts.logger.error({ err: error }, 'cannot read the original destination');
      destination = null;
    }
    const canary = destination === null ? null : (this.#opts.canary?.() ?? null);
    if (destination === null) this.#refuse(socket, 'not_redirected');
    else if (canary?.isCanary(destination)) canary.accept(socket, destination);
    else if (this.#isSelf(socket, destination)) this.#refuse(socket, 'destination_is_proxy');
    else if (this.#isOwnConnection(socket, destination)) this.#refuse(socket, 'self_loop');
    else this.#opts.accept(socket, destination);
  }

  /**
   * The proxy's own upstream connection, redirected back to it: the capture rules do not
   * exempt its UID. Served, it would connect upstream again and be redirected again, once
   * per hop until --max-connections (TLS stops at the first hop only because the proxy does
   * not trust its own CA). Refused at the first hop instead, and said loudly.
   */
  #isOwnConnection(socket: Socket, destination: OriginalDestination): boolean {
    const uid = this.#uid;
    if (uid === undefined || !socket.remoteAddress || !socket.remotePort) return false;
    const owner = tcpSocketOwner({ address: socket.remoteAddress, port: socket.remotePort }, destination);
    if (owner !== uid) return false;
    this.#opts.logger.error(
      { uid, destination: `${destination.address}:${destination.port}` },
      "the capture rules redirected the proxy's own connection back to it: they must exempt its UID (capture-rules --proxy-uid)",
    );
    return true;
  }

  #isSelf(socket: Socket, destination: OriginalDestination): boolean {
    if (!this.#opts.ownPorts().includes(destination.port)) return false;
    const address = destination.address;
    return (
      address === socket.localAddress?.replace(/^::ffff:/, '') ||
      address.startsWith('127.') ||
      address === '::1' ||
      address === '0.0.0.0' ||
      address === '::' ||
      isIP(address) === 0 ||
      // The pod's own addresses: REDIRECT rewrote them to loopback, so only the list knows.
      Object.values(networkInterfaces()).some((list) => list?.some((entry) => entry.address === address))
    );
  }

  #refuse(socket: Socket, cause: string): void {
    this.#opts.metrics.connectionsRefused.inc({ cause });
    this.#opts.logger.warn(
      { cause, peer: socket.remoteAddress },
      'refused a connection on the transparent port',
    );
    socket.destroy();
  }
}
