/** Largest ClientHello we wait for before deciding without SNI (one TLS record is ≤ 16 KiB + header). */
export const CLIENT_HELLO_MAX_BYTES = 16_384 + 5;

/**
 * The server_name of a TLS ClientHello, read without consuming anything (the bytes are
 * replayed to the real TLS server afterwards). 'incomplete' asks for more bytes; null means
 * a complete hello without a host_name (or not a parsable hello: the TLS server will say why).
 * Only the first record is read: a hello split across records gets null, and the leaf then
 * names the original destination's IP, which a client expecting a name will refuse.
 */
export function clientHelloServerName(bytes: Buffer): string | null | 'incomplete' {
  if (bytes.length < 5) return 'incomplete';
  if (bytes[0] !== 0x16) return null;
  const recordEnd = 5 + bytes.readUInt16BE(3);
  if (bytes.length < recordEnd) return recordEnd > CLIENT_HELLO_MAX_BYTES ? null : 'incomplete';
  const hello = bytes.subarray(5, recordEnd);
  try {
    if (hello[0] !== 0x01) return null;
    let at = 4 + 2 + 32; // handshake header, client_version, random
    at += 1 + hello[at]!; // session_id
    at += 2 + hello.readUInt16BE(at); // cipher_suites
    at += 1 + hello[at]!; // compression_methods
    const extensionsEnd = at + 2 + hello.readUInt16BE(at);
    at += 2;
    while (at + 4 <= extensionsEnd && at + 4 <= hello.length) {
      const type = hello.readUInt16BE(at);
      const length = hello.readUInt16BE(at + 2);
      at += 4;
      if (type === 0x0000) return firstHostName(hello.subarray(at, at + length));
      at += length;
    }
    return null;
  } catch {
    return null; // a read past the end: truncated inside the record
  }
}

function firstHostName(list: Buffer): string | null {
  let at = 2;
  while (at + 3 <= list.length) {
    const type = list[at]!;
    const length = list.readUInt16BE(at + 1);
    at += 3;
    if (type === 0 && at + length <= list.length) {
      const name = list
        .subarray(at, at + length)
        .toString('latin1')
        .toLowerCase();
      return /^[a-z0-9._-]{1,253}$/.test(name) ? name : null;
    }
    at += length;
  }
  return null;
}
