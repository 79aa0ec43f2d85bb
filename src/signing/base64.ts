import { ProvenanceProxyError } from '../errors.js';

/** A base64 field of an envelope is not base64. */
export class Base64FormatError extends ProvenanceProxyError {
  constructor(field: string) {
    super('ERR_BASE64_INVALID', `${field} is not valid base64`);
  }
}

const BASE64_ALPHABET = /^[A-Za-z0-9+/_-]*={0,2}$/;

/**
 * Decodes base64 as DSSE allows it (standard or URL-safe alphabet, padding optional) and refuses
 * anything else. Buffer.from(..., 'base64') alone silently skips characters outside the alphabet,
 * which would let two different strings decode to the same payload.
 */
export function decodeBase64Strict(text: string, field: string): Buffer {
  const unpadded = text.replace(/=+$/, '');
  if (!BASE64_ALPHABET.test(text) || unpadded.length % 4 === 1) throw new Base64FormatError(field);
  if (text.length !== unpadded.length && text.length % 4 !== 0) throw new Base64FormatError(field);
  return Buffer.from(unpadded.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}
