import { createHash } from 'node:crypto';
import type { DsseEnvelope } from '../signing/envelope.js';

/** cosign's legacy layout: `sha256-<hex>.att` in the image's repository, one DSSE envelope per layer. */
export const DSSE_ENVELOPE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';
export const OCI_MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const COSIGN_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
const OCI_CONFIG_MEDIA_TYPE = 'application/vnd.oci.image.config.v1+json';

export interface Blob {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly bytes: Buffer;
}

interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** The tag cosign looks under for attestations of `digest` (`sha256:abc` → `sha256-abc.att`). */
export function attestationTag(digest: string): string {
  return `${digest.replace(':', '-')}.att`;
}

/**
 * The envelope as the layer cosign reads: its JSON, payload in standard base64 as signed. The
 * members are written in a fixed order, not the input object's: a report read back from the
 * outbox after a restart comes out of the journal's canonical JSON with its keys sorted, and the
 * same envelope must give the same layer digest or a re-delivery would add a second layer.
 */
export function envelopeLayer(envelope: DsseEnvelope): Blob {
  const bytes = Buffer.from(
    JSON.stringify({
      payloadType: envelope.payloadType,
      payload: envelope.payload,
      signatures: envelope.signatures.map((signature) => ({ keyid: signature.keyid, sig: signature.sig })),
    }),
  );
  return { mediaType: DSSE_ENVELOPE_MEDIA_TYPE, digest: sha256(bytes), size: bytes.length, bytes };
}

export interface AttestationImage {
  /** The layer was already in the existing manifest: nothing to push. */
  readonly present: boolean;
  readonly config: Blob;
  readonly manifest: Buffer;
  readonly manifestDigest: string;
}

/**
 * The `.att` manifest with `layer` added to what the tag already holds (other attestations, e.g.
 * cosign's, are kept). Re-attaching the same envelope finds its layer and changes nothing.
 */
export function attestationImage(
  existing: Buffer | null,
  layer: Blob,
  predicateType: string,
): AttestationImage {
  const layers: Descriptor[] = existing === null ? [] : layersOf(existing);
  const present = layers.some((descriptor) => descriptor.digest === layer.digest);
  if (!present)
    layers.push({
      mediaType: layer.mediaType,
      digest: layer.digest,
      size: layer.size,
      // cosign reads an attestation layer only with its signature annotation present (empty:
      // the signature is inside the DSSE envelope).
      annotations: { [COSIGN_SIGNATURE_ANNOTATION]: '', predicateType },
    });
  // As cosign writes it: an image config whose rootfs lists the layers (never run, but well-formed).
  const configBytes = Buffer.from(
    JSON.stringify({
      architecture: '',
      os: '',
      config: {},
      rootfs: { type: 'layers', diff_ids: layers.map((descriptor) => descriptor.digest) },
    }),
  );
  const config: Blob = {
    mediaType: OCI_CONFIG_MEDIA_TYPE,
    digest: sha256(configBytes),
    size: configBytes.length,
    bytes: configBytes,
  };
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST_MEDIA_TYPE,
      config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
      layers,
    }),
  );
  return { present, config, manifest, manifestDigest: sha256(manifest) };
}

function layersOf(manifest: Buffer): Descriptor[] {
  try {
    const parsed = JSON.parse(manifest.toString('utf8')) as { layers?: unknown };
    if (!Array.isArray(parsed.layers)) return [];
    return parsed.layers.filter(
      (layer): layer is Descriptor =>
        typeof layer === 'object' &&
        layer !== null &&
        typeof (layer as Descriptor).digest === 'string' &&
        typeof (layer as Descriptor).mediaType === 'string' &&
        typeof (layer as Descriptor).size === 'number',
    );
  } catch {
    // Whatever the tag held is not a manifest we can extend: replaced by ours alone.
    return [];
  }
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}
