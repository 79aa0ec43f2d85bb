import { ProvenanceProxyError } from '../errors.js';
import { decodeBase64Strict } from './base64.js';
import type { DsseEnvelope, DsseSignature } from './envelope.js';
import { preAuthEncoding } from './pae.js';
import { parsePublicKeyPem, type VerificationKey } from './public-key.js';
import { verifyRaw } from './raw-signature.js';

/** The envelope is not a DSSE envelope (missing or mistyped fields, bad base64). */
export class EnvelopeFormatError extends ProvenanceProxyError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_DSSE_MALFORMED', message, options);
  }
}

/**
 * Builds a DSSE envelope around the exact payload bytes. `signPae` receives the PAE bytes and returns
 * the raw signature; the private key stays with whoever provides it.
 */
export async function signDsse(
  payloadType: string,
  payload: Uint8Array,
  keyid: string,
  signPae: (pae: Buffer) => Promise<Buffer>,
): Promise<DsseEnvelope> {
  const signature = await signPae(preAuthEncoding(payloadType, payload));
  return {
    payloadType,
    payload: Buffer.from(payload).toString('base64'),
    signatures: [{ keyid, sig: signature.toString('base64') }],
  };
}

/** Checks that a parsed JSON value has the DSSE envelope shape. Unknown extra fields are ignored. */
export function parseEnvelope(value: unknown): DsseEnvelope {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new EnvelopeFormatError('envelope is not a JSON object');
  }
  const record = value as Record<string, unknown>;
  if (typeof record.payloadType !== 'string' || record.payloadType === '') {
    throw new EnvelopeFormatError('envelope has no payloadType');
  }
  if (typeof record.payload !== 'string') throw new EnvelopeFormatError('envelope has no payload');
  if (!Array.isArray(record.signatures)) throw new EnvelopeFormatError('envelope has no signatures array');
  const signatures: DsseSignature[] = record.signatures.map((entry: unknown, index) => {
    if (typeof entry !== 'object' || entry === null) {
      throw new EnvelopeFormatError(`signatures[${index}] is not an object`);
    }
    const { keyid, sig } = entry as Record<string, unknown>;
    if (typeof sig !== 'string' || sig === '')
      throw new EnvelopeFormatError(`signatures[${index}] has no sig`);
    if (keyid !== undefined && typeof keyid !== 'string') {
      throw new EnvelopeFormatError(`signatures[${index}].keyid is not a string`);
    }
    return { keyid: keyid ?? '', sig };
  });
  return { payloadType: record.payloadType, payload: record.payload, signatures };
}

/** The exact payload bytes the envelope carries: what was signed, and the only thing to parse. */
export function decodeEnvelopePayload(envelope: DsseEnvelope): Buffer {
  return decodeBase64Strict(envelope.payload, 'payload');
}

export type DsseFailureReason = 'malformed_envelope' | 'no_signatures' | 'no_matching_key';

export interface DsseVerified {
  readonly ok: true;
  readonly payloadType: string;
  /** The bytes decoded from the envelope, exactly as signed. */
  readonly payload: Buffer;
  /** The keyid the matching signature carried (a hint, not authenticated; may be empty). */
  readonly keyid: string;
  /** The trusted key that verified it. */
  readonly key: VerificationKey;
  readonly signatureIndex: number;
}

export interface DsseRejected {
  readonly ok: false;
  readonly reason: DsseFailureReason;
  readonly message: string;
}

export type DsseVerification = DsseVerified | DsseRejected;

/**
 * Verifies a DSSE envelope against trusted public keys: some signature must verify, over PAE of the
 * payload bytes decoded from the envelope, with one of the keys.
 *
 * Every signature is tried with every key. keyids are unauthenticated hints, and matching on them
 * would only turn a key rotation or a differently computed fingerprint into a false refusal.
 * The payload is never re-serialised: JSON that round-trips through a parser rarely has the same bytes.
 */
export function verifyEnvelope(
  envelope: unknown,
  trustedKeys: readonly (VerificationKey | string)[],
): DsseVerification {
  const keys = trustedKeys.map((key, index) =>
    typeof key === 'string' ? parsePublicKeyPem(key, `public key #${index + 1}`) : key,
  );
  let parsed: DsseEnvelope;
  let payload: Buffer;
  let signatures: Buffer[];
  try {
    parsed = parseEnvelope(envelope);
    payload = decodeEnvelopePayload(parsed);
    signatures = parsed.signatures.map((entry, index) =>
      decodeBase64Strict(entry.sig, `signatures[${index}].sig`),
    );
  } catch (error) {
    return { ok: false, reason: 'malformed_envelope', message: (error as Error).message };
  }
  if (signatures.length === 0)
    return { ok: false, reason: 'no_signatures', message: 'envelope has no signatures' };
  const pae = preAuthEncoding(parsed.payloadType, payload);
  for (const [index, signature] of signatures.entries()) {
    for (const key of keys) {
      if (verifyRaw(key.algorithm, key.keyObject, pae, signature)) {
        return {
          ok: true,
          payloadType: parsed.payloadType,
          payload,
          keyid: parsed.signatures[index]?.keyid ?? '',
          key,
          signatureIndex: index,
        };
      }
    }
  }
  const tried = keys.map((key) => key.fingerprint).join(', ') || 'none';
  return {
    ok: false,
    reason: 'no_matching_key',
    message: `no signature (of ${signatures.length}) verifies with the given public keys (${tried})`,
  };
}
