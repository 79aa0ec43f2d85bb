// The kernel names the owner of a local TCP socket by its four-tuple (sock_diag): the
// transparent listener's test for "this redirected connection is the proxy's own".
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import t from 'tap';
import { tcpSocketOwner } from '../../src/net/peer-owner.js';

for (const host of ['127.0.0.1', '::1']) {
  t.test(
    `a connection on ${host}: both ends are this process's UID; other tuples are nobody's`,
    async (t) => {
      const server = net.createServer();
      server.listen(0, host);
      await once(server, 'listening');
      t.teardown(() => server.close());
      const accepted = once(server, 'connection') as Promise<[net.Socket]>;
      const client = net.connect({ host, port: (server.address() as AddressInfo).port });
      t.teardown(() => client.destroy());
      await once(client, 'connect');
      const [socket] = await accepted;
      t.teardown(() => socket.destroy());
      const clientEnd = { address: client.localAddress!, port: client.localPort! };
      const serverEnd = { address: socket.localAddress!, port: socket.localPort! };
      t.equal(tcpSocketOwner(clientEnd, serverEnd), process.getuid!(), 'the client socket');
      t.equal(tcpSocketOwner(serverEnd, clientEnd), process.getuid!(), 'the accepted socket');
      t.equal(
        tcpSocketOwner({ ...clientEnd, port: clientEnd.port === 1 ? 2 : 1 }, serverEnd),
        null,
        'no socket',
      );
      t.equal(tcpSocketOwner(clientEnd, { address: '192.0.2.1', port: 443 }), null, 'mixed or unknown tuple');
      t.equal(tcpSocketOwner({ address: 'not-an-ip', port: 1 }, serverEnd), null, 'not an address');
    },
  );
}
