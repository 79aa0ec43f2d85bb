import { createCipheriv, createHash } from 'node:crypto';
import type { Descriptor } from './manifest-types.js';
import { OciLayoutWriter } from './oci-layout.js';

/** Names (OCI layout ref names) of the fixture images, for `oci:<dir>:<name>`. */
export const FIXTURE = {
  /** One small layer. */
  single: 'single',
  /** Three layers, one of them 2 MiB of incompressible bytes (one large PATCH). */
  multi: 'multi',
  /** An index of two images (linux/amd64, linux/arm64) that share a layer. */
  index: 'index',
  /** An OCI 1.1 artifact whose `subject` is `single`. */
  artifact: 'artifact',
  /** One 8 MiB incompressible layer: long enough to kill a client in the middle of its upload. */
  large: 'large',
} as const;

export const ARTIFACT_TYPE = 'application/vnd.interop.note.v1+json';

export interface FixtureLayout {
  /** The OCI layout directory. */
  dir: string;
  /** `oci:<dir>:<name>` for skopeo. */
  ref(name: (typeof FIXTURE)[keyof typeof FIXTURE]): string;
  /** Manifest descriptors as written (digests are of the exact bytes in the layout). */
  manifests: Record<(typeof FIXTURE)[keyof typeof FIXTURE], Descriptor>;
}

/**
 * Builds the fixture images into an OCI layout at test time. Content is deterministic
 * (fixed file bytes, tar metadata and gzip settings), so digests repeat across runs —
 * but tests never hard-code them: they read the ground truth from the registry.
 */
export async function buildFixtureLayout(dir: string): Promise<FixtureLayout> {
  const layout = new OciLayoutWriter(dir);
  const single = await layout.addImage({
    layers: [[{ path: 'etc/interop/single.txt', content: 'provenance-proxy interop: single\n' }]],
    config: { Cmd: ['/bin/true'] },
  });
  const multi = await layout.addImage({
    layers: [
      [{ path: 'etc/interop/one.txt', content: 'layer one\n' }],
      [{ path: 'var/lib/interop/blob.bin', content: deterministicBytes('multi-2MiB', 2 * 1024 * 1024) }],
      [{ path: 'etc/interop/three.txt', content: 'layer three\n' }],
    ],
  });
  const shared = [{ path: 'etc/interop/shared.txt', content: 'shared by both platforms\n' }];
  const amd64 = await layout.addImage({
    layers: [shared, [{ path: 'etc/interop/arch.txt', content: 'amd64\n' }]],
    platform: { architecture: 'amd64', os: 'linux' },
  });
  const arm64 = await layout.addImage({
    layers: [shared, [{ path: 'etc/interop/arch.txt', content: 'arm64\n' }]],
    platform: { architecture: 'arm64', os: 'linux', variant: 'v8' },
  });
  const index = await layout.addIndex([amd64, arm64]);
  const artifact = await layout.addArtifact(
    ARTIFACT_TYPE,
    Buffer.from('{"note":"reviewed by the interop suite"}\n'),
    ARTIFACT_TYPE,
    single,
  );
  const large = await layout.addImage({
    layers: [
      [{ path: 'var/lib/interop/large.bin', content: deterministicBytes('large-8MiB', 8 * 1024 * 1024) }],
    ],
  });
  const manifests = { single, multi, index, artifact, large };
  for (const [name, descriptor] of Object.entries(manifests)) layout.tag(descriptor, name);
  await layout.finish();
  return { dir, ref: (name) => `oci:${dir}:${name}`, manifests };
}

/** A layout holding exactly one image (crane push reads a whole layout as one image). */
export async function buildSingleImageLayout(dir: string, label: string): Promise<Descriptor> {
  const layout = new OciLayoutWriter(dir);
  const image = await layout.addImage({
    layers: [
      [{ path: `etc/interop/${label}.txt`, content: `provenance-proxy interop: ${label}\n` }],
      [{ path: `var/lib/interop/${label}.bin`, content: deterministicBytes(label, 256 * 1024) }],
    ],
  });
  layout.tag(image, label);
  await layout.finish();
  return image;
}

/**
 * `length` bytes that look random (gzip cannot shrink them) but are the same for the same
 * label: AES-128-CTR keystream under a key derived from the label.
 */
export function deterministicBytes(label: string, length: number): Buffer {
  const seed = createHash('sha256').update(label).digest();
  const cipher = createCipheriv('aes-128-ctr', seed.subarray(0, 16), seed.subarray(16, 32));
  return Buffer.concat([cipher.update(Buffer.alloc(length)), cipher.final()]);
}
