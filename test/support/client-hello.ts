import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';

/**
 * The first TLS record a real client (Node's OpenSSL) sends for `servername`: a complete
 * ClientHello, captured from a loopback socket that never answers. Tests dribble it, cut it
 * or mutate it to attack a TLS server's handshake.
 */
export async function captureClientHello(servername: string): Promise<Buffer> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const client = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false });
  client.on('error', () => {});
  try {
    const [socket] = (await once(server, 'connection')) as [net.Socket];
    const chunks: Buffer[] = [];
    for await (const chunk of socket) {
      chunks.push(chunk as Buffer);
      const bytes = Buffer.concat(chunks);
      // Record header: type (1), version (2), length (2).
      if (bytes.length >= 5 && bytes.length >= 5 + bytes.readUInt16BE(3)) {
        socket.destroy();
        return bytes.subarray(0, 5 + bytes.readUInt16BE(3));
      }
    }
    throw new Error('the TLS client closed before its ClientHello was complete');
  } finally {
    client.destroy();
    server.close();
  }
}
