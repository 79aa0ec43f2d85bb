import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** A request the relay passed to the store, with the store's status. */
export interface RelayedRequest {
  /** Order in which the store's answers came back, from 0. */
  seq: number;
  method: string;
  /** Path and query as the proxy sent them. */
  target: string;
  status: number;
  /** What the relay did with the store's answer. */
  answer: 'forwarded' | 'dropped' | 'held';
}

/** What to do with the store's answer to the next request that matches. */
export interface AnswerRule {
  method: string;
  path: RegExp;
  /** `drop`: close the connection instead of answering; `hold`: answer never, keep the connection open. */
  action: 'drop' | 'hold';
}

/**
 * An HTTP relay in front of the store that can lose the store's answer after the store has
 * committed the request: the one fault a real store cannot be made to produce on demand, and the
 * one where exactly-once delivery is decided (the write happened; the sender does not know).
 * Everything else passes through unchanged.
 */
export interface AnswerRelay {
  /** `http://127.0.0.1:<port>`: give it to the proxy as `--grafeas-url`. */
  readonly url: string;
  /**
   * Arms a rule for the next matching request; resolves once the store has answered it and the
   * relay applied the rule, rejects if no such request comes within `timeoutMs`.
   */
  loseNextAnswer(rule: AnswerRule, timeoutMs?: number): Promise<RelayedRequest>;
  /** Every request so far, in order. */
  requests(): readonly RelayedRequest[];
  /** Ends every connection whose answer is held. */
  releaseHeld(): void;
  close(): Promise<void>;
}

interface ArmedRule extends AnswerRule {
  applied: (request: RelayedRequest) => void;
}

/** The relay armed a rule and no matching request came in time. */
export class RelayTimeoutError extends Error {
  readonly code = 'ERR_TEST_RELAY_TIMEOUT';
}

const DEFAULT_RULE_TIMEOUT_MS = 20_000;

export async function startAnswerRelay(storeUrl: string): Promise<AnswerRelay> {
  const store = new URL(storeUrl);
  const log: RelayedRequest[] = [];
  const held = new Set<Socket>();
  const sockets = new Set<Socket>();
  let armed: ArmedRule | undefined;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const upstream = http.request(
        {
          host: store.hostname,
          port: store.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: store.host, connection: 'close' },
        },
        (answer) => {
          const body: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => body.push(chunk));
          answer.on('end', () => {
            const method = req.method ?? 'GET';
            const target = req.url ?? '/';
            const rule = armed;
            const matches =
              rule !== undefined && rule.method === method && rule.path.test(target.split('?')[0]!);
            const entry: RelayedRequest = {
              seq: log.length,
              method,
              target,
              status: answer.statusCode ?? 0,
              answer: matches ? (rule.action === 'drop' ? 'dropped' : 'held') : 'forwarded',
            };
            log.push(entry);
            if (matches) {
              armed = undefined;
              if (rule.action === 'drop') req.socket.destroy();
              else held.add(req.socket);
              rule.applied(entry);
              return;
            }
            const headers = { ...answer.headers };
            delete headers['transfer-encoding'];
            delete headers.connection;
            res.writeHead(answer.statusCode ?? 502, headers);
            res.end(Buffer.concat(body));
          });
        },
      );
      upstream.on('error', () => req.socket.destroy());
      upstream.end(Buffer.concat(chunks));
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      held.delete(socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    loseNextAnswer(rule, timeoutMs = DEFAULT_RULE_TIMEOUT_MS) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          armed = undefined;
          reject(
            new RelayTimeoutError(`no ${rule.method} ${rule.path} reached the store within ${timeoutMs} ms`),
          );
        }, timeoutMs);
        armed = {
          ...rule,
          applied: (request) => {
            clearTimeout(timer);
            resolve(request);
          },
        };
      });
    },
    requests: () => [...log],
    releaseHeld() {
      for (const socket of held) socket.destroy();
      held.clear();
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
