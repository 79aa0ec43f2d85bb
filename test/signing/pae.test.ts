import t from 'tap';
import { preAuthEncoding } from '../../src/signing/pae.js';

t.test('PAE matches the DSSE specification example', async (t) => {
  // The example from the DSSE protocol document.
  const pae = preAuthEncoding('http://example.com/HelloWorld', Buffer.from('hello world'));
  t.equal(pae.toString('utf8'), 'DSSEv1 29 http://example.com/HelloWorld 11 hello world');
});

t.test('lengths count bytes, not characters', async (t) => {
  const type = 'application/x-ü';
  const body = Buffer.from('€', 'utf8');
  const pae = preAuthEncoding(type, body);
  const typeBytes = Buffer.byteLength(type, 'utf8');
  t.equal(typeBytes, type.length + 1, 'the type has one two-byte character');
  t.same(pae, Buffer.concat([Buffer.from(`DSSEv1 ${typeBytes} ${type} 3 `, 'utf8'), body]));
});

t.test('empty type and body still carry both lengths', async (t) => {
  t.equal(preAuthEncoding('', Buffer.alloc(0)).toString('utf8'), 'DSSEv1 0  0 ');
});

t.test('binary payload bytes pass through untouched', async (t) => {
  const body = Buffer.from([0, 255, 10, 32, 128]);
  const pae = preAuthEncoding('t', body);
  t.same(pae.subarray(pae.length - body.length), body);
  t.equal(pae.subarray(0, pae.length - body.length).toString('ascii'), 'DSSEv1 1 t 5 ');
});
