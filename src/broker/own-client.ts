import { Agent, request } from 'node:https';
import { createSecureContext } from 'node:tls';

export interface OwnResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
  /** The answer was longer than the limit: `body` holds its start only. */
  readonly truncated: boolean;
}

/** Token answers are small; a longer one is cut off rather than buffered. */
const MAX_BODY_BYTES = 64 * 1024;
const TIMEOUT_MS = 15_000;

/**
 * The broker's own HTTPS client (probes and token requests), verifying upstream TLS with the
 * same roots as the forwarder. It talks to registries directly: its traffic is not the build's.
 */
export class OwnClient {
  readonly #agent: Agent;

  constructor(trustedRoots: readonly string[]) {
    const secureContext = createSecureContext({ ca: [...trustedRoots], minVersion: 'TLSv1.2' });
    this.#agent = new Agent({ keepAlive: true, secureContext, rejectUnauthorized: true, maxFreeSockets: 8 });
  }

  send(
    url: URL,
    method: 'GET' | 'HEAD' | 'POST' | 'PUT',
    headers: Record<string, string>,
    body?: string | Buffer,
  ): Promise<OwnResponse> {
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          agent: this.#agent,
          headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) },
          timeout: TIMEOUT_MS,
          // SNI and the identity check follow the URL's host, never anything else.
          servername: /^[\d.]+$|:/.test(url.hostname) ? '' : url.hostname,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size <= MAX_BODY_BYTES) chunks.push(chunk);
          });
          res.once('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks),
              truncated: size > MAX_BODY_BYTES,
            }),
          );
          res.once('error', reject);
        },
      );
      req.once('timeout', () => req.destroy(new Error(`no answer from ${url.host} within ${TIMEOUT_MS} ms`)));
      req.once('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
