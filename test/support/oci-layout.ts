import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type Descriptor, MEDIA_TYPES, type Platform } from './manifest-types.js';
import { type TarFile, tarArchive } from './tar.js';

const REF_NAME = 'org.opencontainers.image.ref.name';

/** One image to write: its layers (each a list of files) and its platform. */
export interface ImageSpec {
  layers: TarFile[][];
  platform?: Platform;
  /** Extra config fields (Cmd, Labels…) under `config`. */
  config?: Record<string, unknown>;
}

/**
 * Writes an OCI image layout (image-spec `image-layout.md`) byte for byte: the same inputs
 * always give the same blobs and digests. Used as the source of `skopeo copy oci:DIR:TAG`.
 */
export class OciLayoutWriter {
  readonly dir: string;
  private readonly tagged: Descriptor[] = [];

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Stores a blob and returns its descriptor. */
  async addBlob(bytes: Buffer, mediaType: string): Promise<Descriptor> {
    const hex = createHash('sha256').update(bytes).digest('hex');
    const blobDir = join(this.dir, 'blobs', 'sha256');
    await mkdir(blobDir, { recursive: true });
    await writeFile(join(blobDir, hex), bytes);
    return { mediaType, digest: `sha256:${hex}`, size: bytes.length };
  }

  /** Stores a JSON document exactly as serialised here (the digest is of these bytes). */
  addJson(document: unknown, mediaType: string): Promise<Descriptor> {
    return this.addBlob(Buffer.from(JSON.stringify(document)), mediaType);
  }

  /** A gzip'd tar layer; gzip's header carries no timestamp or name, so output is deterministic. */
  async addLayer(files: TarFile[]): Promise<{ descriptor: Descriptor; diffId: string }> {
    const tar = tarArchive(files);
    const diffId = `sha256:${createHash('sha256').update(tar).digest('hex')}`;
    const descriptor = await this.addBlob(gzipSync(tar, { level: 6 }), MEDIA_TYPES.layerGzip);
    return { descriptor, diffId };
  }

  /** An image: layers, a config naming their diff IDs, and the manifest. */
  async addImage(spec: ImageSpec): Promise<Descriptor> {
    const platform = spec.platform ?? { architecture: 'amd64', os: 'linux' };
    const layers = [];
    for (const files of spec.layers) layers.push(await this.addLayer(files));
    const config = await this.addJson(
      {
        architecture: platform.architecture,
        os: platform.os,
        ...(platform.variant === undefined ? {} : { variant: platform.variant }),
        config: spec.config ?? {},
        rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) },
        history: layers.map(() => ({
          created: '1970-01-01T00:00:00Z',
          created_by: 'provenance-proxy interop fixture',
        })),
      },
      MEDIA_TYPES.ociConfig,
    );
    const manifest = await this.addJson(
      {
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociManifest,
        config,
        layers: layers.map((layer) => layer.descriptor),
      },
      MEDIA_TYPES.ociManifest,
    );
    return { ...manifest, platform };
  }

  /** An image index over already written manifests (their descriptors carry the platforms). */
  addIndex(children: Descriptor[]): Promise<Descriptor> {
    return this.addJson(
      { schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: children },
      MEDIA_TYPES.ociIndex,
    );
  }

  /**
   * An OCI 1.1 artifact: empty config, one blob, `artifactType`, and a `subject` pointing at
   * another manifest (what `oras attach` makes).
   */
  async addArtifact(
    artifactType: string,
    content: Buffer,
    contentType: string,
    subject: Descriptor,
  ): Promise<Descriptor> {
    const config = await this.addBlob(Buffer.from('{}'), MEDIA_TYPES.ociEmpty);
    const blob = await this.addBlob(content, contentType);
    const { platform: _ignored, ...subjectDescriptor } = subject;
    return this.addJson(
      {
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociManifest,
        artifactType,
        config,
        layers: [blob],
        subject: subjectDescriptor,
      },
      MEDIA_TYPES.ociManifest,
    );
  }

  /** Names a manifest or index in index.json so `oci:DIR:NAME` finds it. */
  tag(descriptor: Descriptor, name: string): void {
    const { platform: _ignored, ...plain } = descriptor;
    this.tagged.push({ ...plain, annotations: { [REF_NAME]: name } });
  }

  /** Writes `oci-layout` and `index.json`; call once after adding and tagging. */
  async finish(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await writeFile(join(this.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(
      join(this.dir, 'index.json'),
      JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: this.tagged }),
    );
  }
}
