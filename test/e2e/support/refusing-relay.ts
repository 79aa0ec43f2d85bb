import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * An HTTP relay in front of the real store that, while `refuse` is on, answers occurrence writes
 * with a Grafeas-style 400 INVALID_ARGUMENT (a google.rpc.Status body) instead of passing them on:
 * a store that proves a payload malformed, which the real store cannot be made to do for a report
 * the proxy builds. Everything else, and everything once `refuse` is off, passes through unchanged.
 */
export interface RefusingRelay {
  readonly url: string;
  refuse: boolean;
  /** Occurrence writes answered 400 so far. */
  readonly refused: number;
  close(): Promise<void>;
}

const OCCURRENCE_WRITE = /\/occurrences(?::batchCreate)?$/;

export async function startRefusingRelay(storeUrl: string): Promise<RefusingRelay> {
  const store = new URL(storeUrl);
  const sockets = new Set<Socket>();
  let refused = 0;
  const relay = {
    refuse: true,
    get refused() {
      return refused;
    },
  } as { refuse: boolean; readonly refused: number };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0]!;
      if (relay.refuse && req.method === 'POST' && OCCURRENCE_WRITE.test(path)) {
        refused += 1;
        const body = JSON.stringify({
          error: {
            code: 400,
            message: 'Invalid value at occurrence.build.in_toto_slsa_provenance_v1',
            status: 'INVALID_ARGUMENT',
          },
        });
        res.writeHead(400, { 'content-type': 'application/json' }).end(body);
        return;
      }
      const upstream = http.request(
        {
          host: store.hostname,
          port: store.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: store.host },
        },
        (answer) => {
          const headers = { ...answer.headers };
          delete headers.connection;
          res.writeHead(answer.statusCode ?? 502, headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => req.socket.destroy());
      upstream.end(Buffer.concat(chunks));
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(relay, {
    url: `http://127.0.0.1:${port}`,
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}
