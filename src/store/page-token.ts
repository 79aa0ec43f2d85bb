import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { invalidArgument } from '../grafeas/status.js';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const POSITION_BYTES = 8;
const TOKEN_BYTES = IV_BYTES + POSITION_BYTES + TAG_BYTES;

/**
 * Page tokens are opaque and tamper-evident (AIP-158): the position after the last row returned,
 * sealed with AES-256-GCM under a key only this store holds, with the list they belong to
 * (collection, parent and filter) as associated data. A client can neither read the store-wide
 * row sequence from a token, nor alter one to skip or revisit rows, nor replay one against a
 * different list. The key lives in memory (tokens then end with the process, which AIP-158
 * allows) or comes from `--page-token-key-file`, shared by replicas behind one address.
 */
export class PageTokens {
  readonly #key: Buffer;

  /** `secret`: key material of at least 32 bytes; undefined: a random key for this process. */
  constructor(secret?: Buffer) {
    this.#key =
      secret === undefined
        ? randomBytes(32)
        : createHash('sha256').update('provenance-proxy page tokens\n').update(secret).digest();
  }

  encode(afterSeq: number, scope: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(scope, 'utf8'));
    const position = Buffer.alloc(POSITION_BYTES);
    position.writeBigUInt64BE(BigInt(afterSeq));
    const sealed = Buffer.concat([cipher.update(position), cipher.final()]);
    return Buffer.concat([iv, sealed, cipher.getAuthTag()]).toString('base64url');
  }

  /** The position a token continues from; 0 for no token. */
  decode(token: string | undefined, scope: string): number {
    if (token === undefined || token === '') return 0;
    const bytes = /^[A-Za-z0-9_-]+$/.test(token) ? Buffer.from(token, 'base64url') : Buffer.alloc(0);
    if (bytes.length !== TOKEN_BYTES) throw invalidArgument('pageToken is not a token this server issued');
    const decipher = createDecipheriv('aes-256-gcm', this.#key, bytes.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(scope, 'utf8'));
    decipher.setAuthTag(bytes.subarray(IV_BYTES + POSITION_BYTES));
    let position: Buffer;
    try {
      position = Buffer.concat([
        decipher.update(bytes.subarray(IV_BYTES, IV_BYTES + POSITION_BYTES)),
        decipher.final(),
      ]);
    } catch {
      // Forged, altered, from another list, or from before a restart: the same answer for all.
      throw invalidArgument(
        'pageToken is not a token this server issued for this list (forged, altered, issued for a different list request, or expired by a restart)',
      );
    }
    const afterSeq = position.readBigUInt64BE();
    if (afterSeq > BigInt(Number.MAX_SAFE_INTEGER)) throw invalidArgument('pageToken is out of range');
    return Number(afterSeq);
  }
}

/** Minimum key material in `--page-token-key-file`. */
export const MIN_PAGE_TOKEN_KEY_BYTES = 32;
