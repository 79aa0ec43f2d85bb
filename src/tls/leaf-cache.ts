import { createSecureContext, type SecureContext } from 'node:tls';
import { LRUCache } from 'lru-cache';
import type { CertificateAuthority } from './certificate-authority.js';

export interface LeafCacheOptions {
  /** Distinct hosts kept at once; a build talks to a handful, a bound keeps a hostile one from growing memory. */
  maxEntries: number;
  /** Re-mint after this long, well before the leaf (valid 24 h) expires. */
  ttlMs: number;
  onLookup?: (result: 'hit' | 'miss') => void;
}

/**
 * Secure contexts per host, minted on first use. Concurrent first requests for
 * one host share a single minting (the cache holds the promise).
 */
export class LeafCache {
  readonly #ca: CertificateAuthority;
  readonly #cache: LRUCache<string, Promise<SecureContext>>;
  readonly #onLookup: (result: 'hit' | 'miss') => void;

  constructor(ca: CertificateAuthority, options: LeafCacheOptions) {
    this.#ca = ca;
    this.#cache = new LRUCache({ max: options.maxEntries, ttl: options.ttlMs });
    this.#onLookup = options.onLookup ?? (() => {});
  }

  contextFor(host: string): Promise<SecureContext> {
    const key = host.toLowerCase();
    const cached = this.#cache.get(key);
    if (cached) {
      this.#onLookup('hit');
      return cached;
    }
    this.#onLookup('miss');
    const minting = this.#ca
      .issueLeaf(key)
      .then((leaf) =>
        createSecureContext({ key: leaf.keyPem, cert: leaf.certChainPem, minVersion: 'TLSv1.2' }),
      );
    this.#cache.set(key, minting);
    // A failed minting must not stay cached as a permanent failure.
    minting.catch(() => {
      if (this.#cache.get(key) === minting) this.#cache.delete(key);
    });
    return minting;
  }

  get size(): number {
    return this.#cache.size;
  }
}
