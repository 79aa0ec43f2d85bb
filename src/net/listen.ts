import type { AddressInfo, Server } from 'node:net';

/**
 * Binds a server and resolves with the address it got (port 0 picks one). A bind failure
 * (EADDRINUSE, EACCES) rejects here instead of reaching the server's 'error' listeners later,
 * and the one-shot listener is removed either way so a later error is not taken for this one.
 */
export function listenOn(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
