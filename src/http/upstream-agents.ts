import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { createSecureContext, type TLSSocket } from 'node:tls';
import type { ProxyMetrics } from '../metrics/proxy-metrics.js';

/**
 * Keep-alive agents for upstream connections. The HTTPS agent verifies every
 * certificate against `trustedRoots` (rejectUnauthorized is forced on) and
 * counts successful handshakes (failures are counted where they are
 * classified, in the forwarder).
 */
export function createUpstreamAgents(trustedRoots: readonly string[], metrics: ProxyMetrics) {
  const agentOptions = {
    keepAlive: true,
    keepAliveMsecs: 30_000,
    maxFreeSockets: 64,
    scheduling: 'lifo' as const,
  };
  // One context for every upstream connection: with `ca` alone, Node would parse the whole
  // root bundle again for each new connection (tens of ms of CPU, measured in bench/).
  const secureContext = createSecureContext({ ca: [...trustedRoots], minVersion: 'TLSv1.2' });
  const httpsAgent = new CountingHttpsAgent(
    { ...agentOptions, secureContext, rejectUnauthorized: true, ALPNProtocols: ['http/1.1'] },
    metrics,
  );
  const httpAgent = new http.Agent(agentOptions);
  return { httpsAgent, httpAgent, secureContext };
}

class CountingHttpsAgent extends https.Agent {
  readonly #metrics: ProxyMetrics;
  constructor(options: https.AgentOptions, metrics: ProxyMetrics) {
    super(options);
    this.#metrics = metrics;
  }

  override createConnection(...args: Parameters<https.Agent['createConnection']>): Duplex {
    // biome-ignore lint/suspicious/noExplicitAny: Agent.createConnection is untyped in @types/node
    const socket = (https.Agent.prototype as any).createConnection.apply(this, args) as TLSSocket;
    socket.once('secureConnect', () => {
      this.#metrics.tlsHandshakes.inc({ side: 'upstream', result: 'ok', cause: '' });
    });
    return socket;
  }
}
