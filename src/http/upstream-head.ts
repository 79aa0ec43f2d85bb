import { type IncomingMessage, validateHeaderName, validateHeaderValue } from 'node:http';

/** Characters Node refuses in a status message it writes (the same rule as for header values). */
const INVALID_REASON_CHAR = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * Why an upstream response head cannot be relayed to the client, or null when it can.
 *
 * Node's client parser accepts heads its server side refuses to write (a status outside
 * 100-999, characters in a header value). http-proxy copies the head onto the client's
 * response and Node throws while writing it, in the middle of a pipe, where nothing can catch
 * it: such an answer must be refused (502) before it is copied.
 */
export function unrelayableHead(upstream: IncomingMessage): string | null {
  const status = upstream.statusCode ?? 0;
  if (!Number.isInteger(status) || status < 100 || status > 599) return `status ${status} is not 100-599`;
  for (const [name, value] of Object.entries(upstream.headers)) {
    try {
      validateHeaderName(name);
      for (const one of [value ?? ''].flat()) validateHeaderValue(name, one);
    } catch {
      return `header ${JSON.stringify(name.slice(0, 40))} cannot be written to a client`;
    }
  }
  return null;
}

/** What can be made relayable without changing the answer's meaning, in place. */
export function normalizeRelayedHead(upstream: IncomingMessage): void {
  // Trailers are never relayed (the pipe copies the body only), and Node throws on a Trailer
  // header in any response it does not chunk (HTTP/1.0 clients, Content-Length, 204, HEAD).
  delete upstream.headers.trailer;
  // The reason phrase means nothing; one Node would refuse to write gives way to the standard one.
  if (upstream.statusMessage && INVALID_REASON_CHAR.test(upstream.statusMessage)) upstream.statusMessage = '';
}
