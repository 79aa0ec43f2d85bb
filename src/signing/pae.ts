/**
 * DSSE pre-authentication encoding, the exact bytes a DSSE signature covers:
 * `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths as ASCII decimal byte counts.
 * https://github.com/secure-systems-lab/dsse/blob/master/protocol.md
 *
 * Binding the payload type into the signed bytes is what stops a signature made for one kind of
 * document being replayed as another, so the type is encoded as UTF-8 and counted in bytes, not
 * characters.
 */
export function preAuthEncoding(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  const header = Buffer.from(`DSSEv1 ${type.length} `, 'ascii');
  const middle = Buffer.from(` ${payload.length} `, 'ascii');
  return Buffer.concat([header, type, middle, payload]);
}
