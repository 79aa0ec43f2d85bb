import net, { type LookupFunction, type Socket } from 'node:net';
import type { TunnelRecord } from '../http/completed-exchange.js';
import { TUNNEL_ESTABLISHED } from '../http/raw-answer.js';
import { classifyUpstreamError, explainUpstreamFailure, rawFailureAnswer } from '../http/upstream-failure.js';

/**
 * Relays a CONNECT byte for byte without terminating TLS (`--tunnel` hosts).
 * Nothing inside is observed; the tunnel itself (where, how much, how long)
 * is reported so provenance can say what egress went unobserved.
 */
export function relayBlindTunnel(opts: {
  client: Socket;
  head: Buffer;
  connectionId: string;
  hostname: string;
  port: number;
  authority: string;
  idleTimeoutMs: number;
  /** The destination policy's lookup for this port: the name is judged on what it resolves to. */
  lookup: LookupFunction;
  /** Transparent capture: the original destination IP, and no CONNECT to answer. */
  transparent?: { connectAddress: string };
  onDone: (record: TunnelRecord) => void;
}): void {
  const { client, head } = opts;
  const startedAt = Date.now();
  let fromClient = head.length;
  let fromUpstream = 0;
  let failure: TunnelRecord['failure'] = null;
  let done = false;
  let established = false;
  const upstream = net.connect({
    host: opts.transparent?.connectAddress ?? opts.hostname,
    port: opts.port,
    lookup: opts.lookup,
  });
  const finish = () => {
    if (done) return;
    done = true;
    client.destroy();
    upstream.destroy();
    opts.onDone({
      connectionId: opts.connectionId,
      authority: opts.authority,
      bytesFromClient: fromClient,
      bytesFromUpstream: fromUpstream,
      startedAt,
      finishedAt: Date.now(),
      failure,
    });
  };
  upstream.setTimeout(opts.idleTimeoutMs, () => {
    failure ??= { code: 'idle_timeout', message: 'no traffic for the idle timeout' };
    finish();
  });
  upstream.once('connect', () => {
    established = true;
    if (!opts.transparent) client.write(TUNNEL_ESTABLISHED);
    if (head.length > 0) upstream.write(head);
    client.on('data', (chunk: Buffer) => {
      fromClient += chunk.length;
    });
    upstream.on('data', (chunk: Buffer) => {
      fromUpstream += chunk.length;
    });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  upstream.once('error', (error: NodeJS.ErrnoException) => {
    const cause = classifyUpstreamError(error);
    failure ??= { code: `upstream_${cause}`, message: error.message };
    // A transparent client expected its destination, not a proxy: it gets a close, not a 502.
    if (established || client.destroyed || opts.transparent) finish();
    else {
      // finish() runs on the client's close, once the answer is flushed.
      const body =
        cause === 'destination_refused'
          ? explainUpstreamFailure(cause, opts.authority, error)
          : `provenance-proxy: cannot reach ${opts.authority}: ${error.code ?? error.message}\n`;
      client.end(rawFailureAnswer(cause, body));
    }
  });
  client.once('error', () => finish());
  client.once('close', finish);
  upstream.once('close', () => {
    if (established) finish();
  });
}
