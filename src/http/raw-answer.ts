import { STATUS_CODES } from 'node:http';

/**
 * The answers the proxy writes straight onto a socket (before or outside Node's HTTP server: refused
 * connections, malformed requests, CONNECT and upgrade failures). One writer, so every such answer is
 * framed the same way: a byte-exact Content-Length and Connection: close, because the socket is
 * ended after it and the client must not wait for more or reuse it.
 */
export interface RawAnswerParts {
  /** Defaults to Node's reason phrase for the status. */
  readonly reason?: string;
  /** Written in this order, before Content-Length and Connection; names and values are the proxy's own, never input. */
  readonly headers?: Readonly<Record<string, string | number>>;
  readonly body?: string;
}

/** The one answer that keeps the connection: a tunnel's 200 has no framing (RFC 9110 §9.3.6). */
export const TUNNEL_ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\n\r\n';

export function rawAnswer(status: number, parts: RawAnswerParts = {}): Buffer {
  const body = Buffer.from(parts.body ?? '', 'utf8');
  const reason = parts.reason ?? STATUS_CODES[status] ?? '';
  const fields = [
    ...Object.entries(parts.headers ?? {}),
    ['Content-Length', body.length],
    ['Connection', 'close'],
  ];
  const lines = [`HTTP/1.1 ${status} ${reason}`, ...fields.map(([name, value]) => `${name}: ${value}`)];
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}
