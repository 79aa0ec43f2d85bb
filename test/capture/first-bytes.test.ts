import t from 'tap';
import { decodeSockaddr } from '../../src/net/original-destination.js';
import { clientHelloServerName } from '../../src/tls/client-hello-sni.js';
import { captureClientHello } from '../support/client-hello.js';

t.test('the SNI name of a real ClientHello, read without consuming', async (t) => {
  const hello = await captureClientHello('Registry.Test');
  const copy = Buffer.from(hello);
  t.equal(clientHelloServerName(hello), 'registry.test');
  t.same(hello, copy, 'the bytes are untouched (they are replayed to the TLS server)');
});

t.test(
  'hostile first bytes: every truncation asks for more, every mutation is answered, none throws',
  async (t) => {
    const hello = await captureClientHello('registry.test');
    for (let cut = 0; cut < hello.length; cut++)
      t.equal(clientHelloServerName(hello.subarray(0, cut)), 'incomplete');
    let answered = 0;
    for (let i = 5; i < hello.length; i++) {
      for (const value of [0x00, 0xff]) {
        const mutated = Buffer.from(hello);
        mutated[i] = value;
        const name = clientHelloServerName(mutated);
        if (name === null || name === 'incomplete' || /^[a-z0-9._-]+$/.test(name)) answered++;
      }
    }
    t.equal(answered, 2 * (hello.length - 5), 'a name that is a host name, null, or incomplete');
    // A record header announcing more than one record can hold: decided (null), never buffered forever.
    t.equal(clientHelloServerName(Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff])), null);
    t.equal(clientHelloServerName(Buffer.from('GET / HTTP/1.1\r\n')), null);
  },
);

t.test('sockaddr_in and sockaddr_in6 as getsockopt writes them', async (t) => {
  const v4 = Buffer.alloc(16);
  v4.writeUInt16LE(2, 0);
  v4.writeUInt16BE(443, 2);
  Buffer.from([192, 0, 2, 10]).copy(v4, 4);
  t.same(decodeSockaddr(v4), { address: '192.0.2.10', port: 443, family: 4 });
  const v6 = Buffer.alloc(28);
  v6.writeUInt16LE(10, 0);
  v6.writeUInt16BE(5443, 2);
  Buffer.from('20010db8000000000000000000000010', 'hex').copy(v6, 8);
  t.same(decodeSockaddr(v6), { address: '2001:db8::10', port: 5443, family: 6 });
  t.equal(decodeSockaddr(Buffer.alloc(4)), null);
  t.equal(decodeSockaddr(Buffer.alloc(16)), null, 'unknown family');
});
