/**
 * Pieces of the push benchmark (bench/push.ts) that are not the measurement itself: an OCI
 * layout holding one image with one large layer, written as a stream, and the check that a
 * registry really received (not mounted, not skipped) that layer.
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { type Descriptor, MEDIA_TYPES } from '../test/support/manifest-types.js';
import { OciLayoutWriter } from '../test/support/oci-layout.js';
import { REGISTRY_HOSTNAME } from '../test/support/pki.js';
import type { RunningRegistry } from '../test/support/registry.js';
import { observedBlobs } from '../test/support/registry-log.js';

const MiB = 1024 * 1024;
const TAR_BLOCK = 512;
/** ustar's 11 octal digits of size. */
const MAX_TAR_FILE_BYTES = 8 ** 11 - 1;

/** The benchmark cannot run as configured (bad option, missing hosts entry). */
export class BenchSetupError extends Error {
  readonly code = 'ERR_BENCH_SETUP';
}

/** A run that should have uploaded the layer did not (mounted, skipped, or stored something else). */
export class BlobNotUploadedError extends Error {
  readonly code = 'ERR_BENCH_BLOB_NOT_UPLOADED';
}

export interface LargeImage {
  /** `oci:<dir>:<tag>` for skopeo. */
  reference: string;
  layer: Descriptor;
  manifest: Descriptor;
  /** Layer + config + manifest: what a push of this image sends to an empty registry. */
  pushBytes: number;
}

/**
 * Writes an OCI layout with one image whose single layer is a gzip'd tar of one file of
 * `contentBytes` incompressible bytes. The layer must really be gzip: containers/image
 * sniffs the stream and would compress an uncompressed layer on the way to a docker://
 * destination, which would measure gzip instead of the push. Deflate level 0 (stored blocks)
 * makes it valid gzip without spending minutes compressing what cannot shrink.
 */
export async function writeLargeImageLayout(
  dir: string,
  contentBytes: number,
  tag: string,
): Promise<LargeImage> {
  if (!Number.isSafeInteger(contentBytes) || contentBytes <= 0 || contentBytes > MAX_TAR_FILE_BYTES) {
    throw new BenchSetupError(`layer content must be 1 to ${MAX_TAR_FILE_BYTES} bytes, not ${contentBytes}`);
  }
  const layout = new OciLayoutWriter(dir);
  const blobDir = join(dir, 'blobs', 'sha256');
  await mkdir(blobDir, { recursive: true });
  const partial = join(blobDir, 'layer.partial');
  const tarDigest = new DigestCounter();
  const blobDigest = new DigestCounter();
  await pipeline(
    Readable.from(tarOfOneRandomFile('var/lib/bench/payload.bin', contentBytes)),
    tarDigest,
    createGzip({ level: 0 }),
    blobDigest,
    createWriteStream(partial),
  );
  await rename(partial, join(blobDir, blobDigest.hex()));
  const layer: Descriptor = {
    mediaType: MEDIA_TYPES.layerGzip,
    digest: `sha256:${blobDigest.hex()}`,
    size: blobDigest.bytes,
  };
  const config = await layout.addJson(
    {
      architecture: 'amd64',
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: [`sha256:${tarDigest.hex()}`] },
      history: [{ created: '1970-01-01T00:00:00Z', created_by: 'provenance-proxy push benchmark' }],
    },
    MEDIA_TYPES.ociConfig,
  );
  const manifest = await layout.addJson(
    { schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config, layers: [layer] },
    MEDIA_TYPES.ociManifest,
  );
  layout.tag(manifest, tag);
  await layout.finish();
  return {
    reference: `oci:${dir}:${tag}`,
    layer,
    manifest,
    pushBytes: layer.size + config.size + manifest.size,
  };
}

/**
 * Proves the registry received `layer` by upload in this run: the blob's data file holds
 * exactly its size, the repository links it, and the registry's own log shows an upload
 * committed with its digest (201) and neither a mount nor a HEAD that found it present.
 */
export async function assertBlobUploaded(
  registry: RunningRegistry,
  repository: string,
  layer: Descriptor,
): Promise<void> {
  const hex = layer.digest.replace(/^sha256:/, '');
  const v2 = join(registry.storageDir, 'docker/registry/v2');
  const data = await stat(join(v2, 'blobs/sha256', hex.slice(0, 2), hex, 'data')).catch(() => undefined);
  if (data?.size !== layer.size) {
    throw new BlobNotUploadedError(
      `${registry.host} stores ${data === undefined ? 'no' : `${data.size} bytes of`} ${layer.digest}, expected ${layer.size} bytes`,
    );
  }
  const link = await stat(join(v2, 'repositories', repository, '_layers/sha256', hex, 'link')).catch(
    () => undefined,
  );
  if (link === undefined)
    throw new BlobNotUploadedError(`${registry.host}/${repository} does not link ${layer.digest}`);
  const seen = observedBlobs(await registry.requestLog())
    .dispositions.get(repository)
    ?.get(layer.digest);
  if (seen === undefined || !seen.has('uploaded') || seen.size !== 1) {
    throw new BlobNotUploadedError(
      `${registry.host}/${repository} logged ${layer.digest} as ${seen === undefined ? 'nothing' : [...seen].join(', ')}, not as uploaded alone`,
    );
  }
}

/** Go clients never use a proxy for loopback names, so the registry needs a real hostname. */
export async function assertRegistryHostname(): Promise<void> {
  const resolved = await lookup(REGISTRY_HOSTNAME).catch(() => undefined);
  if (resolved?.address !== '127.0.0.1') {
    throw new BenchSetupError(
      `${REGISTRY_HOSTNAME} must resolve to 127.0.0.1: run scripts/install-test-deps.sh (as root) first`,
    );
  }
}

/** sha256 and byte count of what flows through, passed on unchanged. */
class DigestCounter extends Transform {
  bytes = 0;
  private readonly hash = createHash('sha256');
  private digestHex: string | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.digestHex = this.hash.digest('hex');
    done();
  }

  hex(): string {
    if (this.digestHex === undefined) throw new Error('digest read before the stream ended');
    return this.digestHex;
  }
}

/** A ustar archive of one regular file whose content is an AES-CTR keystream under a random key. */
function* tarOfOneRandomFile(path: string, size: number): Generator<Buffer> {
  yield ustarHeader(path, size);
  const cipher = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16));
  const zeros = Buffer.alloc(MiB);
  for (let left = size; left > 0; left -= MiB) {
    yield cipher.update(left >= MiB ? zeros : zeros.subarray(0, left));
  }
  yield Buffer.alloc(((TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK) + 2 * TAR_BLOCK);
}

/** Header of a regular file with fixed metadata (mode 0644, uid/gid 0, mtime 0). */
function ustarHeader(path: string, size: number): Buffer {
  const block = Buffer.alloc(TAR_BLOCK);
  if (Buffer.byteLength(path) > 100) throw new BenchSetupError(`tar path longer than 100 bytes: ${path}`);
  block.write(path, 0);
  const octal = (offset: number, length: number, value: number) =>
    block.write(`${value.toString(8).padStart(length - 1, '0')}\u0000`, offset, length, 'latin1');
  octal(100, 8, 0o644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, size);
  octal(136, 12, 0);
  block.fill(' ', 148, 156); // the checksum is summed with its own field as spaces
  block.write('0', 156);
  block.write('ustar\u000000', 257, 'latin1');
  let sum = 0;
  for (const byte of block) sum += byte;
  octal(148, 7, sum);
  block[155] = 0x20;
  return block;
}
