import { createHash, type Hash } from 'node:crypto';
import { InvalidDigestError } from './errors.js';

/**
 * A content digest, parsed once. `value` is the canonical `algorithm:encoded`
 * string; it is what events, records and statements carry.
 *
 * Grammar (OCI image-spec, descriptor.md):
 *   digest    ::= algorithm ":" encoded
 *   algorithm ::= component (separator component)*   component ::= [a-z0-9]+   separator ::= [+._-]
 *   encoded   ::= [a-zA-Z0-9=_-]+
 * Registered algorithms are held to their exact encoding (lowercase hex of the right length).
 */
export interface Digest {
  readonly algorithm: string;
  readonly encoded: string;
  readonly value: string;
}

/** The algorithm the proxy computes itself. Other algorithms can be parsed but not verified. */
export const VERIFIABLE_ALGORITHM = 'sha256';

const ALGORITHM = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*$/;
const ENCODED = /^[a-zA-Z0-9=_-]+$/;
const REGISTERED_ENCODINGS: Readonly<Record<string, RegExp>> = {
  sha256: /^[a-f0-9]{64}$/,
  sha512: /^[a-f0-9]{128}$/,
};
/** Far above any real digest; stops a hostile path from making us regex-scan megabytes. */
const MAX_DIGEST_LENGTH = 256;

export function parseDigest(text: string): Digest {
  if (text.length > MAX_DIGEST_LENGTH) throw new InvalidDigestError(text, `longer than ${MAX_DIGEST_LENGTH}`);
  const colon = text.indexOf(':');
  if (colon <= 0) throw new InvalidDigestError(text, 'expected algorithm:encoded');
  const algorithm = text.slice(0, colon);
  const encoded = text.slice(colon + 1);
  if (!ALGORITHM.test(algorithm))
    throw new InvalidDigestError(text, 'algorithm must match [a-z0-9]+([+._-][a-z0-9]+)*');
  if (!ENCODED.test(encoded)) throw new InvalidDigestError(text, 'encoded part must match [a-zA-Z0-9=_-]+');
  const registered = REGISTERED_ENCODINGS[algorithm];
  if (registered && !registered.test(encoded)) {
    throw new InvalidDigestError(text, `${algorithm} must be lowercase hex of the registered length`);
  }
  return Object.freeze({ algorithm, encoded, value: `${algorithm}:${encoded}` });
}

/** parseDigest for places where a bad digest is an outcome to record, not an error. */
export function tryParseDigest(text: string | null | undefined): Digest | null {
  if (typeof text !== 'string') return null;
  try {
    return parseDigest(text);
  } catch {
    return null;
  }
}

export function isVerifiable(digest: Digest): boolean {
  return digest.algorithm === VERIFIABLE_ALGORITHM;
}

/** `sha256:<hex>` of some bytes. */
export function sha256Of(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** `sha256:<hex>` of a running hash, without consuming it (the state stays usable by others). */
export function digestOfHash(hash: Hash): string {
  return `sha256:${hash.copy().digest('hex')}`;
}

/** The bare hex of a sha256 digest string, for in-toto DigestSets. */
export function sha256Hex(digest: string): string | null {
  const parsed = tryParseDigest(digest);
  return parsed && parsed.algorithm === 'sha256' ? parsed.encoded : null;
}
