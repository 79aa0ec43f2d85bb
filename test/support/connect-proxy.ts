import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';

export interface RunningConnectProxy {
  /** http://127.0.0.1:<port> */
  url: string;
  /** Authorities (host:port) clients opened tunnels to, in order. */
  tunnels: string[];
  close(): Promise<void>;
}

/**
 * A plain forward proxy that only tunnels (CONNECT) and never looks inside: TLS stays between
 * client and registry. Lets the harness prove each client really goes through HTTPS_PROXY with
 * its trust settings, independently of the proxy under test.
 */
export async function startConnectProxy(): Promise<RunningConnectProxy> {
  const tunnels: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((_req, res) => {
    res.writeHead(405, { 'content-type': 'text/plain' }).end('CONNECT only\n');
  });
  server.on('connect', (req, client: Socket, head: Buffer) => {
    const authority = req.url ?? '';
    const colon = authority.lastIndexOf(':');
    const host = authority.slice(0, colon);
    const port = Number(authority.slice(colon + 1));
    tunnels.push(authority);
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    const upstream = connect(port, host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.once('close', () => sockets.delete(upstream));
    upstream.once('error', () => client.destroy());
    client.once('error', () => upstream.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    tunnels,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
