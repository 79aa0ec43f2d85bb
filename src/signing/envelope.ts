/** DSSE envelope, https://github.com/secure-systems-lab/dsse/blob/master/envelope.md */
export interface DsseSignature {
  keyid: string;
  /** base64 (standard) of the raw signature bytes. */
  sig: string;
}

export interface DsseEnvelope {
  payloadType: string;
  /** base64 (standard) of the exact payload bytes that were signed. */
  payload: string;
  signatures: DsseSignature[];
}

/** Signs DSSE payloads. Implementations hold the private key; nothing else ever sees it. */
export interface Signer {
  readonly keyid: string;
  /** `ecdsa-p256` or `ed25519`. */
  readonly algorithm: 'ecdsa-p256' | 'ed25519';
  /** SPKI PEM of the public key, safe to publish. */
  readonly publicKeyPem: string;
  /** true when the key was generated in this process (it proves nothing beyond the pod). */
  readonly ephemeral: boolean;
  sign(payloadType: string, payload: Buffer): Promise<DsseEnvelope>;
}
